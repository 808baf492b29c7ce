"""The job-type contract: a throwaway job type gets the whole runner by declaring itself.

"count-to-n" counts to `n`, reporting its two phases, and writes count.txt. Every test runs
it on a real SQLite file through `jobrunner` alone (its own `SqliteJobStore`): the test
declares the type and reads the history; queueing, progress, cancelling, recovery and the
disk-full handling are the runner's.
"""

from __future__ import annotations

import ast
import errno
import hashlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from jobrunner import (
    CRASH_REASON,
    GENERIC_FAILURE,
    Artifact,
    JobContext,
    JobRunner,
    JobType,
    Outcome,
    Phase,
    SqliteJobStore,
    UndeclaredPhase,
    disk_full_sentence,
)

ENGINEKIT_DIR = Path(__file__).resolve().parent.parent
FINISHED = {"succeeded", "failed", "cancelled", "interrupted"}


class CountConfig(BaseModel):
    n: int = Field(ge=0)


class Counter:
    """The job type's run, with hooks the tests steer it by."""

    def __init__(self) -> None:
        self.refused: list[BaseException] = []
        self.store: SqliteJobStore | None = None
        self.seen: list[tuple[str, float]] = []  # (phase, progress) as stored after each report
        self.events: list[tuple[str, str]] = []  # (job id, "start" / "end")
        self.running = 0
        self.most_at_once = 0
        self.step_s = 0.0
        self.gate: threading.Event | None = None  # each count waits for it when set
        self.started = threading.Event()
        self.fail_with: BaseException | None = None  # raised after count.txt is half written
        self.bad_phase: str | None = None
        self.lock = threading.Lock()

    def run(self, context: JobContext, config: CountConfig) -> Outcome:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.events.append((context.job_id, "start"))
        try:
            return self._count(context, config)
        finally:
            with self.lock:
                self.running -= 1
                self.events.append((context.job_id, "end"))

    def _count(self, context: JobContext, config: CountConfig) -> Outcome:
        path = context.artifact_path("count.txt")
        with path.open("w") as out:
            for i in range(1, config.n + 1):
                context.raise_if_cancelled()
                if self.bad_phase:
                    try:
                        context.progress(self.bad_phase, 0.5)
                    except UndeclaredPhase as exc:
                        self.refused.append(exc)
                        raise
                out.write(f"{i}\n")
                out.flush()
                context.progress("counting", 0.8 * i / config.n)
                self._snapshot(context.job_id)
                self.started.set()
                if self.gate is not None:
                    self.gate.wait(10)
                if self.fail_with is not None and i * 2 >= config.n:
                    raise self.fail_with
                time.sleep(self.step_s)
        context.progress("writing", 0.9)
        self._snapshot(context.job_id)
        context.log(f"Counted to {config.n}.")
        return Outcome({"n": config.n}, f"Wrote {config.n} lines.")

    def _snapshot(self, job_id: str) -> None:
        job = self.store.get(job_id)
        self.seen.append((job["phase"], job["progress"]))


def count_type(counter: Counter, **declared) -> JobType:
    return JobType(
        name="count-to-n",
        config_schema=CountConfig,
        phases=(Phase("counting", "Counting"), Phase("writing", "Writing the count")),
        artifacts=(Artifact("count.txt", "text/plain"),),
        run=counter.run,
        **declared,
    )


@pytest.fixture
def counter() -> Counter:
    return Counter()


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "jobs.db"


def make_runner(tmp_path: Path, db_file: Path, counter: Counter, **declared) -> JobRunner:
    store = SqliteJobStore(db_file)
    counter.store = store
    runner = JobRunner(store, artifacts_root=tmp_path / "artifacts", data_root=tmp_path)
    runner.register(count_type(counter, **declared))
    return runner


@pytest.fixture
def runner(tmp_path, db_file, counter) -> Iterator[JobRunner]:
    runner = make_runner(tmp_path, db_file, counter)
    runner.start()
    yield runner
    if counter.gate is not None:
        counter.gate.set()
    assert runner.stop(5)
    runner.store.close()


