"""Deterministic generated corpora for the tests: no downloads, same bytes on every run."""

from __future__ import annotations

import random

_SYLLABLES = [
    "ta",
    "ko",
    "ri",
    "men",
    "sol",
    "ar",
    "ith",
    "ven",
    "lo",
    "qua",
    "der",
    "ex",
    "nu",
    "pra",
    "zel",
    "om",
    "ing",
    "tion",
    "st",
    "el",
    "un",
    "re",
    "bi",
    "cha",
    "mo",
    "fer",
]


def vocabulary(n_words: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    words = set()
    while len(words) < n_words:
        words.add("".join(rnd.choice(_SYLLABLES) for _ in range(rnd.randint(1, 4))))
    return sorted(words)


def sentences(n: int, seed: int = 2, n_words: int = 2000) -> list[str]:
    """Zipf-like word choice so merges have something real to learn."""
    rnd = random.Random(seed)
    words = vocabulary(n_words, seed)
    weights = [1.0 / (i + 1) for i in range(len(words))]
    out = []
    for _ in range(n):
        chosen = rnd.choices(words, weights=weights, k=rnd.randint(4, 18))
        sentence = " ".join(chosen).capitalize()
        out.append(sentence + rnd.choice([".", ".", "!", "?", ", indeed."]))
    return out


def text_corpus(n_bytes: int, seed: int = 2) -> bytes:
    """About n_bytes of UTF-8 text, one sentence per line."""
    lines: list[str] = []
    size = 0
    batch = 0
    while size < n_bytes:
        for line in sentences(500, seed + batch):
            lines.append(line)
            size += len(line.encode()) + 1
        batch += 1
    return ("\n".join(lines) + "\n").encode("utf-8")
