#!/usr/bin/env bash
# Coverage-guided fuzzing of flowsentry's parsers of untrusted input (fuzz/, cargo-fuzz with
# libFuzzer on the stable toolchain through RUSTC_BOOTSTRAP=1).
#
# Usage: scripts/fuzz.sh TARGET SECONDS     one target (scripts/fuzz.sh list names them)
#        scripts/fuzz.sh all SECONDS        each target in turn
#        scripts/fuzz.sh list               the targets
# Seeds come from the project's own files on every run (captures/demo.pcap frames, the rule
# packs and their conditions, wire messages and pmacct lines from the tests), into
# fuzz/corpus/TARGET (not committed; libFuzzer adds what it finds). A dictionary per format
# is in fuzz/dict. Exit status: 0 when no target crashed; otherwise 1, and the crashing
# inputs are in fuzz/artifacts/TARGET: copy each into tests/fuzz-regressions/TARGET/ and
# fix it (tests/regressions.rs replays them all).
# Prints per target: executions, coverage (cov: edges) and execs/s from libFuzzer's summary.
# FUZZ_JOBS=N fuzzes each target in N processes at once (libFuzzer's -fork=N; executions are
# then summed over the processes): a campaign on a machine of N cores. CI runs one.
# Built with coverage instrumentation and debug assertions, without AddressSanitizer
# (`-s none`): librdkafka's configure script, which the flowsentry library links, fails under
# cargo-fuzz's ASan flags. The targets are safe Rust; with debug assertions on, the
# precondition checks of `unsafe` code in dependencies abort on an out-of-bounds read (that
# is how the etherparse overrun showed).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=(decode pcap_file kafka_wire pmacct goflow rules condition netflow)
if [ "${1:-}" = list ]; then printf '%s\n' "${TARGETS[@]}"; exit 0; fi
[ $# -eq 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2; }
what=$1 secs=$2
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

seed() {
  local t=$1 dir=fuzz/corpus/$1
  mkdir -p "$dir"
  case $t in
    decode)
      # Ethernet frames of the demo capture, each prefixed with the link-type selector 1.
      python3 - "$dir" <<'PY'
import struct, sys, os
d = sys.argv[1]
data = open("captures/demo.pcap", "rb").read()
off, n = 24, 0
while off + 16 <= len(data) and n < 400:
    _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
    frame = data[off + 16: off + 16 + incl]
    off += 16 + incl
    if n % 50 == 0 or n < 50:
        open(os.path.join(d, f"demo-{n}"), "wb").write(b"\x01" + frame)
    n += 1
PY
      ;;
    pcap_file)
      # The demo capture's first frames as pcap (both byte orders, nanosecond times) and
      # as pcapng (two interfaces, an odd time resolution).
      python3 - "$dir" <<'PY'
import struct, sys, os
d = sys.argv[1]
data = open("captures/demo.pcap", "rb").read()
off, recs = 24, []
while off + 16 <= len(data) and len(recs) < 12:
    s, u, incl, orig = struct.unpack("<IIII", data[off:off + 16])
    recs.append((s, u, data[off + 16: off + 16 + incl], orig))
    off += 16 + incl
for name, magic, e in (("le", 0xa1b2c3d4, "<"), ("be", 0xa1b2c3d4, ">"), ("ns", 0xa1b23c4d, "<")):
    b = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for s, u, f, o in recs:
        b += struct.pack(e + "IIII", s, u, len(f), o) + f
    open(os.path.join(d, "pcap-" + name), "wb").write(b)
def block(kind, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", kind, n) + body + struct.pack("<I", n)
b = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
b += block(1, struct.pack("<HHI", 1, 0, 65535))
b += block(1, struct.pack("<HHI", 1, 0, 200) + struct.pack("<HHBxxx", 9, 1, 0x94) + b"\0" * 4)
for i, (s, u, f, o) in enumerate(recs):
    t = s * 1000000 + u
    b += block(6, struct.pack("<IIIII", i % 2, t >> 32, t & 0xFFFFFFFF, len(f), o) + f)
b += block(3, struct.pack("<I", len(recs[0][2])) + recs[0][2])
open(os.path.join(d, "pcapng"), "wb").write(b)
PY
      ;;
    netflow)
      # What softflowd exports of the demo capture as NetFlow v5, v9 and IPFIX (templates
      # first), each datagram prefixed by its length, one seed per version.
      for v in 5 9 10; do
        python3 - "$dir/softflowd-v$v" "$v" <<'PY' &
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); s.settimeout(3)
open(sys.argv[1] + ".port", "w").write(str(s.getsockname()[1]))
out = b""
try:
    while len(out) < 20000:
        d = s.recv(65535); out += struct.pack(">H", len(d)) + d
except socket.timeout:
    pass
# Small inputs run fast (the collector's cost grows with the flows an input holds): one
# seed per datagram, each after the first datagram, which carries the templates.
grams, rest = [], out
while len(rest) >= 2:
    n = struct.unpack(">H", rest[:2])[0]
    grams.append(rest[:2 + n]); rest = rest[2 + n:]
for i, g in enumerate(grams[:24]):
    open(f"{sys.argv[1]}-{i}", "wb").write(g if i == 0 else grams[0] + g)
