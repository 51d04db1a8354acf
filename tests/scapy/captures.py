#!/usr/bin/python3
"""Small, realistic pcap captures of reflection attacks, floods and benign traffic that trips
naive detectors, for testing flowsentry's rules.

    /usr/bin/python3 tests/scapy/captures.py OUTDIR [--only CLASS[,CLASS...]] [--verify]

writes OUTDIR/CLASS.pcap for each class in CLASSES below and OUTDIR/manifest.json, a list of
{"file", "class", "kind": "attack"|"benign", "family", "attacker_or_victim", "description"}.
Run it with Debian's python3-scapy (/usr/bin/python3); nothing is ever sent on a network.
Output is deterministic: every class has its own random generator seeded from SEED and the
class name, and every capture's first frame is at 2026-01-01T00:00:00Z (frame times are given
explicitly to scapy's PcapWriter; Ethernet link type). --verify re-reads each file with scapy
and checks every IPv4/UDP/TCP/ICMP length and checksum against scapy's own rebuild.

Addresses: the victim is 203.0.113.10 and the benign hosts use RFC 1918 or documentation
addresses; reflectors, servers and peers are random public-looking addresses, most of them
clustered in a few dozen /16s as real reflector and server populations are.

Reflection attacks (kind "attack", captured at the victim). The attacker sends small requests
to many open services with the victim's address as the source; each service answers the
victim, so the victim receives answers to questions it never asked, all from the service's
port (the reflector side) to whatever source port the attacker wrote into its spoofed request
(random per request). The capture holds only those arrivals: the victim sent nothing (a
firewalled host drops them silently). Amplification is the case where the answer is much
larger than the request.

Floods (kind "attack", captured at the victim): many packets from few sources, or from
spoofed ones, and what the victim's kernel answers.

Benign traffic (kind "benign", captured at the host named): hosts whose traffic has the
shape a naive detector takes for an attack (many peers, many unanswered or refused attempts,
many ICMP errors, answers larger than requests) and is not one.

Where each part lives (each module's docstring describes its classes, what they hold and why):

    reflection.py          dns_amplification_fragmented, ntp_monlist, snmp_large,
                           snmp_error_small, memcached, cldap
    reflection_devices.py  ssdp, ws_discovery, vpn_ike_openvpn, iot_coap_bacnet, burst_short,
                           sparse_sample
    floods.py              udp_flood_dst, icmp_flood_dst, fragment_flood_dst, syn_flood_spoofed
    probes.py              ack_sweep_dark, fin_sweep_dark, block_scan_tcp, block_scan_udp
    benign.py              bittorrent_p2p, cdn_browsing, traceroute, failing_client
    benign_infra.py        dns_resolver, nat_gateway, midstream_start, monitoring_poller,
                           mail_relay
    common.py              helpers the classes share (victim, random values, TLS, HTTP)
    wire.py                frames: headers, fragmentation, the TCP model, address pools
"""

import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scapy.config import conf  # noqa: E402

conf.verb = 0

import benign  # noqa: E402
import benign_infra  # noqa: E402
import floods  # noqa: E402
import probes  # noqa: E402
import reflection  # noqa: E402
import reflection_devices  # noqa: E402
from common import VICTIM  # noqa: E402

SEED = 20260101

