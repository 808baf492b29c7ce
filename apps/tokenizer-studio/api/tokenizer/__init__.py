"""Tokenizer training core over Hugging Face `tokenizers`: pure functions, no web types."""

from tokenizer.train import (
    PHASE_READING,
    PHASE_TRAINING,
    TrainingCancelled,
    build_tokenizer,
    encode,
    train,
)

__all__ = [
    "PHASE_READING",
    "PHASE_TRAINING",
    "TrainingCancelled",
    "build_tokenizer",
    "encode",
    "train",
]
