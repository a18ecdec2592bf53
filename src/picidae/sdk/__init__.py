"""The Python SDK: ``init``/``Run`` for writing, ``RunView`` for reading."""
