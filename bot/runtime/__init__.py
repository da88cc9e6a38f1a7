"""Running Clarion.

Wiring from settings (database, vault, platforms) and the built-in rehearsal.
"""
