#!/usr/bin/env bash
# Live-capture benchmark: replay a large synthetic capture through a veth pair at tcpreplay's
# top speed and compare what `flowsentry live` and tcpdump see of the same traffic.
#
# A network namespace of its own holds one end of a veth pair; tcpreplay runs inside it and
# sends the capture out of that end; the capture tool listens on the other end, in the root
# namespace. The frames carry synthetic addresses (RFC 1918 / 5737, locally administered
# MACs): the root namespace's stack drops them (not for this host), nothing is forwarded,
# nothing leaves the pair. Everything is removed on exit, also on failure or Ctrl-C.
#
# Usage (root):  bash scripts/bench-live.sh
# Environment:   PACKETS=1000000   packets in bench-data/bench.pcap (made if missing)
#                RUNS=3            runs per configuration
#                PARALLEL="1 2"    tcpreplay instances sending at once (2: the most this
#                                  machine can generate, at the price of CPU for the reader)
#                CONFIGS="flowsentry tcpdump tcpdump-B32M-s256 flowsentry+tcpdump"
#                                  captures per run; "a+b" runs both on the same packets
#                OUT=bench-data/live-results.md   the table and the conditions (markdown)
#                CARGO_TARGET_DIR  where the release binary is built (default target/)
#                FLOWSENTRY_BIN    use this binary instead of building one
set -euo pipefail
cd "$(dirname "$0")/.."

PACKETS=${PACKETS:-1000000}
RUNS=${RUNS:-3}
PARALLEL=${PARALLEL:-"1 2"}
CONFIGS=${CONFIGS:-"flowsentry tcpdump tcpdump-B32M-s256 flowsentry+tcpdump"}
OUT=${OUT:-bench-data/live-results.md}
PCAP=bench-data/bench.pcap

die() { echo "bench-live: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "needs root (network namespace, veth pair, capture)"
for t in ip tcpreplay tcpdump jq; do
  command -v "$t" >/dev/null || die "$t is missing (bash scripts/setup.sh installs the tools)"
done

if [ -n "${FLOWSENTRY_BIN:-}" ]; then
  BIN=$FLOWSENTRY_BIN # a binary built already (no cargo build)
else
  cargo build --release --locked --bin flowsentry >&2
  BIN=${CARGO_TARGET_DIR:-target}/release/flowsentry
fi
mkdir -p bench-data
if [ ! -s "$PCAP" ]; then
  "$BIN" synth --scenario bench --packets "$PACKETS" --out "$PCAP" >&2
fi
pcap_packets=$(tcpdump -r "$PCAP" -nn -q 2>/dev/null | wc -l)

# ---- the veth pair -----------------------------------------------------------------------
NS=fsbench-$$
H=fsb$$h   # root side: the capture tools listen here
N=fsb$$n   # namespace side: tcpreplay sends here
WORK=$(mktemp -d)
CAPTURE_PIDS=()
cleanup() {
  local p
  for p in "${CAPTURE_PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  ip link del "$H" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

used=$(ip -o -4 addr show)
SUB=
for x in $(seq 200 249); do
  grep -q "10\.99\.$x\." <<<"$used" || { SUB=$x; break; }
done
[ -n "$SUB" ] || die "no free /24 in 10.99.200.0-10.99.249.0"
ip netns add "$NS"
ip link add "$H" type veth peer name "$N"
ip link set "$N" netns "$NS"
ip addr add "10.99.$SUB.1/24" dev "$H"
ip link set "$H" up
ip -n "$NS" addr add "10.99.$SUB.2/24" dev "$N"
ip -n "$NS" link set "$N" up
ip -n "$NS" link set lo up
for _ in $(seq 50); do ip -o link show "$H" | grep -q LOWER_UP && break; sleep 0.1; done

# ---- one run -----------------------------------------------------------------------------
link_stat() { # NETNS-ARGS... IFACE DIR FIELD
  local field=${*: -1} dir=${*: -2:1} ifc=${*: -3:1}
  ip "${@:1:$#-3}" -s -j link show "$ifc" | jq ".[0].stats64.$dir.$field"
}
wait_for() { # FILE TEXT
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  die "capture did not start: $(cat "$1")"
}

start_capture() { # KIND DIR -> sets STARTED_PID
  local kind=$1 dir=$2
  case $kind in
    flowsentry)
      "$BIN" live -i "$H" --no-tui --alerts "$dir/alerts.jsonl" --summary "$dir/summary.json" \
        2>"$dir/stderr" &
      STARTED_PID=$!; CAPTURE_PIDS+=("$STARTED_PID")
      wait_for "$dir/stderr" "capturing on" ;;
    tcpdump)
      tcpdump -i "$H" -w /dev/null 2>"$dir/stderr" &
      STARTED_PID=$!; CAPTURE_PIDS+=("$STARTED_PID")
      wait_for "$dir/stderr" "listening on" ;;
    tcpdump-B32M-s256)
      tcpdump -i "$H" -B 32768 -s 256 -w /dev/null 2>"$dir/stderr" &
      STARTED_PID=$!; CAPTURE_PIDS+=("$STARTED_PID")
      wait_for "$dir/stderr" "listening on" ;;
  esac
}

