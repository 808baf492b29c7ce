"""`GET /api/v1/system` and the compute check in this venv (no torch, no GPU), the runtime's
manifest and the shell's machine probe, and how the device is chosen."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

from app import system
from app.settings import SettingsError, parse_settings
from tests.conftest import AUTH, PORT, TOKEN

MACHINE = {
    "probe": {
        "os": {"kind": "linux", "version": "6.8"},
        "arch": "x86_64",
        "emulated": False,
        "cpu": {"name": "Test CPU", "level": "x86-64-v3", "cores": 8},
        "ram_bytes": 17_179_869_184,
        "free_disk_bytes": 100_000_000_000,
        "gpus": [
            {
                "vendor": "nvidia",
                "name": "GeForce Test",
                "driver_version": "550.54",
                "compute_capability": "8.6",
                "memory_bytes": 8_589_934_592,
            }
        ],
        "apple_silicon": False,
    },
    "choice": {"variant": "torch-cuda", "device": "cuda", "reason": "an NVIDIA GPU with a recent driver"},
}


def write_runtime(root: Path, **keys) -> Path:
    """A runtime root as far as the engine reads it: `python/` beside a pretty manifest.json."""
    (root / "python").mkdir(parents=True)
    manifest = {
        "schema_version": 1,
        "app_id": "dev.tokenizerstudio.app",
        "runtime_version": "1.4.2",
        "target": "linux-x64",
        "python": {"version": "3.12.14", "build": "20260814", "source": "pbs", "sha256": None},
        **keys,
        "files": [{"path": "python/accelerator/x.py", "size": 1, "sha256": "0" * 64, "executable": False}],
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return root


def test_system_needs_the_token_and_our_host(client):
    for method, path in (("GET", "/api/v1/system"), ("POST", "/api/v1/system/compute-check")):
        assert client.request(method, path).status_code == 401
        r = client.request(method, path, headers={"X-Tokenizer-Studio-Token": "wrong"})
        assert r.status_code == 401 and TOKEN not in r.text
        r = client.request(method, path, headers={**AUTH, "Host": f"evil.example:{PORT}"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_host"


def test_system_in_development_without_torch(client):
    r = client.get("/api/v1/system", headers=AUTH)
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["runtime"]["source"] == "development"
    assert info["runtime"]["profile"] == "base" and info["runtime"]["accelerator"] == "cpu"
    assert info["python"] == {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
    }
    assert info["torch"] is None
    device = info["device"]
    assert device["kind"] == "cpu" and device["name"]
    assert device["check"]["ok"] is True and device["check"]["message"] is None
    assert 0 <= device["check"]["seconds"] < 5
    assert info["machine"] is None


def test_system_reports_the_runtime_from_its_manifest(make_client, tmp_path):
    root = write_runtime(tmp_path / "rt", profile="torch", accelerator="cuda")
    info = make_client(runtime_root=root).get("/api/v1/system", headers=AUTH).json()
    assert info["runtime"] == {
        "version": "1.4.2",
        "target": "linux-x64",
        "profile": "torch",
        "accelerator": "cuda",
        "source": "runtime",
    }
    # The device is what the engine was started with (here the CPU), whatever the runtime says.
    assert info["device"]["kind"] == "cpu"


def test_an_older_manifest_is_the_base_cpu_variant(make_client, tmp_path):
    root = write_runtime(tmp_path / "old")
    info = make_client(runtime_root=root).get("/api/v1/system", headers=AUTH).json()
    assert info["runtime"]["profile"] == "base" and info["runtime"]["accelerator"] == "cpu"
    assert info["runtime"]["version"] == "1.4.2" and info["runtime"]["source"] == "runtime"


def test_machine_probe_is_passed_through(client, data_dir):
    (data_dir / "machine.json").write_text(json.dumps(MACHINE))
    assert client.get("/api/v1/system", headers=AUTH).json()["machine"] == MACHINE


@pytest.mark.parametrize(
    "content",
    [
        b"[1, 2, 3]",
        b'"a string"',
        b"{not json",
        b'{"probe": {"ram_bytes": NaN}}',
        b"\xff\xfe not utf-8",
        b'{"pad": "' + b"x" * (64 * 1024) + b'"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["list", "string", "broken", "nan", "binary", "over-64k", "deep"],
)
def test_unusable_machine_probe_is_null(client, data_dir, content):
    (data_dir / "machine.json").write_bytes(content)
    r = client.get("/api/v1/system", headers=AUTH)
    assert r.status_code == 200
    assert r.json()["machine"] is None


def test_unreadable_machine_probe_is_null(client, data_dir):
    (data_dir / "machine.json").mkdir()  # a folder: open() fails whoever runs the test
    r = client.get("/api/v1/system", headers=AUTH)
    assert r.status_code == 200 and r.json()["machine"] is None


def test_a_probe_of_exactly_64k_is_read(client, data_dir):
    head = b'{"pad": "'
    content = head + b"x" * (64 * 1024 - len(head) - 2) + b'"}'
    assert len(content) == 64 * 1024
    (data_dir / "machine.json").write_bytes(content)
    assert client.get("/api/v1/system", headers=AUTH).json()["machine"] is not None


def test_compute_check_on_the_cpu(client):
    r = client.post("/api/v1/system/compute-check", headers=AUTH)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["ok"] is True and result["message"] is None
    assert result["device"] == "cpu"
    assert result["size"] >= system.BENCH_MIN_SIZE
    assert result["gflops"] > 0
    assert 0 < result["seconds"] <= system.BENCH_BUDGET_S + 1


def test_a_gpu_without_torch_fails_in_a_sentence_not_a_500(make_client):
    client = make_client(device="cuda")
    info = client.get("/api/v1/system", headers=AUTH)
    assert info.status_code == 200
    check = info.json()["device"]["check"]
    assert info.json()["device"]["kind"] == "cuda"
    assert check["ok"] is False and "torch is not included" in check["message"]
    r = client.post("/api/v1/system/compute-check", headers=AUTH)
    assert r.status_code == 200
    result = r.json()
    assert result["ok"] is False and result["gflops"] is None
    assert result["message"].startswith("The compute check could not run on the NVIDIA GPU")
    assert "Traceback" not in result["message"] and "\n" not in result["message"]


# --- choosing the device ------------------------------------------------------------------------


def test_device_defaults_to_the_cpu_without_a_runtime():
    settings = parse_settings([], env={})
    assert settings.device == "cpu" and settings.runtime_root is None


def test_device_comes_from_the_runtime_manifest(tmp_path):
    root = write_runtime(tmp_path / "rt", profile="torch", accelerator="cuda")
    settings = parse_settings([], env={}, prefix=root / "python")
    assert settings.runtime_root == root and settings.device == "cuda"
    # The variable wins over the manifest, in any case and with spaces around.
    overridden = parse_settings([], env={"TOKENIZER_STUDIO_DEVICE": " CPU "}, prefix=root / "python")
    assert overridden.device == "cpu"


def test_a_runtime_is_only_where_its_python_folder_is(tmp_path):
    root = write_runtime(tmp_path / "rt", accelerator="mps")
    assert system.runtime_root(root / "python") == root
    assert system.runtime_root(root) is None  # a venv's prefix is not named python
    assert system.runtime_root(tmp_path / "python") is None  # no manifest beside it


def test_an_unknown_device_is_refused_with_a_sentence():
    with pytest.raises(SettingsError) as refused:
        parse_settings([], env={"TOKENIZER_STUDIO_DEVICE": "tpu"})
    message = str(refused.value)
    assert "TOKENIZER_STUDIO_DEVICE" in message and "'tpu'" in message and "cpu, cuda or mps" in message


def test_an_unknown_manifest_accelerator_is_refused(tmp_path):
    root = write_runtime(tmp_path / "rt", accelerator="rocm")
    with pytest.raises(SettingsError) as refused:
        parse_settings([], env={}, prefix=root / "python")
    assert "'rocm'" in str(refused.value) and "reinstall" in str(refused.value)


def test_a_compact_manifest_reads_the_same_as_a_pretty_one(tmp_path):
    pretty = write_runtime(tmp_path / "pretty", accelerator="mps")
    compact = tmp_path / "compact"
    compact.mkdir()
    parsed = json.loads((pretty / "manifest.json").read_text())
    (compact / "manifest.json").write_text(json.dumps(parsed, separators=(",", ":")))
    assert system.manifest_accelerator(pretty) == "mps"
    assert system.manifest_accelerator(compact) == "mps"
    # A nested key of that name is not the runtime's.
    nested = tmp_path / "nested"
    nested.mkdir()
    (nested / "manifest.json").write_text(json.dumps({"python": {"accelerator": "cuda"}}, indent=2))
    assert system.manifest_accelerator(nested) == "cpu"
