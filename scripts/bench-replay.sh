#!/usr/bin/env bash
# Whole-process replay benchmark: `flowsentry replay` against the libpcap floor
# (`tcpdump -r FILE -w /dev/null`: read and write every packet, no analysis).
#
# Usage: scripts/bench-replay.sh [-n RUNS] [--mix NAME | --pcap FILE] [--max-load L]
#   -n RUNS        measured runs per command (default 5; one extra unmeasured warm-up run each)
#   --mix NAME     traffic mix (a `flowsentry synth` throughput scenario): bench (default:
#                  ~3.2M packets, ~25,000 clients and every attack), many-clients (20,000
#                  clients, 50 servers, DNS, 60 s), spoofed-million (SYN flood from 1M spoofed
#                  sources), scan-heavy (5,000 slow scanners among clients); the capture is
#                  bench-data/NAME.pcap, generated if missing
#   --pcap FILE    capture to replay instead of a mix
#   --max-load L   wait (up to 10 x 30 s) until the 1-minute load average is below L before
#                  measuring (default 1.5); measures anyway after that and says so
# Environment: FLOWSENTRY=path to use a prebuilt binary instead of building
#   ${CARGO_TARGET_DIR:-target}/release/flowsentry; SOURCE_COMMIT=hash to report when run
#   outside a git checkout (e.g. from a `git archive` export).
#
# Prints machine facts, then a Markdown table: min and median wall time of RUNS runs,
# packets/s at the min, median CPU time (user + sys), peak RSS (GNU time's %M, max over
# runs), and the ratios to tcpdump.
# Commands run interleaved (one of each per round) so background load hits all alike.
# Installs what it uses when missing (Debian/Ubuntu: tcpdump, time, jq; when it builds, the
# build dependencies through scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=5
MIX=bench
PCAP=
MAX_LOAD=1.5
PCAP_GIVEN=0
while (($#)); do
  case "$1" in
    -n) RUNS="$2"; shift 2 ;;
    --pcap) PCAP="$2"; PCAP_GIVEN=1; shift 2 ;;
    --mix) MIX="$2"; shift 2 ;;
    --max-load) MAX_LOAD="$2"; shift 2 ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "bench-replay: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$MIX" in
  bench | many-clients | spoofed-million | scan-heavy) ;;
  *) echo "bench-replay: unknown mix $MIX (bench, many-clients, spoofed-million, scan-heavy)" >&2; exit 2 ;;
esac
[ -n "$PCAP" ] || PCAP=bench-data/$MIX.pcap

# ---- tools ----
need=()
command -v tcpdump >/dev/null || need+=(tcpdump)
[ -x /usr/bin/time ] || need+=(time)
command -v jq >/dev/null || need+=(jq)
if ((${#need[@]})); then
  echo "bench-replay: installing ${need[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
TCPDUMP=$(command -v tcpdump)

if [ -n "${FLOWSENTRY:-}" ]; then
  BIN=$FLOWSENTRY
else
  command -v cargo >/dev/null || { echo "bench-replay: cargo not found (install Rust: https://rustup.rs)" >&2; exit 2; }
  BIN=${CARGO_TARGET_DIR:-target}/release/flowsentry
  bash scripts/setup.sh # build dependencies (libpcap, librdkafka's), idempotent
  echo "bench-replay: cargo build --release --bin flowsentry" >&2
  cargo build --release --bin flowsentry >&2
fi

# ---- capture ----
if [ ! -s "$PCAP" ]; then
  mkdir -p "$(dirname "$PCAP")"
  echo "bench-replay: generating $PCAP" >&2
  "$BIN" synth --scenario "$MIX" --out "$PCAP" >&2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# ---- warm the page cache, count packets ----
cat "$PCAP" >/dev/null
cat "$PCAP" >/dev/null
"$BIN" replay -q "$PCAP" --alerts "$WORK/alerts.jsonl" --summary "$WORK/summary.json"
PACKETS=$(jq .packets "$WORK/summary.json")
SOURCES=$(jq .keys_peak "$WORK/summary.json")
ALERTS=$(jq .alerts "$WORK/summary.json")
SHA=$(sha256sum "$PCAP" | cut -c1-16)
NOTE=""
MIN_KEYS=20000
[ "$MIX" = bench ] || MIN_KEYS=10000
if ((PACKETS < 2900000 || SOURCES < MIN_KEYS)); then
  # bench-data/ is shared with other scripts (scripts/bench-live.sh makes a 1M-packet
  # bench.pcap): never measure a smaller capture by accident, never overwrite it.
  if ((PCAP_GIVEN == 0)); then
    echo "bench-replay: $PCAP has $PACKETS packets / $SOURCES keys, not the >= 2.9M-packet," \
      ">= $MIN_KEYS-key $MIX capture; move it away (it is regenerated) or pass --pcap" >&2
    exit 2
  fi
  NOTE=" -- WARNING: fewer than 2.9M packets or $MIN_KEYS keys"
  echo "bench-replay:$NOTE" >&2
fi

# ---- load ----
load1() { cut -d' ' -f1 /proc/loadavg; }
waited=0
for _ in $(seq 10); do
  awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l < m) }' && break
  echo "bench-replay: load average $(load1) >= $MAX_LOAD, waiting 30 s" >&2
  sleep 30
  waited=$((waited + 30))
done
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

NAMES=(
  "tcpdump -r FILE -w /dev/null"
  "flowsentry replay -q FILE --alerts /dev/null"
  "flowsentry replay -q FILE --alerts /dev/null --shards 1"
  "flowsentry replay -q FILE --alerts /dev/null --shards 2"
)
# The argv of command `i` in CMD.
set_cmd() {
  case "$1" in
    0) CMD=("$TCPDUMP" -r "$PCAP" -w /dev/null) ;;
    1) CMD=("$BIN" replay -q "$PCAP" --alerts /dev/null) ;;
    2) CMD=("$BIN" replay -q "$PCAP" --alerts /dev/null --shards 1) ;;
    3) CMD=("$BIN" replay -q "$PCAP" --alerts /dev/null --shards 2) ;;
  esac
}
run_cmd() { set_cmd "$1"; "${CMD[@]}" >/dev/null 2>&1; }

