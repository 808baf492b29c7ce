"""Tokenizer Studio engine: the FastAPI app launched by the desktop shell as `python -I -m app`."""

__version__ = "0.1.0"
