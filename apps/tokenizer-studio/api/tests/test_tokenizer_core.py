"""The training core: every model type trains, round-trips, reports progress, cancels, repeats."""

import json

import pytest
from tokenizers import Tokenizer

from templates import resolve_config
from tests.corpus import sentences
from tokenizer import TrainingCancelled, encode, train

TEXTS = sentences(3000)
TOTAL = sum(len(t.encode()) for t in TEXTS)


@pytest.mark.parametrize(
    ("template", "model_type"),
    [
        ("gpt2-byte-bpe", "BPE"),
        ("classic-bpe", "BPE"),
        ("bert-wordpiece", "WordPiece"),
        ("t5-unigram", "Unigram"),
    ],
)
def test_each_model_type_trains_and_is_deterministic(template, model_type):
    config = resolve_config(template, {"vocab_size": 600})
    events = []
    tok = train(TEXTS, config, total_bytes=TOTAL, progress=lambda p, f: events.append((p, f)))
    data = json.loads(tok.to_str())
    assert data["model"]["type"] == model_type
    assert 300 <= tok.get_vocab_size() <= 700
    # Progress: starts at 0, ends with the training phase after reading everything.
    assert events[0] == ("reading", 0.0)
    assert events[-1] == ("training", 1.0)
    fractions = [f for _, f in events]
    assert fractions == sorted(fractions)
    # Same input, same config -> byte-identical serialisation.
    assert train(TEXTS, config).to_str() == tok.to_str()
    # It reloads from JSON and encodes known words without unknown tokens.
    reloaded = Tokenizer.from_str(tok.to_str())
    result = encode(reloaded, TEXTS[0])
    assert result["ids"] and len(result["tokens"]) == len(result["ids"])
    unk = {"[UNK]", "<unk>"}
    assert not unk & set(result["tokens"])


def test_byte_level_round_trips_any_text():
    config = resolve_config("gpt2-byte-bpe", {"vocab_size": 400})
    tok = train(TEXTS, config)
    text = "Unseen ✓ émoji 🙂 and\ttabs\nnewlines"
    assert encode(tok, text)["decoded"] == text


def test_classic_bpe_and_unigram_restore_spaces():
    sample = TEXTS[5]
    for template in ("classic-bpe", "t5-unigram"):
        tok = train(TEXTS, resolve_config(template, {"vocab_size": 600}))
        decoded = encode(tok, sample)["decoded"]
        # Whitespace pre-tokenisation splits punctuation off, so compare the words only.
        assert decoded.replace(" ", "").replace(",", "") == sample.replace(" ", "").replace(",", "")
        assert decoded.split()[0] == sample.split()[0]


def test_wordpiece_adds_cls_sep_and_lowercases():
    tok = train(TEXTS, resolve_config("bert-wordpiece", {"vocab_size": 600}))
    result = encode(tok, "Hello THERE")
    assert result["tokens"][0] == "[CLS]" and result["tokens"][-1] == "[SEP]"
    assert all(t == t.lower() for t in result["tokens"][1:-1])
    continuation = [t for t in tok.get_vocab() if t.startswith("##")]
    assert continuation, "WordPiece vocab should have ## pieces"


def test_special_tokens_get_the_first_ids():
    config = resolve_config("t5-unigram", {"vocab_size": 500})
    tok = train(TEXTS, config)
    assert [tok.token_to_id(t) for t in config["special_tokens"]] == [0, 1, 2]


def test_cancel_during_reading_raises_and_stops_early():
    consumed = []

    def texts():
        for i, text in enumerate(TEXTS):
            consumed.append(i)
            yield text

    calls = {"n": 0}

    def should_cancel():
        calls["n"] += 1
        return calls["n"] >= 2

    with pytest.raises(TrainingCancelled):
        train(texts(), resolve_config("classic-bpe", {}), should_cancel=should_cancel)
    assert len(consumed) < len(TEXTS)


def test_cancel_after_reading_discards_result():
    flag = {"cancel": False}

    def progress(phase, _fraction):
        if phase == "training":
            flag["cancel"] = True  # arrives after the last text was read

    with pytest.raises(TrainingCancelled):
        train(
            TEXTS, resolve_config("classic-bpe", {}), progress=progress, should_cancel=lambda: flag["cancel"]
        )


def test_source_reported_fraction_is_used():
    class Source:
        def __init__(self):
            self.n = 0

        def __iter__(self):
            for text in TEXTS:
                self.n += 1
                yield text

        def consumed_fraction(self):
            return self.n / len(TEXTS) / 2  # deliberately not byte-based

    events = []
    train(
        Source(),
        resolve_config("classic-bpe", {"vocab_size": 300}),
        progress=lambda p, f: events.append((p, f)),
    )
    assert events[-1] == ("training", 0.5)


def test_normalization_knob_changes_what_is_learned():
    # "ﬁ" (U+FB01, a ligature) and fullwidth "ｆｉ" become plain "fi" only under NFKC.
    texts = ["ﬁle ﬁnd ｆｉｎｅ ﬁle"] * 200 + TEXTS[:200]
    for normalization, folded in (("nfc", False), ("nfkc", True)):
        config = resolve_config("classic-bpe", {"vocab_size": 400, "normalization": normalization})
        tok = train(texts, config)
        tokens = encode(tok, "ﬁle")["tokens"]
        assert any("ﬁ" in token for token in tokens) is not folded, (normalization, tokens)
        assert ("fi" in "".join(tokens)) is folded, (normalization, tokens)


def test_min_frequency_knob_keeps_rare_merges_out():
    # A word seen 3 times: merged into one token with min_frequency 1, never with 10.
    texts = TEXTS[:300] + ["zyxwvq"] * 3
    sizes = {}
    for min_frequency in (1, 10):
        config = resolve_config("classic-bpe", {"vocab_size": 2000, "min_frequency": min_frequency})
        tok = train(texts, config)
        sizes[min_frequency] = tok.get_vocab_size()
        whole_word = any("zyxwvq" in token for token in tok.get_vocab())
        assert whole_word is (min_frequency == 1), (min_frequency, whole_word)
    assert sizes[10] < sizes[1], sizes


def test_pre_tokenizer_knob_decides_where_words_split():
    # "whitespace" splits punctuation off words; "whitespace_split" keeps "end." together.
    texts = ["the end. the end. the end."] * 300
    for pre_tokenizer, joined in (("whitespace", False), ("whitespace_split", True)):
        config = resolve_config("classic-bpe", {"vocab_size": 300, "pre_tokenizer": pre_tokenizer})
        tokens = encode(train(texts, config), "the end.")["tokens"]
        assert any("end." in token for token in tokens) is joined, (pre_tokenizer, tokens)
