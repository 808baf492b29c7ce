"""Tests of the Tokenizer Studio engine (run: python -m pytest from the api folder)."""