def wait_until_finished(store: SqliteJobStore, job_id: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while (job := store.get(job_id))["status"] not in FINISHED:
        assert time.monotonic() < deadline, job
        time.sleep(0.01)
    return job


def test_jobrunner_imports_only_the_standard_library():
    """Every app's engine carries this package: it must not need any app's packages, nor a
    library an app might not ship. (Job types hand it Pydantic models; it only calls them.)"""
    probe = (
        f"import sys; sys.path.insert(0, {str(ENGINEKIT_DIR)!r}); before = set(sys.modules)\n"
        "import jobrunner, jobrunner.contract, jobrunner.disk, jobrunner.runner, jobrunner.states, "
        "jobrunner.store\n"
        "print(sorted({m.split('.')[0] for m in set(sys.modules) - before}"
        " - set(sys.stdlib_module_names) - {'jobrunner'}))"
    )
    # -I: neither the working directory nor PYTHON* variables add anything to the import path.
    done = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    # Nor does any of its modules name another package, even in a function it has not run yet;
    # pydantic only for type checking.
    allowed = set(sys.stdlib_module_names) | {"jobrunner", "__future__", "pydantic"}
    for module in (ENGINEKIT_DIR / "jobrunner").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, (module.name, name)


def test_a_job_runs_through_its_phases_and_records_its_artifact(runner, counter, tmp_path):
    job_id = runner.enqueue("count-to-n", {"n": 5})
    job = wait_until_finished(runner.store, job_id)
    assert job["status"] == "succeeded", (job, runner.store.logs(job_id))
    # Every report was stored as it came, in the declared phases, moving forward.
    assert [phase for phase, _ in counter.seen] == ["counting"] * 5 + ["writing"]
    progress = [p for _, p in counter.seen]
    assert progress == sorted(progress) and progress[0] == pytest.approx(0.16) and progress[-1] == 0.9
    assert (job["phase"], job["progress"]) == ("done", 1.0)
    assert job["metrics"] == {"n": 5}
    path = tmp_path / "artifacts" / job_id / "count.txt"
    assert path.read_text() == "1\n2\n3\n4\n5\n"
    (artifact,) = job["artifacts"]
    assert artifact["name"] == "count.txt" and artifact["kind"] == "text/plain"
    assert artifact["path"] == str(path) and artifact["size_bytes"] == 10
    assert artifact["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert runner.store.logs(job_id) == ["Queued.", "Counted to 5.", "Wrote 5 lines."]


def test_a_config_outside_the_schema_is_refused_before_it_is_stored(runner):
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        runner.enqueue("count-to-n", {"n": -1})
    assert runner.store.active_job_ids() == []


def test_an_undeclared_phase_is_refused(runner, counter, tmp_path):
    counter.bad_phase = "dancing"
    job_id = runner.enqueue("count-to-n", {"n": 3})
    job = wait_until_finished(runner.store, job_id)
    assert len(counter.refused) == 1
    assert job["status"] == "failed"
    assert job["phase"] == "counting"  # the job started in its first phase and never left it
    assert job["error"] == GENERIC_FAILURE
    technical = runner.store.logs(job_id)[-2]
    assert technical.startswith("Error: UndeclaredPhase: job type 'count-to-n' declares no phase 'dancing'")
    assert not (tmp_path / "artifacts" / job_id).exists()


def test_a_job_type_cannot_declare_the_runners_own_phases(counter):
    with pytest.raises(ValueError, match="sets the phases"):
        JobType("x", CountConfig, (Phase("done", "Done"),), (), counter.run)


def test_cancel_mid_run_ends_the_job_cancelled_promptly(runner, counter, tmp_path):
    counter.step_s = 0.05
    job_id = runner.enqueue("count-to-n", {"n": 10_000})
    assert counter.started.wait(10)
    assert runner.store.get(job_id)["status"] == "running"
    asked = time.monotonic()
    assert runner.cancel(job_id)
    job = wait_until_finished(runner.store, job_id)
    assert job["status"] == "cancelled" and job["artifacts"] is None
    # The run itself stopped (it is not left counting in the background), soon.
    deadline = time.monotonic() + 2
    while counter.running:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert time.monotonic() - asked < 2
    assert len(counter.seen) < 100
    assert not (tmp_path / "artifacts" / job_id).exists()
    assert runner.store.logs(job_id)[-1] == "Cancelled by the user."
    assert not runner.cancel(job_id)  # a finished job cannot be cancelled again
    # The worker moved on.
    counter.step_s = 0
    assert wait_until_finished(runner.store, runner.enqueue("count-to-n", {"n": 2}))["status"] == "succeeded"


def test_a_job_left_running_is_interrupted_when_a_runner_starts(tmp_path, db_file, counter):
    first = make_runner(tmp_path, db_file, counter)
    counter.gate = threading.Event()
    first.start()
    job_id = first.enqueue("count-to-n", {"n": 3})
    assert counter.started.wait(10)
    partial = tmp_path / "artifacts" / job_id
    assert (partial / "count.txt").exists()
    # The first runner is never stopped (as if its process died): its job stays `running`.
    assert first.store.get(job_id)["status"] == "running"

    second = make_runner(tmp_path, db_file, Counter())
    second.start()
    try:
        job = second.store.get(job_id)
        assert job["status"] == "interrupted" and job["error"] == CRASH_REASON
        assert second.store.logs(job_id)[-1] == CRASH_REASON
        assert not partial.exists()
        # The old run finishing late does not overwrite the interrupt.
        counter.gate.set()
        deadline = time.monotonic() + 10
        while counter.running:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.1)
        assert second.store.get(job_id)["status"] == "interrupted"
        assert not partial.exists()
    finally:
        counter.gate.set()
        assert second.stop(5)
        first.stop(5)


def test_a_full_disk_fails_the_job_in_words_and_leaves_no_partial_artifact(runner, counter, tmp_path):
    counter.fail_with = OSError(errno.ENOSPC, "No space left on device")
    job_id = runner.enqueue("count-to-n", {"n": 4})
    job = wait_until_finished(runner.store, job_id)
    assert job["status"] == "failed" and job["artifacts"] is None
    assert job["error"] == disk_full_sentence(tmp_path, "this job's results", next_step="start a new job")
    assert job["error"].startswith("The disk is full: ")
    assert runner.store.logs(job_id)[-2:] == [
        f"Error: OSError: [Errno {errno.ENOSPC}] No space left on device",
        job["error"],
    ]
    assert counter.events[-2:] == [(job_id, "start"), (job_id, "end")]  # it did write a part
    assert not (tmp_path / "artifacts" / job_id).exists()


def test_a_job_that_needs_more_room_than_there_is_does_not_start(tmp_path, db_file, counter):
    runner = make_runner(
        tmp_path, db_file, counter, expected_bytes=lambda config: 1 << 62, output_words="the count"
    )
    runner.start()
    try:
        job = wait_until_finished(runner.store, runner.enqueue("count-to-n", {"n": 2}))
        assert job["status"] == "failed"
        assert job["error"].startswith("The disk is full: the count needs ")
        assert counter.events == []
    finally:
        runner.stop(5)


def test_queued_jobs_run_one_at_a_time_in_submission_order(runner, counter):
    counter.step_s = 0.02
    ids = [runner.enqueue("count-to-n", {"n": n}) for n in (5, 1, 3, 2)]
    for job_id in ids:
        assert wait_until_finished(runner.store, job_id)["status"] == "succeeded"
    assert counter.events == [(job_id, edge) for job_id in ids for edge in ("start", "end")]
    assert counter.most_at_once == 1


class PanicLike(BaseException):
    """What pyo3 raises for a panic inside a native extension (its PanicException derives from
    BaseException, not Exception)."""


def test_a_base_exception_like_a_native_panic_fails_only_its_job(runner, counter, tmp_path):
    counter.fail_with = PanicLike("called `Option::unwrap()` on a `None` value")
    failed = runner.enqueue("count-to-n", {"n": 4})
    job = wait_until_finished(runner.store, failed)
    assert job["status"] == "failed" and job["artifacts"] is None, job
    assert job["error"], job
    assert not (tmp_path / "artifacts" / failed).exists()
    # The worker survived it: the next job runs.
    counter.fail_with = None
    after = runner.enqueue("count-to-n", {"n": 2})
    assert wait_until_finished(runner.store, after)["status"] == "succeeded"