CLASSES = [
    # name, kind, family, attacker_or_victim, builder, description
    ("dns_amplification_fragmented", "attack", "amplification", VICTIM,
     reflection.gen_dns_amplification_fragmented,
     "DNS ANY answers (~3.7 kB, DNSSEC) from 500 open resolvers, port 53, IP-fragmented, "
     "within 2 s"),
    ("ntp_monlist", "attack", "amplification", VICTIM, reflection.gen_ntp_monlist,
     "NTP mode 7 MON_GETLIST_1 answers (468-byte packets, 2-100 per answer) from 300 ntpd "
     "servers, port 123"),
    ("snmp_large", "attack", "amplification", VICTIM, reflection.gen_snmp_large,
     "SNMP v2c GetBulk answers (~1.2 kB) from 400 agents, port 161"),
    ("snmp_error_small", "attack", "reflection", VICTIM, reflection.gen_snmp_error_small,
     "small SNMP errors (v1 noSuchName, v2c noSuchObject/endOfMibView, v3 reports; 60-140 "
     "bytes) from 1000 agents"),
    ("memcached", "attack", "amplification", VICTIM, reflection.gen_memcached,
     "memcached UDP get answers (VALUE, 4-10 datagrams of 1400 bytes each) from 200 servers, "
     "port 11211"),
    ("cldap", "attack", "amplification", VICTIM, reflection.gen_cldap,
     "CLDAP rootDSE searchResEntry+searchResDone (1.6-3.3 kB, fragmented when over 1472) from "
     "300 DCs, port 389"),
    ("ssdp", "attack", "amplification", VICTIM, reflection_devices.gen_ssdp,
     "SSDP M-SEARCH ssdp:all answers (~300 bytes, 1-6 per device) from 800 UPnP devices, "
     "port 1900"),
    ("ws_discovery", "attack", "amplification", VICTIM, reflection_devices.gen_ws_discovery,
     "WS-Discovery ProbeMatches (1.0-1.9 kB, half repeated) from 500 cameras/NVRs/printers, "
     "port 3702"),
    ("vpn_ike_openvpn", "attack", "reflection", VICTIM, reflection_devices.gen_vpn_ike_openvpn,
     "IKEv2 IKE_SA_INIT answers (~500 bytes, port 500) from 350 responders and OpenVPN "
     "HARD_RESET_SERVER_V2 (54-94 bytes, resent at +2 s and +6 s, port 1194) from 250 servers"),
    ("iot_coap_bacnet", "attack", "amplification", VICTIM, reflection_devices.gen_iot_coap_bacnet,
     "CoAP /.well-known/core answers (~400 bytes, port 5683) from 400 devices and BACnet/IP "
     "I-Am / ReadProperty-ACK (48-500 bytes, port 47808) from 300 controllers"),
    ("burst_short", "attack", "amplification", VICTIM, reflection_devices.gen_burst_short,
     "3000 ARMS (UDP 3283) answers of 1034 bytes, one per reflector, all within 30 ms"),
    ("sparse_sample", "attack", "amplification", VICTIM, reflection_devices.gen_sparse_sample,
     "1-in-100 sampled chargen (UDP 19) reflection: 60 answers from 60 reflectors over 60 s"),
    ("udp_flood_dst", "attack", "flood", VICTIM, floods.gen_udp_flood_dst,
     "UDP flood: 3 sources, 20,000 datagrams of 512 bytes in 2 s to random ports; the victim's "
     "rate-limited ICMP port unreachables"),
    ("icmp_flood_dst", "attack", "flood", VICTIM, floods.gen_icmp_flood_dst,
     "ICMP echo flood: 5 sources, 10,000 echo requests in 1 s, each answered by the victim"),
    ("fragment_flood_dst", "attack", "flood", VICTIM, floods.gen_fragment_flood_dst,
     "IP fragment flood: 10 sources, 10,000 non-first fragments (random IDs and offsets) in 1 s"),
    ("syn_flood_spoofed", "attack", "flood", VICTIM, floods.gen_syn_flood_spoofed,
     "SYN flood to port 80 from 20,000 random spoofed sources in 2 s; victim SYN-ACKs while "
     "its 1024-entry backlog has room, resent after 1 s; RSTs from live spoofed hosts"),
    ("ack_sweep_dark", "attack", "sweep", probes.SCANNER, probes.gen_ack_sweep_dark,
     "TCP ACK ping sweep (nmap -sn -PA) of 1024 addresses on port 80 in 4 s, resent once; 8 "
     "live hosts answer RST, the rest is dark"),
    ("fin_sweep_dark", "attack", "sweep", probes.SCANNER, probes.gen_fin_sweep_dark,
     "bare FINs to port 443 of 1024 addresses in 4 s, resent once; 8 live hosts answer "
     "RST+ACK, the rest is dark"),
    ("block_scan_tcp", "attack", "scan", probes.SCANNER, probes.gen_block_scan_tcp,
     "SYN block scan (nmap -sS -Pn -p 1-40 over a /26): 2560 probes in 12 s; 9 live hosts "
     "answer RST+ACK or SYN-ACK, the rest is dark"),
    ("block_scan_udp", "attack", "scan", probes.SCANNER, probes.gen_block_scan_udp,
     "UDP block scan (masscan -pU:1-60 style) of 32 addresses: 1920 probes in 8 s; 4 live "
     "hosts answer rate-limited ICMP port unreachables (and DNS replies), the rest is dark"),
    ("bittorrent_p2p", "benign", None, None, benign.gen_bittorrent_p2p,
     "BitTorrent client 192.168.1.20: DHT with 240 nodes, uTP with 60 and TCP with 100 peers "
     "over 60 s; ~10% never answer, a few refuse"),
    ("dns_resolver", "benign", None, None, benign_infra.gen_dns_resolver,
     "recursive resolver 10.0.0.53: 200 LAN clients, 300 root/TLD/authoritative servers, "
     "EDNS0, DNSSEC, NXDOMAIN, TC and TCP retries, 2% upstream timeouts; 30 s"),
    ("cdn_browsing", "benign", None, None, benign.gen_cdn_browsing,
     "browser on 192.168.1.30: 150 TLS connections to 80 CDN addresses on 443 and QUIC with 20 "
     "addresses; 30 s"),
    ("nat_gateway", "benign", None, None, benign_infra.gen_nat_gateway,
     "NAT gateway 198.51.100.1 for 100 users: 3000 TCP connections to 600 servers, random "
     "source ports; 60 s"),
    ("midstream_start", "benign", None, None, benign_infra.gen_midstream_start,
     "NAT gateway 198.51.100.1, capture started inside 250 open connections: each one's first "
     "captured segment is the gateway's (pure ACK, keepalive or request), answered a round "
     "trip later; 30 s"),
    ("monitoring_poller", "benign", None, None, benign_infra.gen_monitoring_poller,
     "monitoring server 10.0.0.5 polling 500 hosts every 10 s (ping, SNMP get, TCP 22/80), 2% "
     "down; 60 s"),
    ("mail_relay", "benign", None, None, benign_infra.gen_mail_relay,
     "mail relay 10.0.0.25 delivering to 300 MX hosts on TCP 25, ~10% refused or unanswered; 60 s"),
    ("traceroute", "benign", None, None, benign.gen_traceroute,
     "192.168.1.40: UDP traceroute to 5 destinations (TTL 1-15) and one ICMP traceroute"),
    ("failing_client", "benign", None, None, benign.gen_failing_client,
     "client 192.168.1.50: 100 connection attempts to 6 servers on 443/80/8080, ~40% RST or "
     "unanswered; 60 s"),
]


