"""Analysis over a store: compare runs, history, export and import, retention, lineage.

Sits between the stores and their users: it speaks only the ``Store`` protocol (plus the
server-side shortcuts a ``HttpStore`` offers), so the SDK, the CLI and the server's routes
share it — it never imports ``sdk`` or ``server``.
"""
