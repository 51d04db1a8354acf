#!/usr/bin/env bash
# The Kafka-compatible broker flowsentry's Kafka tests and benchmark run against: nisshi
# (formerly Tansu, from crates.io), one node on 127.0.0.1:9092, in-memory storage (its data
# is gone when it stops). Everything stays on 127.0.0.1.
#
#   scripts/broker.sh install     build and install nisshi if missing (about 8 min on 2 cores)
#   scripts/broker.sh start       install if missing, start, wait until it accepts connections
#   scripts/broker.sh stop        stop the broker `start` started (by its pid)
#   scripts/broker.sh kill        kill the broker at once (SIGKILL: a crash, for tests)
#   scripts/broker.sh restart     stop, then start (an empty broker again)
#   scripts/broker.sh status      exit 0 when the broker accepts connections
#   scripts/broker.sh clientlib   print a directory holding librdkafka.so.1 2.16 (from the
#                                 confluent-kafka wheel on PyPI), installing it if missing:
#                                 Debian's librdkafka 2.0.2 (kcat, pmacct) cannot talk to
#                                 nisshi, so run them with LD_LIBRARY_PATH=<that directory>
#
# Environment: FLOWSENTRY_TOOLS (install prefix, default ~/.local/flowsentry),
# FLOWSENTRY_BROKER_PORT (default 9092), FLOWSENTRY_BROKER_RUN (pid and log directory,
# default /tmp/flowsentry-broker).
set -euo pipefail

NISSHI_VERSION=0.6.0 # 0.7 and later need a newer rustc than the project's
CONFLUENT_KAFKA_VERSION=2.16.1
TOOLS=${FLOWSENTRY_TOOLS:-$HOME/.local/flowsentry}
NISSHI=$TOOLS/nisshi-$NISSHI_VERSION/bin/nisshi
CLIENTLIB=$TOOLS/librdkafka-$CONFLUENT_KAFKA_VERSION
PORT=${FLOWSENTRY_BROKER_PORT:-9092}
RUN=${FLOWSENTRY_BROKER_RUN:-/tmp/flowsentry-broker}
URL=tcp://127.0.0.1:$PORT

say() { echo "broker.sh: $*" >&2; }

accepting() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

install() {
  [ -x "$NISSHI" ] && return 0
  mkdir -p "$TOOLS"
  # One install at a time (tests and scripts may start together).
  exec 9>"$TOOLS/.nisshi-install.lock"
  flock 9
  [ -x "$NISSHI" ] && return 0
  say "installing nisshi $NISSHI_VERSION into $TOOLS (cargo install; about 8 minutes on 2 cores)"
  local target
  target=$(mktemp -d /tmp/nisshi-build.XXXXXX)
  # Only the in-memory/object-store engine: the other engines' native dependencies are
  # neither needed nor quick to build.
  if ! CARGO_TARGET_DIR=$target cargo install nisshi --version "$NISSHI_VERSION" --locked \
      --no-default-features --features dynostore --root "$TOOLS/nisshi-$NISSHI_VERSION" \
      >"$TOOLS/nisshi-install.log" 2>&1; then
    tail -n 30 "$TOOLS/nisshi-install.log" >&2
    rm -rf "$target"
    say "installing nisshi failed (log: $TOOLS/nisshi-install.log)"
    return 1
  fi
  rm -rf "$target"
  say "installed $NISSHI"
}

clientlib() {
  if [ ! -e "$CLIENTLIB/librdkafka.so.1" ]; then
    mkdir -p "$TOOLS"
    local tmp
    tmp=$(mktemp -d /tmp/ck-wheel.XXXXXX)
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      "confluent-kafka==$CONFLUENT_KAFKA_VERSION" -d "$tmp" >&2
    python3 - "$tmp"/confluent_kafka-*.whl "$CLIENTLIB" <<'EOF'
import os, shutil, sys, zipfile
whl, dest = sys.argv[1], sys.argv[2]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(whl) as z:
    libs = [n for n in z.namelist() if n.startswith("confluent_kafka.libs/librdkafka")]
    if not libs:
        sys.exit("no librdkafka in " + whl)
    with z.open(libs[0]) as src, open(os.path.join(dest, "librdkafka.so.1.tmp"), "wb") as out:
        shutil.copyfileobj(src, out)
os.rename(os.path.join(dest, "librdkafka.so.1.tmp"), os.path.join(dest, "librdkafka.so.1"))
EOF
    rm -rf "$tmp"
  fi
  echo "$CLIENTLIB"
}

pidfile() { echo "$RUN/nisshi.pid"; }

start() {
  if accepting; then
    if [ -f "$(pidfile)" ] && kill -0 "$(cat "$(pidfile)")" 2>/dev/null; then
      say "already running (pid $(cat "$(pidfile)")) on 127.0.0.1:$PORT"
    else
      say "something already listens on 127.0.0.1:$PORT; using it (not started here)"
    fi
    return 0
  fi
  install
  # The client library kcat and pmacct need against nisshi (tests, benchmark).
  clientlib >/dev/null || say "could not install librdkafka $CONFLUENT_KAFKA_VERSION (clientlib)"
  mkdir -p "$RUN"
  # setsid: the broker outlives this script, and a terminal's Ctrl-C does not reach it.
  setsid "$NISSHI" broker --listener-url "$URL" --advertised-listener-url "$URL" \
    --storage-engine memory://nisshi/ >"$RUN/nisshi.log" 2>&1 </dev/null &
  echo $! >"$(pidfile)"
  for _ in $(seq 1 300); do
    if accepting; then
      say "nisshi $NISSHI_VERSION listening on 127.0.0.1:$PORT (pid $(cat "$(pidfile)"), log $RUN/nisshi.log)"
      return 0
    fi
    if ! kill -0 "$(cat "$(pidfile)")" 2>/dev/null; then
      tail -n 20 "$RUN/nisshi.log" >&2 || true
      say "nisshi exited during start"
      return 1
    fi
    sleep 0.1
  done
  say "nisshi does not accept connections after 30 s (log $RUN/nisshi.log)"
  return 1
}

stop() {
  local sig=${1:-TERM} f pid
  f=$(pidfile)
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    # The store is in memory: nothing to shut down cleanly, and nisshi may wait a long
    # time for its clients before it exits on SIGTERM.
    kill -s "$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
  # The port is free once the process is gone; wait for the listener to close.
  for _ in $(seq 1 50); do
    accepting || break
    sleep 0.1
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  kill) stop KILL ;;
  restart) stop; start ;;
  status) accepting ;;
  clientlib) clientlib ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
