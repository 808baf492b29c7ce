"""Fake Tokenizer Studio engine for the supervisor tests: the launch contract of
docs/runtime-contract.md (READY line, /health echoing the launch id, exit on stdin EOF or
SIGTERM), with misbehaviour chosen by FAKE_MODE:

normal, never-ready, die-after-ready, slow-health (503 for FAKE_SLOW_SECONDS), wrong-launch-id,
flood-stderr (FAKE_FLOOD_BYTES of stderr before READY), ignore-sigterm (also ignores stdin EOF),
fail-bind-once (first start exits like a failed bind, later starts work), device-unusable
(exits 78 before READY, like a GPU engine whose device check failed), spawn-child (starts
a sleeping child; FAKE_CHILD_PDEATHSIG=1 gives it PR_SET_PDEATHSIG like a well-behaved engine).
FAKE_IGNORE_STDIN_EOF=1 keeps any mode running after stdin closes.

FAKE_STATE_DIR, when set, receives one line per start in `launch_ids` and `tokens`, the
launch environment and working directory as one JSON line in `environment`, and `child_pid`
in spawn-child mode, so tests can check what the supervisor passed.
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = os.environ.get("FAKE_MODE", "normal")
LAUNCH_ID = os.environ.get("TOKENIZER_STUDIO_LAUNCH_ID")
STATE_DIR = os.environ.get("FAKE_STATE_DIR")
STARTED = time.monotonic()


def record(name, value):
    if STATE_DIR:
        with open(os.path.join(STATE_DIR, name), "a") as file:
            file.write(f"{value}\n")


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crash":
            # An unexpected exit after readiness, on the test's cue.
            os._exit(7)
        if self.path not in ("/health", "/api/v1/health"):
            self.send_error(404)
            return
        if MODE == "slow-health":
            if time.monotonic() - STARTED < float(os.environ.get("FAKE_SLOW_SECONDS", "1.5")):
                self.send_error(503, "warming up")
                return
        launch_id = "somebody-elses-launch" if MODE == "wrong-launch-id" else LAUNCH_ID
        body = json.dumps({"status": "ok", "version": "0.0.0-fake", "launch_id": launch_id})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


def start_child():
    pdeathsig = os.environ.get("FAKE_CHILD_PDEATHSIG") == "1"

    def before_exec():
        if pdeathsig:
            # PR_SET_PDEATHSIG = 1, SIGKILL = 9: what an engine must do for its own children,
            # since the supervisor's parent-death signal reaches only its direct child.
            ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)

    code = "import time\nwhile True: time.sleep(1)"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, preexec_fn=before_exec)
    record("child_pid", child.pid)
    print(f"started child pid {child.pid}", flush=True)


def main():
    record("pids", os.getpid())
    record("launch_ids", LAUNCH_ID)
    record("tokens", os.environ.get("TOKENIZER_STUDIO_RUNTIME_TOKEN"))
    contract_names = ("TOKENIZER_STUDIO_DATA_DIR", "HF_HOME", "HF_DATASETS_CACHE", "HUGGINGFACE_HUB_CACHE")
    environment = {name: os.environ.get(name) for name in contract_names}
    environment["cwd"] = os.getcwd()
    record("environment", json.dumps(environment))
    print(f"fake engine starting in mode {MODE}", flush=True)

    if MODE == "fail-bind-once":
        marker = os.path.join(STATE_DIR, "bind_failed_once")
        if not os.path.exists(marker):
            open(marker, "w").close()
            print("OSError: [Errno 98] address already in use", file=sys.stderr, flush=True)
            sys.exit(1)

    if MODE == "ignore-sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    if MODE == "flood-stderr":
        line = "x" * 99 + "\n"
        total = int(os.environ.get("FAKE_FLOOD_BYTES", str(4 * 1024 * 1024)))
        for number in range(total // 100):
            sys.stderr.write(f"{number:09d} {line[10:]}")
        sys.stderr.flush()

    if MODE == "spawn-child":
        start_child()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    ready = {
        "port": server.server_address[1],
        "pid": os.getpid(),
        "version": "0.0.0-fake",
        "launch_id": LAUNCH_ID,
    }
    ready_line = "TOKENIZER_STUDIO_READY " + json.dumps(ready)
    if MODE == "device-unusable":
        # A GPU engine whose device check failed: one sentence, the contract's exit code 78.
        print("The GPU engine could not use the NVIDIA GPU: update the driver.", file=sys.stderr, flush=True)
        sys.exit(78)
    if MODE == "never-ready":
        print("still importing things...", flush=True)
    elif MODE == "die-after-ready":
        # Announces a port, then dies before serving it.
        print(ready_line, flush=True)
        print("fatal: could not open the database", file=sys.stderr, flush=True)
        sys.exit(3)
    else:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(ready_line, flush=True)

    # Blocks until the supervisor closes stdin or goes away.
    sys.stdin.buffer.read()
    if MODE == "ignore-sigterm" or os.environ.get("FAKE_IGNORE_STDIN_EOF") == "1":
        # Silent from here on: after a supervisor's death, writing to the broken stdout pipe
        # would end this process and hide whether the parent-death signal works.
        while True:
            time.sleep(1)
    print("stdin closed", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