# One measured run: wall time (ns clock, stored in us), peak RSS in KiB and user + system
# CPU seconds (GNU time %M %U %S of the command itself, no shell in between).
measure() { # index round
  local t0 t1
  set_cmd "$1"
  # Re-read the file first (not timed): a VM's balloon driver can take page cache back
  # between runs (seen here: ~3 MB/s), and the runs would then read part of it from disk.
  cat "$PCAP" >/dev/null
  t0=$(date +%s%N)
  /usr/bin/time -f '%M %U %S' -o "$WORK/time.$1.$2" "${CMD[@]}" >/dev/null 2>&1
  t1=$(date +%s%N)
  echo "$(((t1 - t0) / 1000))" >>"$WORK/wall.$1"
  awk '{ print $1 }' "$WORK/time.$1.$2" >>"$WORK/rss.$1"
  awk '{ print $2 + $3 }' "$WORK/time.$1.$2" >>"$WORK/cpu.$1"
}

START=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
for i in "${!NAMES[@]}"; do run_cmd "$i"; done # unmeasured warm-up
for r in $(seq "$RUNS"); do
  for i in "${!NAMES[@]}"; do measure "$i" "$r"; done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# min and median of a file of numbers
stat_min() { sort -n "$1" | head -1; }
stat_med() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
stat_max() { sort -n "$1" | tail -1; }

BASE_MIN=$(stat_min "$WORK/wall.0")
BASE_MED=$(stat_med "$WORK/wall.0")

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
if git rev-parse --git-dir >/dev/null 2>&1; then
  COMMIT=$(git rev-parse --short HEAD)
  DIRTY=$(git status --porcelain --untracked-files=no | grep -q . && echo " (working tree has uncommitted changes)" || true)
else # e.g. a `git archive` export: say which commit it is with SOURCE_COMMIT=...
  COMMIT=${SOURCE_COMMIT:-unknown}
  DIRTY=" (not a git checkout)"
fi
echo "## Whole-process replay vs libpcap floor: mix $MIX"
echo
echo "- date: $START (start of the measured runs)"
echo "- commit: $COMMIT$DIRTY"
echo "- machine: $(nproc) CPUs, $CPU, $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
echo "- binary: $BIN"
echo "- tools: $("$TCPDUMP" --version 2>&1 | head -2 | tr '\n' ' ')/ $("$BIN" --version)"
echo "- capture: $PCAP, $(du -m "$PCAP" | cut -f1) MB, $PACKETS packets, $SOURCES keys at peak (keys_peak: summed over shards and keyed stages), $ALERTS alerts with the default rules, sha256 $SHA...$NOTE"
WAITED=""
((waited > 0)) && WAITED=" (waited $waited s for the 1-min load to drop below $MAX_LOAD)"
echo "- load average (1/5/15 min): before $LOAD_BEFORE, after $LOAD_AFTER$WAITED"
RES=$(fincore -b -n -o RES "$PCAP" 2>/dev/null | tr -d ' ' || true)
RESPCT="?"
[ -n "$RES" ] && RESPCT=$(awk -v r="$RES" -v s="$(stat -c %s "$PCAP")" 'BEGIN { printf "%.0f%%", 100 * r / s }')
echo "- page cache: $RESPCT of the capture resident after the runs; it is re-read (untimed) before each run"
echo "- $RUNS measured runs per command after one warm-up run each, interleaved; page cache warm; wall time from \`date +%s%N\` around \`/usr/bin/time -f '%M %U %S'\` (peak RSS: max over the runs)"
echo
echo "| command | min wall (s) | median wall (s) | packets/s (at min) | median CPU user+sys (s) | peak RSS (MB) | min / tcpdump min | median / tcpdump median |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for i in "${!NAMES[@]}"; do
  mn=$(stat_min "$WORK/wall.$i")
  md=$(stat_med "$WORK/wall.$i")
  rss=$(stat_max "$WORK/rss.$i")
  cpu=$(stat_med "$WORK/cpu.$i")
  awk -v n="${NAMES[$i]}" -v mn="$mn" -v md="$md" -v rss="$rss" -v cpu="$cpu" -v p="$PACKETS" -v bm="$BASE_MIN" -v bd="$BASE_MED" 'BEGIN {
    printf "| `%s` | %.3f | %.3f | %.2fM | %.2f | %.0f | %.2fx | %.2fx |\n", n, mn / 1e6, md / 1e6, p / (mn / 1e6) / 1e6, cpu, rss / 1024, mn / bm, md / bd
  }'
done
awk -v md="$(stat_med "$WORK/wall.1")" -v bd="$BASE_MED" -v rss="$(stat_max "$WORK/rss.1")" 'BEGIN {
  printf "\nGoal (speed issue, default shards): median wall at most 1.0x tcpdump: %s (%.2fx); peak RSS <= 150 MB: %s (%.0f MB)\n",
    (md <= bd ? "met" : "NOT met"), md / bd, (rss / 1024 <= 150 ? "met" : "NOT met"), rss / 1024
}'
echo
echo "All runs (wall s): "
for i in "${!NAMES[@]}"; do
  echo "- \`${NAMES[$i]}\`: $(awk '{ printf "%s%.3f", (NR > 1 ? ", " : ""), $1 / 1e6 }' "$WORK/wall.$i")"
done
