"""Picidae for AI agents: ``picidae mcp`` (the Model Context Protocol server, ``server.py``,
loaded only by that command) over plain, compact tool functions (``tools.py``)."""
