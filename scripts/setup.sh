#!/usr/bin/env bash
# Install what flowsentry needs on a fresh Debian machine (run as root; idempotent).
# Packages: libpcap (capture), tcpdump (benchmark baseline), and the tools the tests use as
# real traffic sources and terminals. Anything already present is left as it is.
set -euo pipefail

PACKAGES=(
  libpcap-dev tcpdump   # capture library and the libpcap baseline
  tmux                  # terminal tests of the dashboard
  iproute2              # veth pairs and network namespaces for live-capture tests
  nmap hping3 tcpreplay masscan # real traffic sources for live-capture tests
  python3-scapy         # tests/scapy/*.py write attack and benign-lookalike captures
  jq                    # reading JSON in scripts
  libssl-dev zlib1g-dev pkg-config # librdkafka (built by the rdkafka crate): TLS, zlib
  pmacct kcat           # Kafka tests and benchmark: pmacct's flow export, an independent client
  python3-pip           # scripts/broker.sh clientlib: librdkafka 2.16 from the confluent-kafka wheel
  prometheus            # tests/metrics.rs: a real Prometheus scrapes --metrics
  softflowd nfdump      # tests/collect.rs: a real NetFlow/IPFIX exporter; nfcapd as the reference collector
  protobuf-compiler python3-protobuf # tests/goflow2.rs: goflow2's messages written by Google's protobuf library
  systemd               # tests/systemd.rs: systemd-analyze verify of dist/flowsentry.service
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
