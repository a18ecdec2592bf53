"""Storage: the ``Store`` protocol and its backends, picked by URL (see ``registry``)."""
