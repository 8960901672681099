#!/usr/bin/env bash
# Runs Gatehouse's whole test suite on a fresh machine: creates the Python venv with DuckDB and the
# deltalake package (used to check that other engines read the store) and the Microsoft Graph SDKs
# (used to check the Graph API), installs Chromium and chromedriver (the web console is tested in a
# real browser; Debian's packages, with apt-get, when they are missing) and Azurite (the storage
# emulator, from npm: the blob connector is tested against it) and Tansu (a Kafka-compatible
# broker, with cargo install: the Kafka connector is tested against it), then runs every Rust test
# in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import duckdb, deltalake, pyarrow, msgraph, msgraph_beta, azure.storage.blob, kafka' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
fi
export GATEHOUSE_PYTHON="$PWD/.venv/bin/python"

if ! command -v chromedriver >/dev/null || ! { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver
fi

# socat puts a TLS listener in front of the test Kafka broker (Tansu 0.6 has none of its own).
if ! command -v socat >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq socat
fi

# Azurite, the storage emulator, for the blob connector's tests (from the npm registry).
if [ ! -x .azurite/node_modules/.bin/azurite-blob ]; then
  if ! command -v npm >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm
  fi
  npm install --prefix .azurite --no-audit --no-fund --silent azurite@3.35.0
fi
export GATEHOUSE_AZURITE="$PWD/.azurite/node_modules/.bin/azurite-blob"

# Tansu, a Kafka-compatible broker (a Rust crate), for the Kafka connector's tests: built once
# into a cache folder outside the clone (about 20 minutes on 2 cores the first time), with its
# in-memory and SQLite storage engines.
tools="${GATEHOUSE_TOOLS:-$HOME/.cache/gatehouse-tools}"
if [ ! -x "$tools/bin/tansu" ] || [ "$(cat "$tools/tansu.features" 2>/dev/null)" != "dynostore,libsql" ]; then
  CARGO_TARGET_DIR="$tools/target" cargo install tansu --version 0.6.0 --locked \
    --features dynostore,libsql --root "$tools" --force
  echo "dynostore,libsql" > "$tools/tansu.features"
fi
export GATEHOUSE_TANSU="$tools/bin/tansu"

cargo test --workspace --locked
