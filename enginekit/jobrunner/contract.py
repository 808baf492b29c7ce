"""What a job type declares, and what its `run` gets to talk to the runner."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobrunner.disk import is_disk_full
from jobrunner.states import RESERVED_PHASES

if TYPE_CHECKING:
    from pydantic import BaseModel

GENERIC_FAILURE = (
    "The job failed because of an unexpected error (the job log has the details); check its "
    "settings, then start a new job."
)
# An artifact is a file name inside the job's own folder, never a path out of it.
_ARTIFACT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class Cancelled(Exception):
    """Raised by `JobContext.raise_if_cancelled` (or by a job's own code) to stop a job that
    was asked to stop; the runner ends it `cancelled` (or failed, when a full disk stopped it)."""


class UndeclaredPhase(ValueError):
    """A job reported progress in a phase its type does not declare."""


@dataclass(frozen=True)
class Phase:
    """One step a job reports progress in: `name` is stored with the job, `label` is what a UI
    shows while the job is in it."""

    name: str
    label: str


@dataclass(frozen=True)
class Artifact:
    """A file a successful job leaves in its folder: `name` is the file name, `kind` what it
    holds (a media type or a short word the app understands). Every declared artifact must
    exist when `run` returns; the runner records its size and sha256."""

    name: str
    kind: str


@dataclass(frozen=True)
class Outcome:
    """What `run` may return: metrics stored with the job, and its last log line."""

    metrics: Mapping[str, Any] | None = None
    message: str | None = None


@dataclass(frozen=True)
class JobType:
    """A kind of job: everything the runner needs to queue, run, report and record it.

    - `name`: how stored jobs say which type they are.
    - `config_schema`: the Pydantic model a job's stored config is validated into; `run` gets
      the model instance.
    - `phases`: the ordered phases `run` reports progress in (the job starts in the first).
    - `artifacts`: the files a successful run leaves in `JobContext.output_dir`.
    - `run(context, config)`: does the work; returns an `Outcome` or None. It checks
      `context.cancelled` (or calls `context.raise_if_cancelled()`) often enough to stop soon.
    - `expected_bytes(config)`: the most the artifacts may take; the runner refuses to start
      without that much free space (plus headroom). None: no check.
    - `output_words`: the artifacts as the disk-full sentence names them ("the tokenizer").
    - `headline(exc)`: a plain sentence for one of the type's own failures, or None.
    - `generic_failure`: the sentence for a failure `headline` does not name.
    """

    name: str
    config_schema: type[BaseModel]
    phases: tuple[Phase, ...]
    artifacts: tuple[Artifact, ...]
    run: Callable[[JobContext, Any], Outcome | None]
    expected_bytes: Callable[[Any], int] | None = None
    output_words: str = "this job's results"
    headline: Callable[[BaseException], str | None] | None = None
    generic_failure: str = GENERIC_FAILURE
    phase_names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError(f"job type {self.name!r} declares no phases")
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ValueError(f"job type {self.name!r} declares a phase twice: {names}")
        reserved = sorted(set(names) & set(RESERVED_PHASES))
        if reserved:
            raise ValueError(f"job type {self.name!r}: the runner sets the phases {reserved} itself")
        for artifact in self.artifacts:
            if not _ARTIFACT_NAME.fullmatch(artifact.name) or artifact.name.endswith((".tmp", ".part")):
                raise ValueError(f"job type {self.name!r}: {artifact.name!r} is not a plain file name")
        object.__setattr__(self, "phase_names", frozenset(names))


class JobContext:
    """The runner's side of a running job, handed to `JobType.run`.

    A write that finds the disk full does not raise into the job: the job is asked to stop
    (`cancelled` turns true) and ends failed with the disk-full sentence. That holds inside a
    native library's callback too, where an exception may not get through.
    """

    def __init__(
        self,
        job_id: str,
        job_type: JobType,
        output_dir: Path,
        report: Callable[[str, float], None],
        write_log: Callable[[str], None],
        stop_requested: Callable[[], bool],
        make_dir: Callable[[Path], None],
    ) -> None:
        self.job_id = job_id
        self.job_type = job_type
        self._output_dir = output_dir
        self._report = report
        self._write_log = write_log
        self._stop_requested = stop_requested
        self._make_dir = make_dir
        self.disk_full: BaseException | None = None

    @property
    def output_dir(self) -> Path:
        """The job's own folder (created on first use); it is deleted unless the job succeeds."""
        self._make_dir(self._output_dir)
        return self._output_dir

    def artifact_path(self, name: str) -> Path:
        if name not in {a.name for a in self.job_type.artifacts}:
            raise ValueError(f"{name!r} is not an artifact of job type {self.job_type.name!r}")
        return self.output_dir / name

    @property
    def cancelled(self) -> bool:
        """True once the job should stop: cancelled, the runner stopping, or the disk full."""
        return self.disk_full is not None or self._stop_requested()

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled(f"job {self.job_id} was asked to stop")

    def progress(self, phase: str, fraction: float) -> None:
        """Stores the job's phase and its overall progress (0 to 1)."""
        if phase not in self.job_type.phase_names:
            declared = ", ".join(p.name for p in self.job_type.phases)
            raise UndeclaredPhase(
                f"job type {self.job_type.name!r} declares no phase {phase!r} (it has: {declared})"
            )
        self._guarded(self._report, phase, min(1.0, max(0.0, float(fraction))))

    def log(self, message: str) -> None:
        """Appends a line to the job's log."""
        self._guarded(self._write_log, message)

    def _guarded(self, write: Callable[..., None], *args: Any) -> None:
        if self.disk_full is not None:
            return
        try:
            write(*args)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            self.disk_full = exc
