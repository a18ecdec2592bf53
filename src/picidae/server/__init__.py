"""The Picidae server: the HTTP API (``/api/v1``), live events, the watchdog, the web UI."""
