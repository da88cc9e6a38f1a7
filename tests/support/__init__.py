"""Helpers shared by test folders (imported, never collected)."""
