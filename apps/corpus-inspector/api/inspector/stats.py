"""The statistics of an inspection, gathered one document at a time.

Words are what whitespace separates, as written (no case folding, punctuation kept), so any
reader can check a count by hand. Document lengths are in characters (Unicode code points).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

TOP = 20
HISTOGRAM_BUCKETS = 10


class TextStats:
    """Counts documents, lines, characters and words. A blank record is not a document; in a
    .txt file (`every_line_counts`) its line is still one of the file's lines."""

    def __init__(self, every_line_counts: bool = False) -> None:
        self.every_line_counts = every_line_counts
        self.documents = 0
        self.empty_records = 0
        self.lines = 0
        self.characters = 0
        self.words = 0
        self.word_counts: Counter[str] = Counter()
        self.lengths = array("q")

    def add(self, text: str) -> None:
        if not text.strip():
            self.empty_records += 1
            if self.every_line_counts:
                self.lines += 1
            return
        self.documents += 1
        self.lines += text.rstrip("\r\n").count("\n") + 1
        self.characters += len(text)
        words = text.split()
        self.words += len(words)
        self.word_counts.update(words)
        self.lengths.append(len(text))

    def result(self) -> dict[str, Any]:
        lengths = sorted(self.lengths)
        return {
            "documents": self.documents,
            "empty_records": self.empty_records,
            "lines": self.lines,
            "characters": self.characters,
            "words": self.words,
            "unique_words": len(self.word_counts),
            "top_words": [{"word": w, "count": n} for w, n in self.word_counts.most_common(TOP)],
            "document_length": {
                "unit": "characters",
                "average": round(self.characters / len(lengths), 2) if lengths else 0,
                "median": median(lengths),
                "min": lengths[0] if lengths else 0,
                "max": lengths[-1] if lengths else 0,
                "histogram": histogram(lengths),
            },
        }


def median(ordered: Sequence[int]) -> float:
    n = len(ordered)
    if n == 0:
        return 0
    middle = n // 2
    return float(ordered[middle]) if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def histogram(ordered: Sequence[int], buckets: int = HISTOGRAM_BUCKETS) -> list[dict[str, int]]:
    """Equal-width buckets of whole lengths from the shortest to the longest, both included:
    `buckets` of them, fewer only when there are fewer distinct lengths in that span. Each is
    {"from", "to", "count"}, `to` included."""
    if not ordered:
        return []
    low, high = ordered[0], ordered[-1]
    span = high - low + 1
    k = min(buckets, span)
    # Bucket i holds the lengths L with (L - low) * k // span == i: from low + ceil(i * span / k).
    edges = [low + (i * span + k - 1) // k for i in range(k + 1)]
    counts = [0] * k
    for length in ordered:
        counts[(length - low) * k // span] += 1
    return [{"from": edges[i], "to": edges[i + 1] - 1, "count": counts[i]} for i in range(k)]


class TokenStats:
    """Counts the tokens a tokenizer makes of the documents."""

    def __init__(self, unk_id: int | None) -> None:
        self.unk_id = unk_id
        self.total = 0
        self.counts: Counter[int] = Counter()

    def add(self, ids_per_document: Iterable[Sequence[int]]) -> None:
        for ids in ids_per_document:
            self.total += len(ids)
            self.counts.update(ids)

    def result(self, id_to_token, words: int, characters: int, unk_token: str | None) -> dict[str, Any]:
        unknown = None
        if self.unk_id is not None:
            count = self.counts.get(self.unk_id, 0)
            unknown = {
                "token": unk_token,
                "count": count,
                "rate": round(count / self.total, 6) if self.total else 0,
            }
        return {
            "total": self.total,
            "per_word": round(self.total / words, 4) if words else 0,
            "per_character": round(self.total / characters, 4) if characters else 0,
            "top_tokens": [
                {"id": token_id, "token": id_to_token(token_id), "count": n}
                for token_id, n in self.counts.most_common(TOP)
            ],
            "unknown": unknown,
        }
