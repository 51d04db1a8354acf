#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing (libpcap), builds, and
# replays the demo capture (captures/demo.pcap, compiled into the binary) through the default
# rules. Alerts go to stdout as JSON Lines, the summary to stderr. Extra arguments are passed
# to `flowsentry replay` (e.g. `scripts/demo.sh --shards 1`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked --quiet
exec target/release/flowsentry replay --no-tui "$@"
