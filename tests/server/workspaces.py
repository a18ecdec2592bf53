"""Two workspaces on one server, for the tests of what one workspace may reach of another."""

from __future__ import annotations

#: The tokens of the ``two_workspaces`` fixture: A and B, each with a write and a read token.
TOKENS = {"a": "tok-a-write", "a_read": "tok-a-read", "b": "tok-b-write", "b_read": "tok-b-read"}
