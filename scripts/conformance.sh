#!/usr/bin/env bash
# OpenAI and Anthropic Python SDK conformance: runs tests/python/test_openai_sdk.py (official
# `openai` client) and tests/python/test_anthropic_sdk.py (official `anthropic` client, against
# `POST /v1/messages`) against a real gateway in front of the testkit fake provider, both on
# loopback.
#
# Needs `cargo build --workspace --all-targets` first (scripts/test.sh does it). Creates .venv
# (git-ignored) with `openai`, `anthropic` and `httpx` when missing. The gateway is `switchyard serve
# --config FILE` when the CLI has it, else the gateway/examples/serve_for_conformance launcher;
# SWITCHYARD_CONFORMANCE_LAUNCHER=serve|example forces one. Background processes are always
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/debug
VENV=.venv
TMP="$(mktemp -d)"
PIDS=()

cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ]; then
    for log in "$TMP"/*.log; do
      [ -s "$log" ] && { echo "--- $log"; tail -n 40 "$log"; }
    done
  fi
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() { echo "conformance: $*" >&2; exit 1; }

for bin in "$BIN/testkit"; do
  [ -x "$bin" ] || die "$bin is missing; run \`cargo build --workspace --all-targets\` first"
done

# The Python side: a private venv, installed once.
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import openai, anthropic, httpx' 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check openai anthropic httpx
fi
PY="$VENV/bin/python"

# Waits (at most 60 s) until FILE has a line matching the extended regex, then prints it.
wait_for_line() {
  local file=$1 pattern=$2 pid=$3 line
  for _ in $(seq 600); do
    line=$(grep -m1 -E "$pattern" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then
      echo "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "process $pid exited before printing /$pattern/ (see $file)"
    sleep 0.1
  done
  die "timed out waiting for /$pattern/ in $file"
}

# The fake provider prints its base URL (http://127.0.0.1:PORT) on its first line.
"$BIN/testkit" --port 0 >"$TMP/fake.log" 2>&1 &
PIDS+=($!)
FAKE_URL=$(wait_for_line "$TMP/fake.log" '^http://127\.0\.0\.1:[0-9]+' "${PIDS[-1]}")
FAKE_URL=${FAKE_URL%%[[:space:]]*}

launcher=${SWITCHYARD_CONFORMANCE_LAUNCHER:-}
if [ -z "$launcher" ]; then
  if [ -x "$BIN/switchyard" ] && "$BIN/switchyard" serve --help >/dev/null 2>&1; then
    launcher=serve
  else
    launcher=example
  fi
fi

case "$launcher" in
  serve)
    cat >"$TMP/gateway.toml" <<EOF
[server]
bind = "127.0.0.1:0"

[[providers]]
name = "openai"
kind = "openai"
base_url = "$FAKE_URL/v1"
api_key_env = "SWITCHYARD_CONFORMANCE_KEY"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "$FAKE_URL"
api_key_env = "SWITCHYARD_CONFORMANCE_KEY"

[router]
candidates = ["gpt-4o-mini", "gpt-4o", "claude-haiku-4.5"]

[log]
sqlite = "$TMP/outcomes.sqlite"
EOF
    # With fetched weights the bundled router artifact (encoder + predictor) routes `auto`;
    # without them, catalog priors (never a download from here).
    extra=()
    [ -f .switchyard/encoder/all-MiniLM-L6-v2/model.safetensors ] || extra=(--priors-only)
    SWITCHYARD_CONFORMANCE_KEY=sk-fake "$BIN/switchyard" serve --config "$TMP/gateway.toml" \
      --bind 127.0.0.1:0 "${extra[@]}" >"$TMP/gateway.log" 2>&1 &
    PIDS+=($!)
    # serve prints `switchyard listening on http://127.0.0.1:PORT` once bound.
    line=$(wait_for_line "$TMP/gateway.log" 'listening on http://127\.0\.0\.1:[0-9]+' "${PIDS[-1]}")
    SWITCHYARD_URL="http://${line##*http://}"
    SWITCHYARD_URL=${SWITCHYARD_URL%%[[:space:]]*}
    ;;
  example)
    LAUNCHER="$BIN/examples/serve_for_conformance"
    [ -x "$LAUNCHER" ] || die "$LAUNCHER is missing; run \`cargo build --workspace --all-targets\` first"
    "$LAUNCHER" "$FAKE_URL" "$TMP" >"$TMP/gateway.log" 2>&1 &
    PIDS+=($!)
    line=$(wait_for_line "$TMP/gateway.log" '^SWITCHYARD_URL=http://' "${PIDS[-1]}")
    SWITCHYARD_URL=${line#SWITCHYARD_URL=}
    ;;
  *)
    die "SWITCHYARD_CONFORMANCE_LAUNCHER must be serve or example, not '$launcher'"
    ;;
esac

echo "conformance: gateway ($launcher) at $SWITCHYARD_URL, fake provider at $FAKE_URL"
export SWITCHYARD_URL
"$PY" -m unittest tests/python/test_openai_sdk.py -v
"$PY" -m unittest tests/python/test_anthropic_sdk.py -v

# Client keys (issue 11): keys made by the CLI, a second gateway over that database.
if [ "$launcher" = serve ]; then
  sed "s#$TMP/outcomes.sqlite#$TMP/keyed.sqlite#" "$TMP/gateway.toml" >"$TMP/keyed.toml"
  mk() { "$BIN/switchyard" keys create --config "$TMP/keyed.toml" --name "$@" 2>>"$TMP/keys.log"; }
  SWITCHYARD_KEY_OK=$(mk ok)
  SWITCHYARD_KEY_RPM=$(mk rpm --rpm 1)
  SWITCHYARD_KEY_BUDGET=$(mk budget --budget-usd 0.0000001 --period day)
  SWITCHYARD_KEY_MINI=$(mk mini --models gpt-4o-mini)
  export SWITCHYARD_KEY_OK SWITCHYARD_KEY_RPM SWITCHYARD_KEY_BUDGET SWITCHYARD_KEY_MINI
  SWITCHYARD_CONFORMANCE_KEY=sk-fake "$BIN/switchyard" serve --config "$TMP/keyed.toml" \
    --bind 127.0.0.1:0 --priors-only >"$TMP/keyed.log" 2>&1 &
  PIDS+=($!)
  line=$(wait_for_line "$TMP/keyed.log" 'listening on http://127\.0\.0\.1:[0-9]+' "${PIDS[-1]}")
  SWITCHYARD_KEYED_URL="http://${line##*http://}"
  export SWITCHYARD_KEYED_URL=${SWITCHYARD_KEYED_URL%%[[:space:]]*}
  echo "conformance: keyed gateway at $SWITCHYARD_KEYED_URL"
  "$PY" -m unittest tests/python/test_openai_sdk_keys.py -v
  "$BIN/switchyard" spend --config "$TMP/keyed.toml" --by key
fi
