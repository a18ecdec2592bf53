"""The pure domain: ids, the run record, states and the transition table, validation.

Nothing here does I/O or imports anything of Picidae but ``picidae.errors``.
"""
