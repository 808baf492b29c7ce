"""Builds an untrained tokenizer from a config and trains it from an iterator of texts.

`tokenizers` is imported inside the functions: the server imports this package lazily, but a
module-level import here would still cost ~0.1 s for anything that touches `tokenizer`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

PHASE_READING = "reading"
PHASE_TRAINING = "training"

# Texts are handed to the Rust trainer in batches: one Python call per text would dominate.
BATCH_SIZE = 512
# How often (seconds) the progress callback fires while reading.
PROGRESS_INTERVAL_S = 0.2

# Bound on a saved tokenizer.json, checked against the free space before training: measured at
# 23 (WordPiece) to 76 (byte-level BPE, with its merges) bytes per vocabulary entry,
# pretty-printed, on vocabularies of 1,000 to 32,000; 256 leaves room for longer tokens.
ARTIFACT_BYTES_PER_TOKEN = 256
# The normalizer, pre-tokenizer, decoder and special tokens, and the job's config.json.
ARTIFACT_FIXED_BYTES = 64 * 1024

ProgressCallback = Callable[[str, float], None]
CancelCheck = Callable[[], bool]


class TrainingCancelled(Exception):
    """Raised when `should_cancel` turned true; the partial tokenizer is thrown away."""


def _unk_token(config: dict[str, Any]) -> str | None:
    for token in ("[UNK]", "<unk>"):
        if token in config["special_tokens"]:
            return token
    return None


def _normalizer(config: dict[str, Any]):
    from tokenizers import normalizers

    steps = []
    if config["normalization"] == "nfc":
        steps.append(normalizers.NFC())
    elif config["normalization"] == "nfkc":
        steps.append(normalizers.NFKC())
    if config["lowercase"]:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps) if steps else None


def _pre_tokenizer(name: str):
    from tokenizers import pre_tokenizers

    if name == "byte_level":
        return pre_tokenizers.ByteLevel(add_prefix_space=False)
    if name == "whitespace":
        return pre_tokenizers.Whitespace()
    if name == "whitespace_split":
        return pre_tokenizers.WhitespaceSplit()
    if name == "metaspace":
        return pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    if name == "bert":
        return pre_tokenizers.BertPreTokenizer()
    raise ValueError(f"unknown pre_tokenizer {name!r}")


METASPACE = "\u2581"


def _training_pre_tokenizer(name: str):
    """The configured pre-tokenizer, plus a word-start marker for the non-byte models.

    Why the marker: the trainers' alternative (an end-of-word suffix or a '##' prefix) makes
    extra alphabet entries whose ids follow Rust HashMap order, so ties between equally frequent
    merges break differently on every run. A marker character is part of the sorted alphabet,
    which keeps training byte-for-byte reproducible, and lets the decoder restore spaces.
    """
    from tokenizers import pre_tokenizers

    if name in ("byte_level", "metaspace"):
        return _pre_tokenizer(name)
    return pre_tokenizers.Sequence(
        [_pre_tokenizer(name), pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")]
    )


def build_tokenizer(config: dict[str, Any]):
    """Returns (untrained Tokenizer, trainer) for a validated config (see templates).

    WordPiece is trained as a word-start-marked BPE and converted afterwards (see
    `_to_wordpiece`); the WordPiece trainer itself is not reproducible across runs.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    model = config["model"]
    special = list(config["special_tokens"])
    unk = _unk_token(config)
    common = {"vocab_size": config["vocab_size"], "special_tokens": special, "show_progress": False}
    pre = config["pre_tokenizer"]

    if model == "byte_bpe":
        from tokenizers import processors

        tok = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(
            min_frequency=config["min_frequency"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            **common,
        )
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    elif model in ("bpe", "wordpiece"):
        tok = Tokenizer(models.BPE(unk_token=unk))
        trainer = trainers.BpeTrainer(min_frequency=config["min_frequency"], **common)
        tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    elif model == "unigram":
        tok = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(unk_token=unk, **common)
        if pre == "metaspace":
            tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    else:
        raise ValueError(f"unknown model {model!r}")

    tok.normalizer = _normalizer(config)
    tok.pre_tokenizer = _training_pre_tokenizer(pre) if model != "unigram" else _pre_tokenizer(pre)
    return tok, trainer


def _to_wordpiece(tok, config: dict[str, Any]):
    """Turns a word-start-marked BPE vocab into a WordPiece one ('\u2581ab' -> 'ab', 'ab' -> '##ab')."""
    from tokenizers import Tokenizer, decoders, models

    special = list(config["special_tokens"])
    vocab: dict[str, int] = {}

    def add(piece: str) -> None:
        if piece and piece not in vocab:
            vocab[piece] = len(vocab)

    for token in special:
        add(token)
    for token, _ in sorted(tok.get_vocab(with_added_tokens=False).items(), key=lambda kv: kv[1]):
        if token in special or token == METASPACE:
            continue
        if token.startswith(METASPACE):
            add(token[1:])
        else:
            add("##" + token)
            if len(token) == 1:
                # Every seen character also as a word start, so no word becomes [UNK] just
                # because its first letter never merged with the marker.
                add(token)
    unk = _unk_token(config) or "[UNK]"
    out = Tokenizer(models.WordPiece(vocab=vocab, unk_token=unk, max_input_chars_per_word=100))
    out.normalizer = tok.normalizer
    out.pre_tokenizer = _pre_tokenizer(config["pre_tokenizer"])
    out.decoder = decoders.WordPiece(prefix="##")
    out.add_special_tokens(special)
    return out


_LADDER_STEP = 0.0001


def _canonical_unigram(tok, config: dict[str, Any]):
    """Rounds Unigram scores and orders ties by piece: parallel EM sums differ in the last bits."""
    import json

    from tokenizers import Tokenizer

    data = json.loads(tok.to_str())
    special = list(config["special_tokens"])
    entries = data["model"]["vocab"]
    by_piece = {piece: score for piece, score in entries}
    rest = sorted(
        ((piece, round(score, 6)) for piece, score in entries if piece not in special),
        key=lambda ps: (-ps[1], ps[0]),
    )
    # The trainer appends characters it must keep on a score ladder (steps of 1e-4) in hash-set
    # order; hand the same ladder scores to those characters in sorted order instead.
    start = len(rest) - 1
    while (
        start > 0
        and len(rest[start][0]) == 1
        and len(rest[start - 1][0]) == 1
        and -1e-6 < rest[start - 1][1] - rest[start][1] < _LADDER_STEP + 1e-6
    ):
        start -= 1
    if len(rest) - start > 1:
        ladder_scores = [score for _, score in rest[start:]]
        ladder_pieces = sorted(piece for piece, _ in rest[start:])
        rest[start:] = list(zip(ladder_pieces, ladder_scores, strict=True))
    vocab = [[t, round(by_piece.get(t, 0.0), 6)] for t in special] + [list(ps) for ps in rest]
    ids = {piece: i for i, (piece, _) in enumerate(vocab)}
    unk = _unk_token(config)
    data["model"]["vocab"] = vocab
    data["model"]["unk_id"] = ids[unk] if unk else None
    for added in data.get("added_tokens") or []:
        added["id"] = ids[added["content"]]
    return Tokenizer.from_str(json.dumps(data))


def _add_bert_post_processor(tok, config: dict[str, Any]) -> None:
    """[CLS] text [SEP] like BERT, once the trained vocab knows both ids."""
    from tokenizers import processors

    if config["model"] != "wordpiece":
        return
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        return
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )


