#!/usr/bin/env bash
# Flow collector benchmark: `flowsentry collect` against nfcapd (nfdump's collector, the
# reference) on the same NetFlow v9 datagrams, received over loopback.
#
# Usage: scripts/bench-collect.sh [--pcap FILE] [--repeat N] [--rate R] [-v 9|10]
#   --pcap FILE   capture softflowd exports (default bench-data/bench.pcap, generated if
#                 missing with `flowsentry synth --scenario bench`)
#   --repeat N    send the recorded export N times (default 5)
#   --rate R      datagrams a second sent (default 20000): below what both collectors
#                 keep up with, so that neither loses datagrams and CPU time is comparable
#   -v V          NetFlow version softflowd exports (9, or 10 for IPFIX; default 9)
# Environment: FLOWSENTRY=prebuilt binary (default: cargo build --release).
#
# softflowd reads the capture once and its export is recorded (bench-data/collect-vV.bin,
# datagrams with a 2-byte length each); a paced sender then replays it to each collector in
# turn. Reported per collector: datagrams and flows it counted (a check that nothing was
# lost), the CPU time its process used (user + system, every thread, from /proc), and so
# datagrams and flows per CPU-second: the rate on one core. flowsentry runs the full default
# rule pack on the flows (`--alerts /dev/null`); nfcapd writes them to its files. Peak RSS is
# VmHWM.
set -euo pipefail
cd "$(dirname "$0")/.."

PCAP=bench-data/bench.pcap
REPEAT=5
RATE=20000
VERSION=9
while (($#)); do
  case "$1" in
    --pcap) PCAP="$2"; shift 2 ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    -v) VERSION="$2"; shift 2 ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench-collect: unknown argument $1" >&2; exit 2 ;;
  esac
done
for t in softflowd softflowctl nfcapd /usr/bin/python3; do
  command -v "$t" >/dev/null || { echo "bench-collect: $t missing (scripts/setup.sh)" >&2; exit 2; }
done
BIN=${FLOWSENTRY:-}
if [ -z "$BIN" ]; then
  cargo build --release --locked -q
  BIN=target/release/flowsentry
fi
mkdir -p bench-data
if [ ! -f "$PCAP" ]; then
  "$BIN" synth --scenario bench --out "$PCAP" >&2
fi
# Large socket buffers for the recorder and the collectors (root; restored at exit).
old_rmem=$(sysctl -n net.core.rmem_max)
sysctl -qw net.core.rmem_max=67108864
work=$(mktemp -d)
cleanup() {
  sysctl -qw net.core.rmem_max="$old_rmem"
  pkill -P $$ 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

REC=bench-data/collect-v$VERSION.bin
if [ ! -s "$REC" ] || [ "$REC" -ot "$PCAP" ]; then
  port=$(free_port)
  /usr/bin/python3 - "$port" "$REC" <<'PY' &
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
s.bind(("127.0.0.1", int(sys.argv[1])))
# softflowd exports once it has read the whole capture; then 3 s of silence is the end.
s.settimeout(300.0)
n = 0
with open(sys.argv[2] + ".part", "wb") as f:
    try:
        while True:
            d = s.recv(65535)
            f.write(struct.pack(">H", len(d)) + d)
            n += 1
            s.settimeout(3.0)
    except socket.timeout:
        pass
import os
os.replace(sys.argv[2] + ".part", sys.argv[2])
print(f"bench-collect: recorded {n} datagrams", file=sys.stderr)
PY
  rec=$!
  sleep 0.5
  softflowd -r "$PCAP" -n "127.0.0.1:$port" -v "$VERSION" -d -m 2000000 -c "$work/sf.ctl" >/dev/null 2>&1 &
  sf=$!
  while [ ! -S "$work/sf.ctl" ]; do sleep 0.2; done
  sleep 1
  softflowctl -c "$work/sf.ctl" expire-all >/dev/null
  softflowctl -c "$work/sf.ctl" shutdown >/dev/null
  wait "$sf" || true
  wait "$rec"
fi

# Send the recording REPEAT times at RATE datagrams a second.
send() {
  /usr/bin/python3 - "$1" "$REC" "$REPEAT" "$RATE" <<'PY'
import socket, struct, sys, time
port, path, repeat, rate = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
data = open(path, "rb").read()
dgrams, at = [], 0
while at < len(data):
    (n,) = struct.unpack_from(">H", data, at)
    dgrams.append(data[at + 2 : at + 2 + n])
    at += 2 + n
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0, sent = time.monotonic(), 0
for _ in range(repeat):
    for d in dgrams:
        s.sendto(d, ("127.0.0.1", port))
        sent += 1
        if sent % 100 == 0:
            ahead = sent / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
print(sent)
PY
}

# Run a collector under GNU time (CPU of every thread, peak RSS, counted to its exit: what
# it queued is processed before it exits), send it the recording, stop it with SIGTERM.
measure() { # name, command...
  local name=$1; shift
  /usr/bin/time -f "%U %S %M" -o "$work/$name.time" "$@" &
  local tp=$! child=""
  while [ -z "$child" ]; do sleep 0.1; child=$(pgrep -P "$tp" || true); done
  sleep 1
  sent=$(send "$port")
  sleep 2
  kill -TERM "$child"
  wait "$tp" || true
  read -r user sys rss_kb < "$work/$name.time"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
  rss=$((rss_kb / 1024))
}

report() { # name datagrams flows cpu rss
  awk -v n="$1" -v d="$2" -v f="$3" -v c="$4" -v r="$5" 'BEGIN {
    printf "| %s | %d | %d | %.2f s | %.0f k | %.2f M | %s MB |\n", n, d, f, c, d / c / 1000, f / c / 1e6, r }'
}

echo "| collector | datagrams | flows | CPU | datagrams/CPU-s | flows/CPU-s | peak RSS |"
echo "|---|---:|---:|---:|---:|---:|---:|"

port=$(free_port)
mkdir -p "$work/nf"
measure nfcapd nfcapd -w "$work/nf" -b 127.0.0.1 -p "$port" -t 3600 -B 67108864
flows=$(nfdump -R "$work/nf" -I 2>/dev/null | awk '/^Flows:/ { print $2 }')
report "nfcapd $(nfcapd -V 2>&1 | grep -o 'Version: [^ ]*' | cut -d' ' -f2)" "$sent" "$flows" "$cpu" "$rss"

port=$(free_port)
measure flowsentry "$BIN" collect --listen "127.0.0.1:$port" --no-tui -q --alerts /dev/null --summary "$work/s.json"
got=$(/usr/bin/python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["flow_export"]["stats"]; print(s["datagrams"], s["flows"])' "$work/s.json")
report "flowsentry $(git rev-parse --short HEAD)" ${got% *} ${got#* } "$cpu" "$rss"
echo "sent $sent datagrams to each ($REPEAT x $(basename "$REC")) at $RATE/s"
