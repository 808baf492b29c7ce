#!/usr/bin/env bash
# Shell benchmark: release binary size, launch → UI-ready time (median), idle RSS after UI ready.
#
# Usage: shell/bench.sh [runs]   (default 5; env RUNTIME=<runtime dir>, NO_BUILD=1 to skip cargo)
# "UI ready" is the shell log's "ui loaded" line: the backend's page finished loading in the
# window (after discovery, backend start, /health and the launch-code hand-off).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-5}"
runtime="${RUNTIME:-$root/dist/runtime-linux-x64}"
exe="$root/target/release/tokenizer-studio"

[[ -f "$runtime/manifest.json" ]] || { echo "no runtime at $runtime: run cargo xtask runtime" >&2; exit 1; }
if [[ "${NO_BUILD:-0}" != 1 ]]; then
  (cd "$root" && cargo build --release -p shell --quiet)
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/shell-bench.XXXXXX")"
pids_to_kill=()
cleanup() {
  for pid in "${pids_to_kill[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A private display and session bus, unless the caller has them.
if [[ -z "${DISPLAY:-}" ]]; then
  for n in $(seq 140 189); do
    [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]] && continue
    Xvfb ":$n" -screen 0 1280x900x24 -nolisten tcp >/dev/null 2>&1 &
    pids_to_kill+=("$!")
    export DISPLAY=":$n"
    for _ in $(seq 100); do [[ -e /tmp/.X11-unix/X$n ]] && break; sleep 0.05; done
    break
  done
fi
bus_info="$(dbus-daemon --session --fork --print-address=1 --print-pid=1)"
export DBUS_SESSION_BUS_ADDRESS="$(sed -n 1p <<<"$bus_info")"
pids_to_kill+=("$(sed -n 2p <<<"$bus_info")")

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
descendants() { local p; for p in $(pgrep -P "$1" || true); do echo "$p"; descendants "$p"; done; }

size_bytes="$(stat -c %s "$exe")"
printf 'binary: %s bytes (%.2f MiB)\n' "$size_bytes" "$(echo "$size_bytes / 1048576" | bc -l)"

times=()
data="$work/data"   # shared across runs: run 1 is a first start, the others warm ones
for i in $(seq "$runs"); do
  log="$data/logs/shell.log"
  before=0; [[ -f "$log" ]] && before="$(grep -c 'ui loaded' "$log" || true)"
  start="$(date +%s.%N)"
  TOKENIZER_STUDIO_RUNTIME_DIR="$runtime" TOKENIZER_STUDIO_DATA_DIR="$data" "$exe" >/dev/null 2>&1 &
  shell_pid=$!
  until [[ -f "$log" && "$(grep -c 'ui loaded' "$log" || true)" -gt "$before" ]]; do
    kill -0 "$shell_pid" 2>/dev/null || { echo "the shell exited early; see $log" >&2; exit 1; }
    (( $(echo "$(date +%s.%N) - $start > 120" | bc) )) && { echo "UI not ready after 120 s" >&2; exit 1; }
    sleep 0.02
  done
  elapsed="$(echo "$(date +%s.%N) - $start" | bc -l)"
  times+=("$elapsed")
  printf 'run %d: launch → UI ready %.2f s\n' "$i" "$elapsed"
  if [[ "$i" == "$runs" ]]; then
    sleep 5
    shell_rss="$(rss_kb "$shell_pid")"
    total=0; webkit=0; backend=0
    for pid in $(descendants "$shell_pid"); do
      kb="$(rss_kb "$pid")"; total=$((total + kb))
      case "$(cat /proc/$pid/comm 2>/dev/null)" in
        WebKit*) webkit=$((webkit + kb)) ;;
        python*) backend=$((backend + kb)) ;;
      esac
    done
    printf 'idle RSS after 5 s: shell %d MB; WebKit processes %d MB; backend %d MB; shell + all children %d MB\n' \
      $((shell_rss / 1024)) $((webkit / 1024)) $((backend / 1024)) $(((shell_rss + total) / 1024))
  fi
  kill -TERM "$shell_pid"; wait "$shell_pid" || true
done
median="$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')"
printf 'launch → UI ready: median %.2f s over %d runs (first run includes creating the data folder)\n' "$median" "$runs"
