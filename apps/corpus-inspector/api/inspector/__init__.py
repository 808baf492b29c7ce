"""Corpus Inspector's engine: corpus statistics and token counts, served to the app's own UI."""

__version__ = "0.1.0"
