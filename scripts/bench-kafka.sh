#!/usr/bin/env bash
# Kafka benchmark: how fast `flowsentry consume` reads and analyses a topic of packet records,
# against an independent client draining the same topic as fast as it can (kcat with
# librdkafka 2.16, `-o beginning -e > /dev/null`), and how fast `flowsentry publish` fills it.
#
# Usage: scripts/bench-kafka.sh [-n RUNS] [--pcap FILE] [--partitions N] [--max-load L]
#   -n RUNS         measured runs of each reader (default 3), interleaved
#   --pcap FILE     capture to publish (default bench-data/kafka-bench.pcap, generated if
#                   missing with `flowsentry synth --scenario bench --packets 3200000`)
#   --partitions N  partitions of the topic (default 4)
#   --max-load L    wait (up to 10 x 30 s) for the 1-minute load average to fall below L
#                   (default 1.5); measures anyway after that and says so
# Environment: FLOWSENTRY=prebuilt binary (default: cargo build --release).
#
# The broker is nisshi on 127.0.0.1:9092 (scripts/broker.sh; started here, and stopped at the
# end, if it was not running). Both readers run on this machine beside the broker (2 cores
# shared). flowsentry's rate is records / (pipeline wall time - time to the first message):
# joining a new consumer group takes ~3 s on nisshi and says nothing about throughput; the
# whole-process rate is reported too. kcat reads without a group (assign), so it joins none.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=3
PCAP=bench-data/kafka-bench.pcap
PARTS=4
MAX_LOAD=1.5
while (($#)); do
  case "$1" in
    -n) RUNS="$2"; shift 2 ;;
    --pcap) PCAP="$2"; shift 2 ;;
    --partitions) PARTS="$2"; shift 2 ;;
    --max-load) MAX_LOAD="$2"; shift 2 ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench-kafka: unknown argument $1" >&2; exit 2 ;;
  esac
done
BROKERS=127.0.0.1:9092