def rebuilt(ipb):
    """The IPv4 packet `ipb` as scapy rebuilds it, lengths and checksums recomputed: its IP
    header and, unless it is a fragment, its UDP/TCP/ICMP header; the rest as raw bytes."""
    from scapy.layers.inet import IP
    from scapy.packet import Raw
    ip = IP(ipb)
    del ip.chksum
    del ip.len
    whole = ip.frag == 0 and not ip.flags.MF
    if whole and ip.proto in (1, 6, 17):
        l4 = ip.payload
        hl = l4.dataofs * 4 if ip.proto == 6 else 8
        l4.remove_payload()
        if len(ipb) > 20 + hl:
            l4.add_payload(Raw(ipb[20 + hl:]))
        del l4.chksum
        if ip.proto == 17:
            del l4.len
    elif len(ipb) > 20:
        ip.remove_payload()
        ip.add_payload(Raw(ipb[20:]))
    return bytes(ip)


def verify(path):
    """Re-read a capture with scapy: every frame must be Ethernet/IPv4, in time order, and
    rebuilding it with scapy must give back the same bytes. Returns a list of problems."""
    from scapy.utils import RawPcapReader
    problems = []
    last = None
    for i, (frame, meta) in enumerate(RawPcapReader(path)):
        ts = (meta.sec, meta.usec)
        if last is not None and ts < last:
            problems.append("frame %d: time goes back" % i)
        last = ts
        if frame[12:14] != b"\x08\x00":
            problems.append("frame %d: not IPv4" % i)
            continue
        if rebuilt(frame[14:]) != frame[14:]:
            problems.append("frame %d: scapy rebuilds it differently (length or checksum)" % i)
        if len(problems) > 20:
            break
    return problems


def write_class(outdir, name, gen, check):
    """Build one class and write OUTDIR/NAME.pcap; returns the file's size."""
    t = time.time()
    cap = gen(random.Random("%d:%s" % (SEED, name)))
    path = os.path.join(outdir, name + ".pcap")
    st = cap.write(path)
    size = os.path.getsize(path)
    print("%-30s %7d packets %6.2f MB %6.1f s of traffic  (%.1f s)" % (
        name, st["packets"], size / 1e6, st["seconds"], time.time() - t), file=sys.stderr)
    if check:
        for p in verify(path):
            print("  " + p, file=sys.stderr)
    return size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--only", help="comma-separated classes")
    ap.add_argument("--verify", action="store_true", help="re-read every file with scapy")
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    manifest = []
    total = 0
    start = time.time()
    for name, kind, family, key, gen, desc in CLASSES:
        if only and name not in only:
            continue
        total += write_class(args.outdir, name, gen, args.verify)
        manifest.append({"file": name + ".pcap", "class": name, "kind": kind, "family": family,
                         "attacker_or_victim": key, "description": desc})
    with open(os.path.join(args.outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print("%d files, %.1f MB, %.1f s" % (len(manifest), total / 1e6, time.time() - start),
          file=sys.stderr)


if __name__ == "__main__":
    main()
