"""Tests of the shared engine packages (run: python -m pytest from the enginekit folder)."""
