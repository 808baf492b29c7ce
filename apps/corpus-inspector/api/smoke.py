"""Runs a user's whole first inspection against a running Corpus Inspector engine, over HTTP.

    python smoke.py --base-url http://127.0.0.1:PORT --token TOKEN

It writes a small corpus whose numbers it knows, builds a word-level tokenizer with the
`tokenizers` library (which knows every word of the corpus but one, so the unknown-token count
is known too), uploads both, runs an inspection, checks every number, and removes what it added.
HTTP is the standard library's. Exit 0 with one sentence when everything is right, 1 with one
sentence saying what is not.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

TOKEN_HEADER = "X-Corpus-Inspector-Token"
TOKEN_ENV = "CORPUS_INSPECTOR_RUNTIME_TOKEN"
WORDS = ["river", "stone", "light", "paper", "window", "garden", "quiet", "orange"]
# The one word the tokenizer does not know.
UNKNOWN_WORD = "orange"
FINISHED = {"succeeded", "failed", "cancelled", "interrupted"}


class SmokeFailure(Exception):
    """Something the user would see go wrong; the message says what."""


class Engine:
    def __init__(self, base_url: str, token: str | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        files: tuple[str, bytes] | None = None,
        auth: bool = True,
        expect: int | tuple[int, ...] = 200,
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if auth and self.token:
            headers[TOKEN_HEADER] = self.token
        if files is not None:
            boundary = f"smoke-{secrets.token_hex(12)}"
            name, content = files
            data = (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n"
                ).encode()
                + content
                + f"\r\n--{boundary}--\r\n".encode()
            )
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise SmokeFailure(f"the engine at {self.base_url} does not answer ({reason})") from None
        answer = json.loads(raw) if raw else None
        allowed = (expect,) if isinstance(expect, int) else expect
        if status not in allowed:
            said = (answer or {}).get("error", {}).get("message") if isinstance(answer, dict) else None
            raise SmokeFailure(f"{method} {path} answered {status}" + (f": {said}" if said else ""))
        return status, answer


def make_corpus() -> tuple[bytes, list[str]]:
    """A .jsonl corpus: 200 texts of 2 to 8 words, one line each."""
    texts = []
    for i in range(200):
        count = 2 + i % 7
        texts.append(" ".join(WORDS[(i * 3 + k * 5) % len(WORDS)] for k in range(count)))
    lines = [json.dumps({"id": i, "text": text}) for i, text in enumerate(texts)]
    # A blank line (skipped) and a record whose text is empty (counted as blank).
    lines.insert(100, "")
    lines.append(json.dumps({"id": len(texts), "text": ""}))
    return ("\n".join(lines) + "\n").encode(), texts


def make_tokenizer() -> bytes:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0} | {w: i + 1 for i, w in enumerate(w for w in WORDS if w != UNKNOWN_WORD)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tokenizer.to_str().encode()


def expected_numbers(texts: list[str]) -> dict[str, Any]:
    words = [w for text in texts for w in text.split()]
    counts = Counter(words)
    lengths = sorted(len(text) for text in texts)
    return {
        "documents": len(texts),
        "lines": len(texts),
        "characters": sum(lengths),
        "words": len(words),
        "unique_words": len(counts),
        "top_word_count": counts.most_common(1)[0][1],
        "max_length": lengths[-1],
        "tokens": len(words),
        "unknown": counts[UNKNOWN_WORD],
    }


def check(name: str, got: Any, expected: Any) -> None:
    if got != expected:
        raise SmokeFailure(f"expected {expected!r} {name}, the engine said {got!r}")


def run(engine: Engine, wait_s: float) -> str:
    started = time.monotonic()
    _, health = engine.call("GET", "/health", auth=False)
    if not isinstance(health, dict) or health.get("status") != "ok":
        raise SmokeFailure(f"/health answered {health!r}")
    if engine.token:
        engine.call("GET", "/api/v1/datasets", auth=False, expect=401)
    added: list[str] = []  # what to remove afterwards, in the order it was added
    try:
        expected = inspect(engine, wait_s, added)
    finally:
        leftovers = remove(engine, added)
    if leftovers:
        raise SmokeFailure(f"what the smoke test added could not be removed afterwards ({leftovers})")
    return (
        f"{expected['documents']} documents, {expected['words']} words and {expected['tokens']} tokens "
        f"counted right, in {time.monotonic() - started:.1f} s"
    )


def inspect(engine: Engine, wait_s: float, added: list[str]) -> dict[str, Any]:
    corpus, texts = make_corpus()
    _, dataset = engine.call("POST", "/api/v1/datasets", files=("smoke-corpus.jsonl", corpus), expect=201)
    added.append(f"/api/v1/datasets/{dataset['id']}")
    _, tokenizer = engine.call(
        "POST", "/api/v1/tokenizers", files=("tokenizer.json", make_tokenizer()), expect=201
    )
    added.append(f"/api/v1/tokenizers/{tokenizer['id']}")
    check("records at upload", dataset["records"], len(texts) + 1)
    check("as the text field", dataset["text_field"], "text")
    check("as the unknown token", tokenizer["unk_token"], "[UNK]")
    _, job = engine.call(
        "POST", "/api/v1/jobs", {"dataset_id": dataset["id"], "tokenizer_id": tokenizer["id"]}, expect=201
    )
    added.append(f"/api/v1/jobs/{job['id']}")
    deadline = time.monotonic() + wait_s
    while job["status"] not in FINISHED:
        if time.monotonic() > deadline:
            engine.call("POST", f"/api/v1/jobs/{job['id']}/cancel", expect=(200, 409))
            raise SmokeFailure(f"the inspection was still {job['status']} after {wait_s:g} s")
        time.sleep(0.1)
        _, job = engine.call("GET", f"/api/v1/jobs/{job['id']}")
    if job["status"] != "succeeded":
        raise SmokeFailure(f"the inspection ended {job['status']}: {job.get('error')}")
    check("as its progress at the end", job["progress"], 1)
    _, result = engine.call("GET", f"/api/v1/jobs/{job['id']}/result")
    expected = expected_numbers(texts)
    for key in ("documents", "lines", "characters", "words", "unique_words"):
        check(key, result[key], expected[key])
    check("blank records", result["empty_records"], 1)
    check("for the top word", result["top_words"][0]["count"], expected["top_word_count"])
    check("as the longest text", result["document_length"]["max"], expected["max_length"])
    check("tokens", result["tokens"]["total"], expected["tokens"])
    check("tokens per word", result["tokens"]["per_word"], 1.0)
    check("unknown tokens", result["tokens"]["unknown"]["count"], expected["unknown"])
    return expected


def remove(engine: Engine, added: list[str]) -> str:
    """Removes the job first, then what it used; returns what could not be removed."""
    failed = []
    for path in reversed(added):
        try:
            engine.call("DELETE", path, expect=(204, 404))
        except SmokeFailure as failure:
            failed.append(str(failure))
    return "; ".join(failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Runs a whole inspection against a running engine.")
    parser.add_argument("--base-url", required=True, help="the engine, e.g. http://127.0.0.1:8000")
    parser.add_argument(
        "--token", default=os.environ.get(TOKEN_ENV), help=f"the launch token (default: ${TOKEN_ENV})"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds the inspection may take")
    args = parser.parse_args(argv)
    try:
        summary = run(Engine(args.base_url, args.token, timeout=30.0), args.timeout)
    except SmokeFailure as failure:
        print(f"Smoke test failed: {str(failure).rstrip('.')}.")
        return 1
    except Exception as error:  # any other surprise is a failure too, in one line
        print(f"Smoke test failed: {type(error).__name__}: {str(error).rstrip('.')}.")
        return 1
    print(f"Smoke test passed: {summary}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
