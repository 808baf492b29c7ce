"""The start-up device check of a GPU engine, run in real engine processes against the stand-in
torch in tests/stand_in_torch (NOT the real torch: there is no GPU or torch here). Every test
that uses it says `stand_in_torch` in its name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ENGINEKIT_DIR
from tests.test_process import API_DIR, AUTH, READY, TOKEN, Server

STAND_IN_TORCH = Path(__file__).resolve().parent / "stand_in_torch"


def stand_in_env(mode: str, **extra: str) -> dict[str, str]:
    return {
        "PYTHONPATH": os.pathsep.join([str(STAND_IN_TORCH), str(API_DIR), str(ENGINEKIT_DIR)]),
        "STAND_IN_TORCH_MODE": mode,
        **extra,
    }


def run_engine(tmp_path: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    """Starts `python -m app` and returns it finished: it must exit by itself before READY."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENIZER_STUDIO_")}
    env.update(
        TOKENIZER_STUDIO_RUNTIME_TOKEN=TOKEN,
        TOKENIZER_STUDIO_DATA_DIR=str(tmp_path / "data"),
        **env_extra,
    )
    return subprocess.run(
        [sys.executable, "-m", "app", "--port", "0"],
        cwd=API_DIR,
        env=env,
        capture_output=True,
        timeout=60,
        stdin=subprocess.PIPE,
        text=True,
    )


def assert_one_sentence(stderr: str, full_stop: bool = True) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    line = lines[0]
    assert "Traceback" not in line, line
    # Settings errors keep their established "error: ..." form without a full stop.
    assert line.endswith(".") or not full_stop, line
    return line


def test_stand_in_torch_failing_cuda_exits_before_ready(tmp_path):
    done = run_engine(tmp_path, {"TOKENIZER_STUDIO_DEVICE": "cuda", **stand_in_env("cuda_init_fails")})
    # The launch contract's "device unusable" code: the supervisor does not retry it.
    assert done.returncode == 78
    assert READY.strip() not in done.stdout and done.stdout == ""
    line = assert_one_sentence(done.stderr)
    assert line.startswith("The GPU engine could not use the NVIDIA GPU (CUDA error: ")
    assert "initialization error" in line
    assert line.endswith("update the NVIDIA driver, or switch to the CPU engine in Settings.")


def test_stand_in_torch_old_driver_names_torchs_reason(tmp_path):
    done = run_engine(tmp_path, {"TOKENIZER_STUDIO_DEVICE": "cuda", **stand_in_env("cuda_driver_old")})
    assert done.returncode != 0 and done.stdout == ""
    line = assert_one_sentence(done.stderr)
    assert "The NVIDIA driver on your system is too old (found version 11040)" in line
    assert "switch to the CPU engine in Settings" in line


def test_stand_in_torch_missing_mps_exits_before_ready(tmp_path):
    done = run_engine(tmp_path, {"TOKENIZER_STUDIO_DEVICE": "mps", **stand_in_env("mps_missing")})
    assert done.returncode != 0 and done.stdout == ""
    line = assert_one_sentence(done.stderr)
    assert line.startswith("The GPU engine could not use the Apple GPU (MPS ")
    assert line.endswith("update macOS, or switch to the CPU engine in Settings.")


def test_gpu_device_without_torch_exits_before_ready(tmp_path):
    # This venv has no torch at all: a GPU engine without it is a broken install.
    done = run_engine(tmp_path, {"TOKENIZER_STUDIO_DEVICE": "cuda"})
    assert done.returncode != 0 and done.stdout == ""
    line = assert_one_sentence(done.stderr)
    assert "torch is not included in this engine" in line and "CPU engine" in line


def test_an_invalid_device_is_refused_before_ready(tmp_path):
    done = run_engine(tmp_path, {"TOKENIZER_STUDIO_DEVICE": "gpu"})
    assert done.returncode == 2 and done.stdout == ""
    line = assert_one_sentence(done.stderr, full_stop=False)
    assert "TOKENIZER_STUDIO_DEVICE" in line and "cpu, cuda or mps" in line


def test_stand_in_torch_cpu_device_skips_the_check(tmp_path):
    marker = tmp_path / "torch-imported"
    env = {
        "TOKENIZER_STUDIO_DEVICE": "cpu",
        **stand_in_env("cuda_init_fails", STAND_IN_TORCH_IMPORTED=str(marker)),
    }
    server = Server(tmp_path / "data", tmp_path / "stderr.log", extra_env=env)
    try:
        server.wait_ready()
        assert server.http.get("/health").status_code == 200
        assert not marker.exists(), "torch must not be imported at start-up or for /health"
        info = server.http.get("/api/v1/system", headers=AUTH).json()
        assert marker.exists()  # loaded on first use of the route
        assert info["torch"] == {"version": "0.0.0+stand.in", "cuda": "12.4", "mps_built": True}
        assert info["device"]["kind"] == "cpu" and info["device"]["check"]["ok"] is True
        server.proc.stdin.close()
        assert server.wait_exit(10) == 0
    finally:
        server.kill()


def test_stand_in_torch_working_cuda_passes_and_is_reported(tmp_path):
    env = {"TOKENIZER_STUDIO_DEVICE": "cuda", **stand_in_env("cuda_ok")}
    server = Server(tmp_path / "data", tmp_path / "stderr.log", extra_env=env)
    try:
        server.wait_ready()
        info = server.http.get("/api/v1/system", headers=AUTH).json()
        assert info["device"] == {
            "kind": "cuda",
            "name": "Stand-in GPU",
            "check": {"ok": True, "message": None, "seconds": info["device"]["check"]["seconds"]},
        }
        assert info["torch"]["cuda"] == "12.4"
        result = server.http.post("/api/v1/system/compute-check", headers=AUTH).json()
        assert result["ok"] is True and result["device"] == "cuda" and result["gflops"] > 0
        server.proc.stdin.close()
        assert server.wait_exit(10) == 0
    finally:
        server.kill()
