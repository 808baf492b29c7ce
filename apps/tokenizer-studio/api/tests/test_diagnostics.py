"""`GET /api/v1/diagnostics`: the zip's members, the logs merged in time order, its size bound,
and that nothing private reaches any member, over real datasets, jobs and log files."""

from __future__ import annotations

import io
import json
import re
import secrets
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import diagnostics
from tests.conftest import AUTH, PORT, TOKEN, upload, wait_for_job
from tests.corpus import text_corpus

MEMBERS = {"README.txt", "logs.txt", "system.json", "runtime.json", "jobs.json"}
FILE_MARKER = "ZQXFILEMARK"
CONTENT_MARKER = "ZQXCONTENTMARK"
JOB_MARKER = "ZQXJOBMARK"
HOME_MARKER = "ZQXHOMEMARK"
QUERY_MARKER = "ZQXQUERYMARK"
# A token of an earlier launch, as the supervisor makes them (32 random bytes in hex).
OLD_TOKEN = secrets.token_hex(32)
START = datetime(2031, 3, 4, 5, 6, 7, 250_000, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / f"home-{HOME_MARKER}"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("USERPROFILE", str(folder))
    assert Path.home() == folder
    return folder


@pytest.fixture
def data_dir(home: Path) -> Path:
    # Where the app keeps its data on Linux: under the home folder, whose path must not leak.
    return home / ".local" / "share" / "TokenizerStudio"


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _python_log(moment: datetime) -> str:
    # Python logging writes local time.
    local = moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S,") + f"{local.microsecond // 1000:03d}"


def _download(client, **kwargs) -> tuple[dict[str, bytes], bytes]:
    r = client.get("/api/v1/diagnostics", **kwargs)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert re.fullmatch(
        r'attachment; filename="tokenizer-studio-diagnostics-\d{8}T\d{6}Z\.zip"',
        r.headers["content-disposition"],
    )
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert archive.testzip() is None
        members = {name: archive.read(name) for name in archive.namelist()}
    return members, r.content


def _write_logs(logs: Path, home: Path, launch_code: str, session: str, names: list[str]) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    t = [START + timedelta(seconds=i) for i in range(8)]
    secret_lines = [
        f"opening http://127.0.0.1:{PORT}/#launch={launch_code}",
        f"request headers: Authorization: Bearer {TOKEN}",
        f"request headers: Cookie: tsession_{PORT}={session}",
        f"an older launch's token {OLD_TOKEN} in a line",
        f"reading {home}/Documents/notes.txt and {home}",
        f'"GET /api/v1/datasets?filter={QUERY_MARKER}&x=1 HTTP/1.1" 200',
        *(f"could not read {name}" for name in names),
    ]
    (logs / "shell.log").write_text(
        f"{_rfc3339(t[0])} shell  | MERGE-1 shell starts\n"
        + "".join(f"{_rfc3339(t[0])} shell  | {line}\n" for line in secret_lines)
        + f"{_rfc3339(t[4])} shell  | MERGE-5 shell sees the engine stop\n",
        encoding="utf-8",
    )
    (logs / "engine.log.1").write_text(
        f"{_rfc3339(t[1])} supervisor | MERGE-2 attempt 1 (older rotated file)\n", encoding="utf-8"
    )
    (logs / "engine.log").write_text(
        f"{_rfc3339(t[3])} stderr | MERGE-4 engine stderr with {TOKEN}\n"
        f"{_rfc3339(t[6])} supervisor | MERGE-7 exit status 1\n",
        encoding="utf-8",
    )
    (logs / "server.log").write_text(
        f"{_python_log(t[2])} ERROR tokenizer_studio: MERGE-3 job failed\n"
        "Traceback (most recent call last):\n"
        f'  File "{home}/app/jobs.py", line 1, in run\n'
        "ValueError: MERGE-3b the traceback stays with its record\n"
        f"{_python_log(t[5])} INFO tokenizer_studio: MERGE-6 stopped\n",
        encoding="utf-8",
    )


def test_the_zip_holds_every_part_and_nothing_private(make_client, data_dir, home):
    client = make_client()
    file_name = f"{FILE_MARKER}_notes.txt"
    content = (f"{CONTENT_MARKER} private words\n" * 200).encode() + text_corpus(60_000)
    dataset = upload(client, file_name, content).json()
    job_name = f"{JOB_MARKER} tokenizer"
    r = client.post(
        "/api/v1/jobs",
        json={
            "template": "gpt2-byte-bpe",
            "dataset_ids": [dataset["id"]],
            "overrides": {"vocab_size": 400},
            "name": job_name,
        },
        headers=AUTH,
    )
    assert r.status_code == 201, r.text
    job = wait_for_job(client, r.json()["id"])
    assert job["status"] == "succeeded", job
    vocab = json.loads((data_dir / "artifacts" / "tokenizers" / job["id"] / "tokenizer.json").read_text())
    learned = [t for t in vocab["model"]["vocab"] if len(t) >= 8 and t.strip("Ġ").isalpha()]

    launch_code = client.post("/api/v1/session/launch-code", headers=AUTH).json()["code"]
    other_code = client.post("/api/v1/session/launch-code", headers=AUTH).json()["code"]
    assert client.post("/api/v1/session", json={"code": other_code}).status_code == 204
    session = client.cookies[f"tsession_{PORT}"]
    _write_logs(data_dir / "logs", home, launch_code, session, [file_name, job_name])

    # With the session cookie, as the UI's download link does.
    members, raw = _download(client)
    assert set(members) == MEMBERS

    texts = {name: data.decode("utf-8") for name, data in members.items()}
    system = json.loads(texts["system.json"])
    runtime = json.loads(texts["runtime.json"])
    jobs = json.loads(texts["jobs.json"])
    assert system["python"]["version"] and system["cpu"]["logical_cores"] >= 1
    assert system["ram_bytes"] > 0 and system["disk"]["free_bytes"] > 0
    assert system["disk"]["data_dir"] == "~/.local/share/TokenizerStudio"
    assert system["runtime"]["source"] == "development"
    assert system["device"]["kind"] == "cpu" and system["device"]["check"]["ran"] is True
    assert system["log_files"] == {"shell.log": 10, "engine.log.1": 1, "engine.log": 2, "server.log": 5}
    assert runtime == {"source": "development", "root": None}
    assert [j["id"] for j in jobs] == [job["id"]]
    assert jobs[0]["status"] == "succeeded" and jobs[0]["phase"] == "done"
    assert jobs[0]["config"]["vocab_size"] == 400 and jobs[0]["metrics"]["vocab_size"] > 0
    assert jobs[0]["n_datasets"] == 1 and "name" not in jobs[0]
    assert "never holds" in texts["README.txt"]

    # The two sources merged by time; the traceback kept with its record.
    logs = texts["logs.txt"].splitlines()
    order = [next(i for i, line in enumerate(logs) if f"MERGE-{n} " in line) for n in range(1, 8)]
    assert order == sorted(order), logs
    assert "MERGE-3b" in logs[order[2] + 3] and logs[order[2] + 3].startswith("server.log")
    assert logs[order[0]].startswith("shell.log    | ")
    assert logs[order[1]].startswith("engine.log.1 | ")
    assert any("Authorization: <redacted>" in line for line in logs)
    assert any("#launch=<redacted>" in line for line in logs)
    assert any("reading ~/Documents/notes.txt and ~" in line for line in logs)

    secrets_and_names = [
        TOKEN,
        OLD_TOKEN,
        launch_code,
        other_code,
        session,
        FILE_MARKER,
        CONTENT_MARKER,
        CONTENT_MARKER.lower(),
        JOB_MARKER,
        HOME_MARKER,
        QUERY_MARKER,
        str(home),
        dataset["id"] + ".txt",  # the stored file name
        *learned[:50],
    ]
    assert len(learned) > 0
    for name, data in members.items():
        for secret in secrets_and_names:
            assert secret.encode() not in data, (name, secret)
    for secret in secrets_and_names[:8]:
        assert secret.encode() not in raw


def test_a_huge_log_is_cut_to_its_newest_lines(client, data_dir):
    logs = data_dir / "logs"
    line = "x" * 180
    with open(logs / "engine.log.1", "w", encoding="utf-8") as file:
        for i in range(40_000):
            file.write(f"{_rfc3339(START)} stderr | old {i:06d} {line}\n")
    with open(logs / "engine.log", "w", encoding="utf-8") as file:
        for i in range(40_000):
            file.write(f"{_rfc3339(START + timedelta(seconds=1))} stderr | new {i:06d} {line}\n")
    (logs / "shell.log").write_text(f"{_rfc3339(START + timedelta(seconds=2))} shell  | last\n")

    members, raw = _download(client, headers=AUTH)
    text = members["logs.txt"].decode()
    lines = text.splitlines()
    assert len(members["logs.txt"]) <= diagnostics.LOG_MAX_BYTES + 200
    assert len(lines) <= diagnostics.LOG_MAX_LINES + 1
    assert lines[0].startswith("[") and "older lines left out" in lines[0]
    assert lines[-1].endswith("shell  | last")
    assert "new 039999" in lines[-2]
    assert len(raw) < 1_000_000  # repetitive lines compress well; the cap is what bounds it


@pytest.mark.parametrize("headers", [{}, {"X-Tokenizer-Studio-Token": "wrong"}])
def test_needs_credentials(client, headers):
    r = client.get("/api/v1/diagnostics", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"


def test_scrubber_rules():
    token = secrets.token_hex(32)
    scrub = diagnostics.Scrubber(token, ["my data.csv", "my data", "ab"], "/home/ann")
    assert scrub.text(f"x-tokenizer-studio-token: {token}") == "x-tokenizer-studio-token: <redacted>"
    assert scrub.text(f"launch id {secrets.token_hex(16)}").count("<redacted>") == 0
    assert scrub.text("GET /a/b?c=d HTTP/1.1") == "GET /a/b?<redacted> HTTP/1.1"
    assert scrub.text("is it? yes") == "is it? yes"
    assert scrub.text("set-cookie: tsession_1=abc; Path=/") == "set-cookie: <redacted>"
    assert scrub.text("/home/ann/x /home/anna /home/ann") == "~/x /home/anna ~"
    assert scrub.text("read my data.csv, ab") == "read <name>, ab"
    assert scrub.text("read my data") == "read <name>"
