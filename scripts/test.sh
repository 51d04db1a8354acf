#!/usr/bin/env bash
# Run every test of flowsentry: installs what is missing, starts the services the tests use,
# runs the whole cargo test suite, stops the services. This is the README's test command and
# what CI runs (`.ci/run`). In CI (CI=true) every optional part is required: a test that
# needs root, a tool or the broker fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

if [ "${CI:-}" = "true" ]; then
  export FLOWSENTRY_REQUIRE_ALL=1
fi

# Services used by tests are started here and stopped on exit, even on failure.
cleanup() {
  bash scripts/broker.sh stop || true
}
trap cleanup EXIT

# The Kafka broker on 127.0.0.1:9092 (nisshi, built on first use: about 8 minutes), started
# before any test runs: tests/kafka.rs and the sensor test of tests/live.rs (`publish -i`) use
# it. If it cannot start, those tests skip, or fail in CI.
bash scripts/broker.sh start || echo "test.sh: the Kafka broker did not start" >&2

cargo build --release --locked --all-targets
cargo test --release --locked --all-targets -- --test-threads=2
# The decoder's unit tests and the regression inputs again with debug assertions and overflow
# checks on (profile `checked`), where precondition checks inside dependencies are live: an
# out-of-bounds read there aborts instead of passing silently as in --release.
cargo test --profile checked --locked --lib --test regressions -- --test-threads=2
# Every fuzz target for 30 s (fuzz/, cargo-fuzz): any crash fails the run, and its input is
# left in fuzz/artifacts/TARGET for a regression test under tests/fuzz-regressions/.
bash scripts/fuzz.sh all 30
