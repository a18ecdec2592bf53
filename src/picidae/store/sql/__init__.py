"""The SQL store: one ``SqlStore`` over SQLAlchemy Core; dialect details in ``sqlite.py``."""
