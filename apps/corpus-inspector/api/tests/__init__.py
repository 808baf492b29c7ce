"""Tests of the Corpus Inspector engine (run: python -m pytest from the api folder)."""