need=()
command -v kcat >/dev/null || need+=(kcat)
command -v jq >/dev/null || need+=(jq)
[ -x /usr/bin/time ] || need+=(time)
if ((${#need[@]})); then
  echo "bench-kafka: installing ${need[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -n "${FLOWSENTRY:-}" ]; then
  BIN=$FLOWSENTRY
else
  BIN=${CARGO_TARGET_DIR:-target}/release/flowsentry
  echo "bench-kafka: cargo build --release --bin flowsentry" >&2
  cargo build --release --bin flowsentry >&2
fi
if [ ! -s "$PCAP" ]; then
  mkdir -p "$(dirname "$PCAP")"
  echo "bench-kafka: generating $PCAP" >&2
  "$BIN" synth --scenario bench --packets 3200000 --out "$PCAP" >&2
fi

started_broker=
if ! bash scripts/broker.sh status; then
  bash scripts/broker.sh start
  started_broker=1
fi
WORK=$(mktemp -d /tmp/bench-kafka.XXXXXX)
cleanup() {
  rm -rf "$WORK"
  [ -z "$started_broker" ] || bash scripts/broker.sh stop
}
trap cleanup EXIT
LIB=$(bash scripts/broker.sh clientlib)

wait_for_quiet() {
  local i load
  for i in $(seq 1 10); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$load" -v m="$MAX_LOAD" 'BEGIN { exit !(l < m) }'; then return 0; fi
    echo "bench-kafka: load $load >= $MAX_LOAD, waiting 30 s ($i/10)" >&2
    sleep 30
  done
  echo "bench-kafka: load still $(cut -d' ' -f1 /proc/loadavg); measuring anyway" >&2
}

TOPIC=bench-kafka-$$-$(date +%s)
wait_for_quiet
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench-kafka: publishing $PCAP to $TOPIC ($PARTS partitions)" >&2
/usr/bin/time -f "%e %U %S %M" -o "$WORK/pub.time" \
  "$BIN" publish "$PCAP" --brokers "$BROKERS" --topic "$TOPIC" --partitions "$PARTS" \
  --summary "$WORK/pub.json" -q
RECORDS=$(jq .records "$WORK/pub.json")
MESSAGES=$(jq .messages "$WORK/pub.json")
BYTES=$(jq .bytes "$WORK/pub.json")
PUB_WALL=$(jq .wall_seconds "$WORK/pub.json")
PUB_CPU=$(awk '{print $2 + $3}' "$WORK/pub.time")
[ "$(jq .undeliverable_messages "$WORK/pub.json")" = 0 ] || { echo "bench-kafka: publish lost messages" >&2; exit 1; }

kcat_walls=()
fs_rates=()
fs_whole=()
fs_cpu=()
fs_rss=()
for i in $(seq 1 "$RUNS"); do
  wait_for_quiet
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/kcat.time" \
    env LD_LIBRARY_PATH="$LIB" kcat -b "$BROKERS" -C -t "$TOPIC" -o beginning -e -q >/dev/null
  kcat_walls+=("$(cut -d' ' -f1 "$WORK/kcat.time")")
  FLOWSENTRY_LOG=warn,flowsentry::kafka=info /usr/bin/time -f "%e %U %S %M" -o "$WORK/fs.time" \
    "$BIN" consume --brokers "$BROKERS" --topic "$TOPIC" --group "bench-$$-$i" --stop-at-end \
    --alerts /dev/null --summary "$WORK/fs.json" --no-tui -q 2>"$WORK/fs.log"
  got=$(jq .packets "$WORK/fs.json")
  [ "$got" = "$RECORDS" ] || { echo "bench-kafka: consumed $got of $RECORDS records" >&2; cat "$WORK/fs.log" >&2; exit 1; }
  first=$(grep -o 'first message [0-9.]* s' "$WORK/fs.log" | awk '{print $3}')
  wall=$(jq .wall_seconds "$WORK/fs.json")
  fs_rates+=("$(awk -v r="$RECORDS" -v w="$wall" -v f="$first" 'BEGIN { printf "%.0f", r / (w - f) }')")
  fs_whole+=("$(awk -v r="$RECORDS" -v w="$(cut -d' ' -f1 "$WORK/fs.time")" 'BEGIN { printf "%.0f", r / w }')")
  fs_cpu+=("$(awk '{printf "%.2f", $2 + $3}' "$WORK/fs.time")")
  fs_rss+=("$(awk '{printf "%.0f", $4 / 1024}' "$WORK/fs.time")")
  echo "bench-kafka: run $i: kcat ${kcat_walls[-1]} s; flowsentry ${fs_rates[-1]} records/s (first message after $first s, pipeline $wall s)" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
best_max() { printf '%s\n' "$@" | sort -g | tail -1; }
best_min() { printf '%s\n' "$@" | sort -g | head -1; }
KCAT_MIN=$(best_min "${kcat_walls[@]}")
KCAT_MED=$(median "${kcat_walls[@]}")
KCAT_RATE=$(awk -v r="$RECORDS" -v w="$KCAT_MIN" 'BEGIN { printf "%.0f", r / w }')
KCAT_RATE_MED=$(awk -v r="$RECORDS" -v w="$KCAT_MED" 'BEGIN { printf "%.0f", r / w }')
FS_BEST=$(best_max "${fs_rates[@]}")
FS_MED=$(median "${fs_rates[@]}")
FS_WHOLE=$(best_max "${fs_whole[@]}")

echo
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (+ uncommitted changes in src)')"
echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); load average at start: $LOAD_START"
echo "- broker: nisshi 0.6.0, in-memory, 127.0.0.1:9092, on the same machine; topic of $PARTS partitions"
echo "- data: $PCAP published by \`flowsentry publish\`: $RECORDS records in $MESSAGES messages ($BYTES bytes before lz4)"
echo "- commands: \`flowsentry publish $PCAP --brokers $BROKERS --topic T --partitions $PARTS\`;"
echo "  \`kcat -b $BROKERS -C -t T -o beginning -e -q > /dev/null\` (LD_LIBRARY_PATH = librdkafka 2.16 from the confluent-kafka wheel);"
echo "  \`flowsentry consume --brokers $BROKERS --topic T --group NEW --stop-at-end --alerts /dev/null\`; $RUNS runs each, interleaved"
echo
echo "| what | records/s (best) | records/s (median) | notes |"
echo "|---|---:|---:|---|"
echo "| publish (capture -> decode -> Kafka) | $(awk -v r="$RECORDS" -v w="$PUB_WALL" 'BEGIN { printf "%.0f", r / w }') | - | one run, $PUB_WALL s wall, $PUB_CPU s CPU |"
echo "| kcat drain (independent client) | $KCAT_RATE | $KCAT_RATE_MED | wall $KCAT_MIN s best |"
echo "| flowsentry consume (decode + windows + rules) | $FS_BEST | $FS_MED | from the first message; CPU $(median "${fs_cpu[@]}") s, peak RSS $(best_max "${fs_rss[@]}") MiB |"
echo "| flowsentry consume, whole process | $FS_WHOLE | - | including start and joining the group |"
echo
echo "flowsentry / kcat: $(awk -v a="$FS_BEST" -v b="$KCAT_RATE" 'BEGIN { printf "%.2f", a / b }') (best), $(awk -v a="$FS_MED" -v b="$KCAT_RATE_MED" 'BEGIN { printf "%.2f", a / b }') (median); goal >= 0.5"
