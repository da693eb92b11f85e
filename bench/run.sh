#!/usr/bin/env bash
# The benchmark, in one command: builds sockscope and the bench tool in release mode, then runs
# it. Arguments go to the tool (bench/run.sh --help): --quick for a fast check, --json FILE to
# keep the results, --runs N, --cache DIR (default target/bench-cache), --no-tshark.
# Needs gcc and libpcap-dev (the floor), tcpdump and tshark (skipped with a note if absent).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin sockscope --example bench
exec "${CARGO_TARGET_DIR:-target}/release/examples/bench" "$@"
