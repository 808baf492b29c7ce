"""`GET /api/v1/logs`: the newest lines of the shell's, the supervisor's and the engine's logs,
merged by time, filtered by level and source, read from their ends only, with no secret in them.
The logs are planted as real files in the formats their writers use."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import logfiles
from tests.conftest import AUTH, PORT, TOKEN

START = datetime(2031, 3, 4, 5, 6, 7, 250_000, tzinfo=UTC)
MARK = re.compile(r"\bM\d\d\b")


def _t(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _stamped(moment: datetime, source: str, text: str) -> str:
    # supervisor::format_line, which the shell's log uses too.
    return f"{_rfc3339(moment)} {source:<6} | {text}\n"


def _python(moment: datetime, level: str, text: str, logger: str = "tokenizer_studio") -> str:
    # enginecore.server.log_config: Python logging writes local time.
    local = moment.astimezone()
    stamp = local.strftime("%Y-%m-%d %H:%M:%S,") + f"{local.microsecond // 1000:03d}"
    return f"{stamp} {level} {logger}: {text}\n"


def _plant(logs: Path) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "shell.log.1").write_text(_stamped(_t(0), "shell", "M01 shell starts (rotated file)"))
    (logs / "shell.log").write_text(
        _stamped(_t(2), "shell", "M03 engine found")
        + _stamped(_t(9), "shell", "M10 the user opened the logs folder")
    )
    (logs / "engine.log").write_text(
        _stamped(_t(1), "supervisor", "M02 attempt 1: starting python")
        + _stamped(_t(3), "stdout", "M04 TOKENIZER_STUDIO_READY {}")
        # The engine's logging records reach its stderr too; server.log has the same two.
        + _stamped(_t(4), "stderr", _python(_t(4), "INFO", "M05 listening").rstrip("\n"))
        + _stamped(_t(6), "stderr", _python(_t(6), "WARNING", "M07 disk nearly full").rstrip("\n"))
    )
    (logs / "server.log").write_text(
        _python(_t(4), "INFO", "M05 listening")
        + _python(_t(5), "DEBUG", "M06 a detail")
        + _python(_t(6), "WARNING", "M07 disk nearly full")
        + _python(_t(7), "ERROR", "M08 job job_1 failed")
        + "Traceback (most recent call last):\n"
        + '  File "app/jobs.py", line 1, in run\n'
        + "ValueError: M08b the traceback stays with its record\n"
        + _python(_t(8), "INFO", "M09 job job_2 started")
    )


def _get(client, **params) -> dict:
    r = client.get("/api/v1/logs", params=params, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def _marks(body: dict) -> list[str]:
    """The planted records' marks in the order answered, a traceback's lines as `+`."""
    return [found.group(0) if (found := MARK.search(line["text"])) else "+" for line in body["lines"]]


def test_the_three_logs_merge_by_time_newest_last(client, data_dir):
    _plant(data_dir / "logs")
    body = _get(client)
    assert _marks(body) == [
        "M01",
        "M02",
        "M03",
        "M04",
        "M05",
        "M06",
        "M07",
        "M08",
        "+",
        "+",
        "+",
        "M09",
        "M10",
    ]
    assert body["truncated"] is False
    assert body["files"] == ["shell.log.1", "shell.log", "engine.log", "server.log"]

    lines = {_marks({"lines": [line]})[0]: line for line in body["lines"]}
    # Each line's own time (UTC), its source, and its level where its writer has levels.
    assert lines["M01"] == {
        "time": _rfc3339(_t(0)),
        "source": "shell",
        "level": None,
        "text": "M01 shell starts (rotated file)",
    }
    assert lines["M02"] == {
        "time": _rfc3339(_t(1)),
        "source": "engine",
        "level": None,
        "text": "supervisor: M02 attempt 1: starting python",
    }
    assert lines["M04"]["text"] == "stdout: M04 TOKENIZER_STUDIO_READY {}"
    assert lines["M06"]["level"] == "DEBUG"
    assert lines["M08"] == {
        "time": _rfc3339(_t(7)),
        "source": "server",
        "level": "ERROR",
        "text": "tokenizer_studio: M08 job job_1 failed",
    }
    # A record the engine logged is listed once, from server.log, not again from its stderr.
    assert [line["source"] for line in body["lines"] if "M05" in line["text"] or "M07" in line["text"]] == [
        "server",
        "server",
    ]
    traceback = body["lines"][8:11]
    assert [line["text"] for line in traceback] == [
        "Traceback (most recent call last):",
        '  File "app/jobs.py", line 1, in run',
        "ValueError: M08b the traceback stays with its record",
    ]
    assert {(line["time"], line["source"], line["level"]) for line in traceback} == {(None, "server", None)}


@pytest.mark.parametrize(
    ("level", "marks"),
    [
        ("debug", ["M01", "M02", "M03", "M04", "M05", "M06", "M07", "M08", "+", "+", "+", "M09", "M10"]),
        # The shell's, the supervisor's and stdout's lines have no level: they count as info.
        ("info", ["M01", "M02", "M03", "M04", "M05", "M07", "M08", "+", "+", "+", "M09", "M10"]),
        # A traceback's lines go with their record.
        ("warning", ["M07", "M08", "+", "+", "+"]),
        ("error", ["M08", "+", "+", "+"]),
    ],
)
def test_the_level_filter(client, data_dir, level, marks):
    _plant(data_dir / "logs")
    body = _get(client, level=level)
    assert _marks(body) == marks
    assert body["truncated"] is False


def test_the_source_filter(client, data_dir):
    _plant(data_dir / "logs")
    shell = _get(client, source="shell")
    assert _marks(shell) == ["M01", "M03", "M10"]
    assert shell["files"] == ["shell.log.1", "shell.log"]
    assert {line["source"] for line in shell["lines"]} == {"shell"}

    # engine.log alone: its copy of the engine's stderr is all there is, with the records' levels.
    engine = _get(client, source="engine")
    assert _marks(engine) == ["M02", "M04", "M05", "M07"]
    assert engine["files"] == ["engine.log"]
    assert [line["level"] for line in engine["lines"]] == [None, None, "INFO", "WARNING"]
    assert engine["lines"][2]["text"] == "tokenizer_studio: M05 listening"
    assert engine["lines"][2]["time"] == _rfc3339(_t(4))

    server = _get(client, source="server", level="warning")
    assert _marks(server) == ["M07", "M08", "+", "+", "+"]
    assert server["files"] == ["server.log"]


def test_the_limit_keeps_the_newest_lines(client, data_dir):
    _plant(data_dir / "logs")
    body = _get(client, limit=2)
    assert _marks(body) == ["M09", "M10"]
    assert body["truncated"] is True
    # Records are kept whole: a traceback does not lose its head to the limit.
    body = _get(client, limit=5, level="error")
    assert _marks(body) == ["M08", "+", "+", "+"]
    assert body["truncated"] is False
    body = _get(client, limit=3, level="error")
    assert _marks(body) == ["+", "+", "+"]
    assert body["lines"][0]["level"] == "ERROR"  # the record's level goes with its first line shown
    assert body["truncated"] is True


def test_the_engine_stderr_outside_logging(client, data_dir):
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "engine.log").write_text(
        _stamped(_t(0), "supervisor", "S1 attempt 1: starting python")
        # Before logging is set up, an import fails: Python's own traceback, no record.
        + _stamped(_t(1), "stderr", "Traceback (most recent call last):")
        + _stamped(_t(1), "stderr", '  File "app/__main__.py", line 3, in <module>')
        + _stamped(_t(1), "stderr", "ImportError: S2 no module named x")
        + _stamped(_t(2), "supervisor", "S3 attempt 1 ended before ready: exit status 1")
        + _stamped(_t(3), "stderr", "/x/y.py:4: DeprecationWarning: S4 old call")
        + _stamped(_t(4), "stderr", _python(_t(4), "INFO", "S5 listening").rstrip("\n"))
        # A thread's uncaught exception after an INFO record is a crash, not that record's.
        + _stamped(_t(5), "stderr", "Exception in thread worker:")
        + _stamped(_t(5), "stderr", "Traceback (most recent call last):")
        + _stamped(_t(5), "stderr", "RuntimeError: S6 boom")
        # log.exception's traceback stays with its ERROR record.
        + _stamped(_t(6), "stderr", _python(_t(6), "ERROR", "S7 unhandled error").rstrip("\n"))
        + _stamped(_t(6), "stderr", "Traceback (most recent call last):")
        + _stamped(_t(6), "stderr", "KeyError: S7b")
    )
    texts = [(line["level"], line["text"]) for line in _get(client, level="error")["lines"]]
    assert texts == [
        ("ERROR", "Traceback (most recent call last):"),
        (None, '  File "app/__main__.py", line 3, in <module>'),
        (None, "ImportError: S2 no module named x"),
        ("ERROR", "Exception in thread worker:"),
        (None, "Traceback (most recent call last):"),
        (None, "RuntimeError: S6 boom"),
        ("ERROR", "tokenizer_studio: S7 unhandled error"),
        (None, "Traceback (most recent call last):"),
        (None, "KeyError: S7b"),
    ]
    warnings = _get(client, level="warning")["lines"]
    assert ("WARNING", "/x/y.py:4: DeprecationWarning: S4 old call") in [
        (line["level"], line["text"]) for line in warnings
    ]
    assert not any("S5" in line["text"] or "S3" in line["text"] for line in warnings)


def test_secrets_come_out_redacted(client, data_dir):
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    old_token = "ab" * 32  # an older launch's token, as the supervisor makes them
    (logs / "shell.log").write_text(
        _stamped(_t(0), "shell", f"opening http://127.0.0.1:{PORT}/#launch=SECRETCODE")
        + _stamped(_t(1), "shell", f"request headers: Authorization: Bearer {TOKEN}")
    )
    (logs / "server.log").write_text(
        _python(_t(2), "WARNING", f"a token in a line {TOKEN} and {old_token}")
        + f"X-Tokenizer-Studio-Token: {TOKEN}\n"
        + _python(_t(3), "INFO", f"request headers: Cookie: tsession_{PORT}=SESSIONSECRET")
    )
    r = client.get("/api/v1/logs", headers=AUTH)
    assert r.status_code == 200
    for secret in (TOKEN, old_token, "SECRETCODE", "SESSIONSECRET"):
        assert secret not in r.text
    texts = [line["text"] for line in r.json()["lines"]]
    assert texts == [
        f"opening http://127.0.0.1:{PORT}/#launch=<redacted>",
        "request headers: Authorization: <redacted>",
        "tokenizer_studio: a token in a line <redacted> and <redacted>",
        "X-Tokenizer-Studio-Token: <redacted>",
        "tokenizer_studio: request headers: Cookie: <redacted>",
    ]


def test_a_huge_log_is_read_from_its_end_only(client, data_dir):
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    huge = logs / "server.log"
    with open(huge, "wb") as file:
        # 200 MB the viewer must never read: sparse where the file system allows.
        file.truncate(200 * 1024 * 1024)
        file.seek(0, os.SEEK_END)
        lines = [_python(_t(100), "ERROR", "OLD an error deep inside the file")]
        lines += [_python(_t(100 + i / 1000), "INFO", f"chatter {i:06d} " + "x" * 100) for i in range(60_000)]
        lines += [_python(_t(200), "ERROR", "NEW the newest error")]
        lines += [_python(_t(200 + i / 1000), "INFO", f"last {i:03d}") for i in range(600)]
        file.write("".join(lines).encode())
    assert huge.stat().st_size > 200 * 1024 * 1024

    body = _get(client)
    assert len(body["lines"]) == 500
    assert body["lines"][-1]["text"] == "tokenizer_studio: last 599"
    assert body["lines"][0]["text"] == "tokenizer_studio: last 100"
    assert body["truncated"] is True

    # Errors only: more of the tail is read, never the whole file, and the old error (8 MB from
    # the end) is out of reach.
    body = _get(client, level="error", limit=5000)
    assert [line["text"] for line in body["lines"]] == ["tokenizer_studio: NEW the newest error"]
    assert body["truncated"] is True
    assert body["files"] == ["server.log"]


def test_a_window_that_starts_inside_a_traceback_drops_its_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(logfiles, "VIEW_FIRST_READ", 200)
    monkeypatch.setattr(logfiles, "VIEW_MAX_READ", 200)
    (tmp_path / "server.log").write_text(
        _python(_t(0), "ERROR", "E1 failed")
        + "Traceback (most recent call last):\n"
        + "".join(f'  File "f{i}.py", line {i}, in g\n' for i in range(20))
        + _python(_t(1), "INFO", "I2 later")
    )
    found = logfiles.view(tmp_path, str, level=None, limit=100, source="server")
    assert [line.text for line in found.lines] == ["tokenizer_studio: I2 later"]
    assert found.truncated is True


def test_no_logs_yet(client):
    assert _get(client, source="shell") == {"lines": [], "truncated": False, "files": []}


@pytest.mark.parametrize(
    "params",
    [{"level": "verbose"}, {"level": "ERROR"}, {"source": "shell.log"}, {"limit": 0}, {"limit": 5001}],
)
def test_bad_parameters_are_422(client, params):
    r = client.get("/api/v1/logs", params=params, headers=AUTH)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    assert [problem["field"] for problem in error["details"]] == [f"query.{next(iter(params))}"]


@pytest.mark.parametrize("headers", [{}, {"X-Tokenizer-Studio-Token": "wrong"}])
def test_needs_credentials(client, headers):
    r = client.get("/api/v1/logs", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
