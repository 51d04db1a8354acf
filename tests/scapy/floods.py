"""Volumetric floods at one victim: UDP, ICMP echo, IP fragments, spoofed SYNs.

In: gen_CLASS(rng) takes the class's random.Random (captures.py seeds it from SEED and the
class name). Out: a wire.Capture as seen at the victim, 203.0.113.10: the flood and what the
victim's kernel answers. Guarantees: the same generator state gives the same frames, byte for
byte; every frame is Ethernet/IPv4 with correct lengths and checksums (wire.py).

udp_flood_dst
    3 sources (bots or rented servers) send 20,000 UDP datagrams in 2 s with 512 random bytes,
    random source and destination ports (Mirai's udp generic). The victim's kernel answers
    closed ports with ICMP port unreachable, rate-limited per destination (a burst of 6, then 1
    per second), quoting the IP header and the first 8 bytes of the datagram.
icmp_flood_dst
    5 sources send 10,000 echo requests in 1 s (ping -f: 56-byte iputils payload, or hping3's
    empty one); the victim answers each with an echo reply (Linux does not rate-limit echo).
fragment_flood_dst
    10 sources send 10,000 non-first IP fragments (protocol UDP, random IP IDs, random offsets,
    MF set or not, 8-256 bytes) in 1 s: each opens a reassembly queue that never completes. No
    first fragment arrives, so the victim sends no reassembly time-exceeded.
syn_flood_spoofed
    20,000 SYNs to port 80 in 2 s, each from a random spoofed address and port (Mirai-style
    options or hping3's bare SYNs). The victim (SYN backlog of 1024, no SYN cookies) answers
    SYN-ACK while it has room, resends each SYN-ACK after 1 s, and frees an entry when a real
    host behind a spoofed address (8%) answers the unexpected SYN-ACK with a RST.
"""

import heapq
import struct

from common import VICTIM, VICTIM_NET, iputils_payload, rbytes
from wire import ACK, ECHO_REPLY, ECHO_REQUEST, RST, SYN, UNREACH, AddrPool, Capture


def gen_udp_flood_dst(rng):
    cap = Capture(rng, VICTIM_NET)
    sources = AddrPool(rng).take(3, clustered=0.0)
    budget = {s: [6.0, 0.0] for s in sources}  # ICMP tokens per destination, last refill
    for k in range(20000):
        s = sources[k % 3]
        t = (k // 3) * (2.0 / 6667) + rng.uniform(0.0, 2e-4)
        dport = rng.randint(1, 65535)
        pkt = cap.udp(t, s, VICTIM, rng.randint(1024, 65535), dport, rbytes(rng, 512))
        tok = budget[s]
        tok[0] = min(6.0, tok[0] + (t - tok[1]))
        tok[1] = t
        if tok[0] >= 1.0:
            tok[0] -= 1.0
            cap.icmp_error(t + 3e-5, VICTIM, s, UNREACH, 3, pkt)
    return cap


def gen_icmp_flood_dst(rng):
    cap = Capture(rng, VICTIM_NET)
    sources = AddrPool(rng).take(5, clustered=0.0)
    for i, s in enumerate(sources):
        ident = rng.getrandbits(16)
        hping = i >= 3  # hping3: no payload, sequence numbers in the wrong byte order
        t = rng.uniform(0.0, 5e-4)
        for seq in range(2000):
            data = b"" if hping else iputils_payload(t)
            rest = struct.pack("!HH", ident, seq if not hping else (seq * 256) & 0xFFFF)
            cap.icmp(t, s, VICTIM, ECHO_REQUEST, 0, rest, data)
            cap.icmp(t + rng.uniform(2e-5, 6e-5), VICTIM, s, ECHO_REPLY, 0, rest, data)
            t = min(t + 1.0 / 2000 * rng.uniform(0.8, 1.2), 0.9995)
    return cap


def gen_fragment_flood_dst(rng):
    cap = Capture(rng, VICTIM_NET)
    sources = AddrPool(rng).take(10, clustered=0.0)
    for k in range(10000):
        s = sources[k % 10]
        t = rng.uniform(0.0, 1.0)
        size = 8 * rng.randint(1, 32)
        off = rng.randint(1, 8000)
        mf = 0x2000 if rng.random() < 0.5 else 0
        cap.fragment(t, s, VICTIM, 17, mf | off, rbytes(rng, size), ident=rng.getrandbits(16))
    return cap


SYN_ACK_DELAY = 2e-5
SYN_ACK_RESEND = 1.0 + 2e-5


def flood_syn(cap, rng, pool, t):
    """One spoofed SYN: Mirai's (random TTL and window, MSS, SACK, timestamps, WS) or hping3's
    bare one. Returns (source, port, sequence number, the SYN's TSval or None)."""
    src = pool.one(clustered=0.0)
    sport = rng.randint(1024, 65535)
    seq = rng.getrandbits(32)
    mirai = rng.random() < 0.6
    ttl = rng.randint(30, 255) if mirai else 64
    if mirai:
        tsval = rng.getrandbits(32)
        opts = (struct.pack("!BBH", 2, 4, rng.randint(1400, 1500)) + b"\x04\x02" +
                struct.pack("!BBII", 8, 10, tsval, 0) + b"\x01" + b"\x03\x03\x06")
        win = rng.getrandbits(16)
    else:
        tsval, opts, win = None, b"", 512
    cap.tcp(t, src, VICTIM, sport, 80, seq, 0, SYN, win, opts, ttl=ttl, df=mirai,
            ident=rng.getrandbits(16))
    return src, sport, seq, tsval


def syn_ack(cap, rng, t, src, sport, seq, tsval, srv_ts):
    """The victim's SYN-ACK, answering the SYN's options, and its resend after 1 s while the
    capture lasts."""
    isn = rng.getrandbits(32)
    if tsval is None:
        opts, win = struct.pack("!BBH", 2, 4, 1460), 64240
    else:
        myts = (srv_ts + int(t * 1000)) & 0xFFFFFFFF
        opts = (struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02" +
                struct.pack("!BBII", 8, 10, myts, tsval) + b"\x01\x03\x03\x07")
        win = 65160
    for d in (SYN_ACK_DELAY, SYN_ACK_RESEND):
        if d > 1.0 and t + d > 2.05:
            break
        cap.tcp(t + d, VICTIM, src, 80, sport, isn, seq + 1, SYN | ACK, win, opts, ttl=64)


def gen_syn_flood_spoofed(rng):
    cap = Capture(rng, VICTIM_NET)
    pool = AddrPool(rng, clusters=1)
    times = sorted(rng.uniform(0.0, 2.0) for _ in range(20000))
    backlog = set()  # (src, sport) of the half-open entries
    releases = []  # heap of (time a RST arrives, entry it frees)
    srv_ts = rng.getrandbits(32)
    for t in times:
        src, sport, seq, tsval = flood_syn(cap, rng, pool, t)
        while releases and releases[0][0] <= t:
            backlog.discard(heapq.heappop(releases)[1])
        if len(backlog) >= 1024:
            continue
        backlog.add((src, sport))
        syn_ack(cap, rng, t, src, sport, seq, tsval, srv_ts)
        if rng.random() < 0.08:  # a live host behind the spoofed address refuses the SYN-ACK
            rtt = rng.uniform(0.03, 0.25)
            cap.tcp(t + rtt, src, VICTIM, sport, 80, seq + 1, 0, RST, 0,
                    ttl=rng.choice((64, 128)) - rng.randint(5, 20))
            heapq.heappush(releases, (t + rtt, (src, sport)))
    return cap