# One run: start the captures of CONFIG ("a+b" runs a and b at once on the same traffic),
# replay, drain, stop; prints one markdown row per capture.
run_one() { # CONFIG REPLAYS
  local cfg=$1 par=$2 kinds kind i
  IFS=+ read -r -a kinds <<<"$cfg"
  rm -rf "$WORK/run"; mkdir -p "$WORK/run"
  local rx0 rxd0 txd0
  rx0=$(link_stat "$H" rx packets); rxd0=$(link_stat "$H" rx dropped)
  txd0=$(link_stat -n "$NS" "$N" tx dropped)
  local pids=()
  for kind in "${kinds[@]}"; do
    mkdir -p "$WORK/run/$kind"
    start_capture "$kind" "$WORK/run/$kind"
    pids+=("$STARTED_PID")
  done
  sleep 0.5
  local rp=()
  for i in $(seq "$par"); do
    ip netns exec "$NS" tcpreplay --topspeed -K -i "$N" "$PCAP" >"$WORK/run/replay$i" 2>&1 &
    rp+=($!)
  done
  for p in "${rp[@]}"; do wait "$p"; done
  sleep 2 # let the readers drain their rings
  local sent secs pps rx rxd txd
  sent=$(cat "$WORK"/run/replay* | awk '/^Actual:/ { s += $2 } END { print s + 0 }')
  secs=$(cat "$WORK"/run/replay* | awk '/^Actual:/ { for (i = 1; i <= NF; i++) if ($i == "seconds") t = $(i-1); if (t > m) m = t } END { print m + 0 }')
  pps=$(awk -v s="$sent" -v t="$secs" 'BEGIN { if (t > 0) printf "%.0f", s / t; else print "?" }')
  rx=$(( $(link_stat "$H" rx packets) - rx0 ))
  rxd=$(( $(link_stat "$H" rx dropped) - rxd0 ))
  txd=$(( $(link_stat -n "$NS" "$N" tx dropped) - txd0 ))
  local n=0
  for kind in "${kinds[@]}"; do
    local pid=${pids[$n]} dir="$WORK/run/$kind" ticks cpu rc=0
    n=$((n + 1))
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    cpu=$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }')
    # flowsentry: SIGINT (its documented stop); tcpdump: SIGTERM (a background job of a
    # script starts with SIGINT ignored, and tcpdump keeps it so).
    if [ "$kind" = flowsentry ]; then kill -INT "$pid"; else kill -TERM "$pid"; fi
    wait "$pid" || rc=$?
    local seen kdrop qdrop late alerts label=$kind
    [ "${#kinds[@]}" -eq 1 ] || label="$kind (with ${cfg//$kind/})"
    label=${label//(with +/(with }; label=${label//+)/)}
    if [ "$kind" = flowsentry ]; then
      [ "$rc" -eq 0 ] || die "flowsentry exited $rc: $(tail -5 "$dir/stderr")"
      local s=$dir/summary.json
      seen=$(jq .packets "$s"); kdrop=$(jq '.kernel_drops + .interface_drops' "$s")
      qdrop=$(jq .queue_drops "$s"); late=$(jq .late_packets "$s"); alerts=$(jq .alerts "$s")
      jq -r --arg l "$label x$par" '"\($l): " + ([.alerts_by_rule | to_entries[] | "\(.key) \(.value)"] | join(", "))' \
        "$s" >>"$WORK/alerts.txt"
    else
      seen=$(awk '/packets captured/ { print $1 }' "$dir/stderr")
      kdrop=$(awk '/dropped by kernel/ { k = $1 } /dropped by interface/ { i = $1 } END { print k + i }' "$dir/stderr")
      qdrop="-"; late="-"; alerts="-"
    fi
    # Lost: sent but never analysed (flowsentry: also the records its queues dropped).
    local lost=$((sent - seen))
    [ "$qdrop" = "-" ] || lost=$((lost + qdrop))
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
      "$label" "$par" "$sent" "$pps" "$rx" "$((rxd + txd))" "$seen" "$kdrop" "$qdrop" \
      "$lost" "$late" "$alerts" "$cpu"
  done
  CAPTURE_PIDS=()
}

# ---- all runs ----------------------------------------------------------------------------
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo "+dirty")
{
  echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $commit; kernel $(uname -r);" \
    "$(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo));" \
    "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "Capture: $PCAP, $pcap_packets packets; tcpreplay $(tcpreplay --version 2>&1 | awk 'NR==1 { print $3 }') --topspeed -K;" \
    "tcpdump $(tcpdump --version 2>&1 | awk 'NR==1 { print $3 }'), $(tcpdump --version 2>&1 | sed -n 2p)"
  echo
  echo "| capture | replays at once | sent | sent pps | reached iface | veth drops | read | kernel drops | queue drops | lost | late | alerts | CPU s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} >"$WORK/head"
cat "$WORK/head"
: >"$WORK/rows"
for par in $PARALLEL; do
  for r in $(seq "$RUNS"); do
    for cfg in $CONFIGS; do
      before=$(wc -l <"$WORK/rows")
      run_one "$cfg" "$par" >>"$WORK/rows" # (not in a pipe: the captures must stay ours)
      tail -n +"$((before + 1))" "$WORK/rows"
    done
  done
done
{
  cat "$WORK/head" "$WORK/rows"
  echo
  echo "Load after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "flowsentry alerts by rule (per run):"
  echo
  sed 's/^/    /' "$WORK/alerts.txt" 2>/dev/null || true
} >"$OUT"
echo "bench-live: wrote $OUT" >&2