PY
        while [ ! -s "$dir/softflowd-v$v.port" ]; do sleep 0.1; done
        ctl=$(mktemp -u)
        softflowd -r captures/demo.pcap -n "127.0.0.1:$(cat "$dir/softflowd-v$v.port")" -v "$v" -d -c "$ctl" >/dev/null 2>&1 &
        while [ ! -S "$ctl" ]; do sleep 0.1; done
        sleep 0.5; softflowctl -c "$ctl" expire-all >/dev/null; softflowctl -c "$ctl" shutdown >/dev/null
        wait; rm -f "$dir/softflowd-v$v.port"
      done
      # sFlow v5: what pmacctd's sfprobe exports of the demo capture (1 in 10 sampled),
      # one seed a datagram.
      python3 - "$dir/sfprobe" <<'PY' &
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); s.settimeout(5)
open(sys.argv[1] + ".port", "w").write(str(s.getsockname()[1]))
try:
    for i in range(16):
        d = s.recv(65535)
        open(f"{sys.argv[1]}-{i}", "wb").write(struct.pack(">H", len(d)) + d)
except socket.timeout:
    pass
PY
      while [ ! -s "$dir/sfprobe.port" ]; do sleep 0.1; done
      printf 'daemonize: false\npcap_savefile: captures/demo.pcap\nplugins: sfprobe\nsfprobe_receiver: 127.0.0.1:%s\nsampling_rate: 10\n' \
        "$(cat "$dir/sfprobe.port")" > "$dir/sfprobe.conf"
      pmacctd -f "$dir/sfprobe.conf" >/dev/null 2>&1 || true
      wait; rm -f "$dir/sfprobe.port" "$dir/sfprobe.conf"
      ;;
    rules)
      # One rule a seed (a whole pack is 10 kB, and the parser's cost grows with the text),
      # and the packs' header comments apart; the fuzzer combines them.
      python3 - "$dir" <<'PY'
import glob, os, sys
for f in sorted(glob.glob("rules/*.toml")):
    for i, part in enumerate(open(f).read().split("[[rule]]")):
        open(os.path.join(sys.argv[1], f"{os.path.basename(f)}-{i}"), "w").write(
            part if i == 0 else "[[rule]]" + part)
PY
      ;;
    condition) grep -h '^condition' rules/*.toml | sed 's/^condition = "\(.*\)"$/\1/' |
                 awk -v d="$dir" '{ f = d "/c" NR; print > f; close(f) }' ;;
    pmacct) printf '%s' '{"event_type": "purge", "ip_src": "172.16.0.8", "ip_dst": "64.13.134.52", "port_src": 36050, "port_dst": 443, "ip_proto": "tcp", "tcp_flags": "2", "timestamp_start": "2010-08-23 14:38:36.123456", "timestamp_end": "2010-08-23 14:38:36.123456", "packets": 1, "bytes": 44}' > "$dir/syn" ;;
    goflow)
      # A SYN as goflow2 v2 writes it (length-delimited FlowMessage: addresses, bytes,
      # packets, proto, ports, flags, start time), and as its JSON.
      printf '\x21\x32\x04\x0a\x00\x00\x01\x3a\x04\x0a\x00\x00\x02\x48\x2c\x50\x01\xa0\x01\x06\xa8\x01\xc0\xb8\x02\xb0\x01\x16\xd0\x01\x02\xf8\x06\x01' > "$dir/syn.pb"
      printf '%s' '{"type":"IPFIX","time_flow_start_ns":5000000000,"time_flow_end_ns":5000000000,"bytes":44,"packets":1,"src_addr":"10.0.0.1","dst_addr":"10.0.0.2","proto":"TCP","src_port":40000,"dst_port":22,"tcp_flags":2,"sampling_rate":10}' > "$dir/syn.json" ;;
    kafka_wire)
      # A one-record message: header, then kind, time delta, addresses, ports, protocol...
      printf 'FSPR\x01\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0a\x00\x00\x01\x0a\x00\x00\x02\x9c\x40\x00\x16\x06\x02\x00\x00\x28\x36' > "$dir/one" ;;
  esac
}

run() {
  local t=$1 log
  seed "$t"
  log=$(mktemp)
  echo "fuzz: $t for ${secs}s${FUZZ_JOBS:+ in $FUZZ_JOBS processes}" >&2
  local rc=0 fork=()
  if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then fork=(-fork="$FUZZ_JOBS"); fi
  (cd fuzz && cargo fuzz run -s none "$t" "corpus/$t" -- -max_total_time="$secs" -dict="dict/$t.dict" \
     -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 "${fork[@]}") >"$log" 2>&1 || rc=$?
  local execs cov eps
  if [ ${#fork[@]} -gt 0 ]; then
    # Fork mode: the parent's last status line counts every process's executions.
    execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    eps=$(( ${execs:-0} / secs ))
  else
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  fi
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  echo "| $t | ${secs} s | $execs | $eps | $cov | $([ $rc -eq 0 ] && echo none || echo CRASH) |"
  if [ $rc -ne 0 ]; then tail -40 "$log" >&2; fi
  rm -f "$log"
  return $rc
}

(cd fuzz && cargo fuzz build -s none) >&2
echo "| target | time | executions | execs/s | coverage (edges) | crashes |"
echo "|---|---:|---:|---:|---:|---|"
status=0
if [ "$what" = all ]; then
  for t in "${TARGETS[@]}"; do run "$t" || status=1; done
else
  run "$what" || status=1
fi
exit $status
