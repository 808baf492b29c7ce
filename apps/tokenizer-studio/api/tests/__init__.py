"""Tests of the Tokenizer Studio backend (run: python -m pytest from the api folder)."""
