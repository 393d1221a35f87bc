#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy with -D warnings, and all tests (unit, property
# and black-box tests against the real binary with redis-cli, redis-benchmark and redis-py).
# Installs redis-tools and redis-py first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-cli >/dev/null 2>&1 || ! command -v redis-benchmark >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-tools (redis-cli, redis-benchmark)..."
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-tools redis-server >/dev/null
fi
if ! python3 -c "import redis" >/dev/null 2>&1; then
  echo "installing redis-py..."
  python3 -m pip install -q redis
fi

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