class _Feeder:
    """Batches texts for the trainer, reports the consumed fraction and watches for cancel.

    On cancel it simply stops yielding (an exception raised inside the Rust-driven iteration
    is not reliably propagated); `train` then raises TrainingCancelled itself.
    """

    def __init__(
        self,
        texts: Iterable[str],
        total_bytes: int | None,
        progress: ProgressCallback | None,
        should_cancel: CancelCheck | None,
    ) -> None:
        self.texts = texts
        # A source that knows its own position (e.g. bytes of a file read) reports it directly.
        self.fraction_fn = getattr(texts, "consumed_fraction", None)
        self.total_bytes = total_bytes
        self.progress = progress
        self.should_cancel = should_cancel
        self.consumed = 0
        self.cancelled = False
        self._last_report = 0.0

    def fraction(self) -> float:
        if self.fraction_fn is not None:
            return max(0.0, min(1.0, float(self.fraction_fn())))
        if self.total_bytes:
            return min(1.0, self.consumed / self.total_bytes)
        return 0.0

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.progress and (force or now - self._last_report >= PROGRESS_INTERVAL_S):
            self._last_report = now
            self.progress(PHASE_READING, self.fraction())

    def __iter__(self) -> Iterator[list[str]]:
        batch: list[str] = []
        count_bytes = self.fraction_fn is None and self.total_bytes is not None
        self._report(force=True)
        for text in self.texts:
            if not isinstance(text, str) or not text:
                continue
            if count_bytes:
                self.consumed += len(text.encode("utf-8", "surrogatepass"))
            batch.append(text)
            if len(batch) >= BATCH_SIZE:
                if self.should_cancel and self.should_cancel():
                    self.cancelled = True
                    return
                yield batch
                batch = []
                self._report()
        if self.should_cancel and self.should_cancel():
            self.cancelled = True
            return
        if batch:
            yield batch
        if self.progress:
            # The iterator is exhausted: from here the Rust trainer computes the vocabulary.
            self.progress(PHASE_TRAINING, self.fraction())


def train(
    texts: Iterable[str],
    config: dict[str, Any],
    *,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    total_bytes: int | None = None,
):
    """Trains a tokenizer; the same texts and config always give the same tokenizer.json.

    `progress(phase, fraction)` gets the fraction of input consumed: taken from
    `texts.consumed_fraction()` when the iterable has it, else counted as UTF-8 bytes of the
    yielded texts against `total_bytes`. Raises TrainingCancelled when `should_cancel()` became
    true, even if it did so only after reading finished (the result is then discarded).
    """
    tok, trainer = build_tokenizer(config)
    feeder = _Feeder(texts, total_bytes, progress, should_cancel)
    tok.train_from_iterator(iter(feeder), trainer=trainer)
    if feeder.cancelled or (should_cancel and should_cancel()):
        raise TrainingCancelled("training was cancelled")
    if config["model"] == "wordpiece":
        tok = _to_wordpiece(tok, config)
    elif config["model"] == "unigram":
        tok = _canonical_unigram(tok, config)
    _add_bert_post_processor(tok, config)
    return tok


def artifact_size_bound(config: dict[str, Any]) -> int:
    """Bytes a trained tokenizer.json (and its config.json) may take for this config, at most."""
    return config["vocab_size"] * ARTIFACT_BYTES_PER_TOKEN + ARTIFACT_FIXED_BYTES


def encode(tok, text: str) -> dict[str, list | str]:
    """The "try it" view of one text: tokens, ids and the decoded round trip."""
    enc = tok.encode(text)
    return {"tokens": list(enc.tokens), "ids": list(enc.ids), "decoded": tok.decode(enc.ids)}
