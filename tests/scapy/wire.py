"""Frame building for the capture classes (captures.py and the modules it lists):
Ethernet/IPv4/UDP/TCP/ICMP headers, IP fragmentation, a TCP connection model with correct
sequence numbers, public address pools, bencoding.

Why headers are laid here and not by scapy's IP()/UDP()/TCP(): the captures hold about 250,000
frames, and scapy spends about 0.3 ms building and serialising one Ether/IP/UDP packet, which
alone would take well over a minute. scapy still builds every application payload that it has a
layer for (DNS, NTP mode 7, SNMP, CLDAP, IKEv2, CoAP, the ASN.1 of SNMPv3), computes every
checksum (scapy.utils.checksum) and writes the files (scapy.utils.PcapWriter, Ethernet link type,
each frame's time given explicitly). `captures.py --verify` re-reads every file with scapy and
checks each header's length and checksum against scapy's own rebuild.
"""

import functools
import ipaddress
import socket
import struct

from scapy.data import DLT_EN10MB
from scapy.utils import PcapWriter, checksum

# 2026-01-01T00:00:00Z: every capture's first frame.
EPOCH = 1767225600

ETH_IPV4 = b"\x08\x00"
GATEWAY_MAC = bytes.fromhex("00000c9ff001")  # a Cisco HSRP virtual MAC, as routers use

# TCP flags
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# ICMP types
ECHO_REPLY, UNREACH, ECHO_REQUEST, TIME_EXCEEDED = 0, 3, 8, 11


@functools.lru_cache(maxsize=None)
def aton(addr):
    return socket.inet_aton(addr)


def host_mac(addr):
    """A stable unicast MAC for a host on the capture's own segment (Supermicro OUI + address)."""
    return b"\x3c\xec\xef" + aton(addr)[1:]


def ipv4_header(src, dst, proto, total_len, ident, ttl, flags_frag=0, tos=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, tos, total_len, ident & 0xFFFF, flags_frag,
                    ttl, proto, 0, aton(src), aton(dst))
    return h[:10] + struct.pack("!H", checksum(h)) + h[12:]


def l4_checksum(src, dst, proto, seg):
    return checksum(aton(src) + aton(dst) + struct.pack("!BBH", 0, proto, len(seg)) + seg)


def udp_datagram(src, dst, sport, dport, payload):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = l4_checksum(src, dst, 17, seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def tcp_segment(src, dst, sport, dport, seq, ack, flags, win, opts=b"", payload=b""):
    assert len(opts) % 4 == 0, opts
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      ((20 + len(opts)) // 4) << 4, flags, win, 0, 0) + opts + payload
    return seg[:16] + struct.pack("!H", l4_checksum(src, dst, 6, seg)) + seg[18:]


def icmp_message(typ, code, rest, data):
    m = struct.pack("!BBH", typ, code, 0) + rest + data
    return m[:2] + struct.pack("!H", checksum(m)) + m[4:]


def quote(ip_packet, ttl=None):
    """What an ICMP error carries: the offending datagram's IP header (as the reporting node
    received it: with `ttl`, checksum adjusted) and the first 8 bytes of its payload."""
    hdr = ip_packet[:20]
    if ttl is not None:
        hdr = hdr[:8] + bytes([ttl]) + hdr[9:10] + b"\0\0" + hdr[12:]
        hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + ip_packet[20:28]


_BOGONS = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3")]
_BOGON_RANGES = [(int(n.network_address), int(n.broadcast_address)) for n in _BOGONS]


def is_public(a):
    return not any(lo <= a <= hi for lo, hi in _BOGON_RANGES)


class AddrPool:
    """Distinct public-looking IPv4 addresses. Reflectors and servers cluster in provider
    networks (hosting, ISP access ranges), so most addresses come from a few dozen /16s."""

    def __init__(self, rng, clusters=60, used=()):
        self.rng = rng
        self.used = {int(ipaddress.IPv4Address(u)) for u in used}
        self.nets = []
        while len(self.nets) < clusters:
            base = rng.getrandbits(16) << 16
            if is_public(base) and is_public(base | 0xFFFF):
                self.nets.append(base)

    def one(self, clustered=0.6):
        rng = self.rng
        while True:
            if rng.random() < clustered:
                a = rng.choice(self.nets) | rng.randint(1, 0xFFFE)
            else:
                a = rng.getrandbits(32)
            if a & 0xFF in (0, 255) or a in self.used or not is_public(a):
                continue
            self.used.add(a)
            return str(ipaddress.IPv4Address(a))

    def take(self, n, clustered=0.6):
        return [self.one(clustered) for _ in range(n)]

    def in_prefix(self, prefix24, n):
        """n distinct hosts of one /24 (a CDN's or provider's serving block)."""
        base = int(ipaddress.IPv4Address(prefix24)) & 0xFFFFFF00
        out = []
        while len(out) < n:
            a = base | self.rng.randint(2, 254)
            if a not in self.used:
                self.used.add(a)
                out.append(str(ipaddress.IPv4Address(a)))
        return out

    def prefix(self):
        """A public /24 prefix (as a dotted address ending in .0)."""
        while True:
            a = self.one(0.3)
            b = int(ipaddress.IPv4Address(a)) & 0xFFFFFF00
            if is_public(b) and is_public(b | 0xFF):
                return str(ipaddress.IPv4Address(b))


class Capture:
    """Frames of one capture point. Hosts in `local_nets` sit on the captured segment (their own
    MACs); every other address is behind the gateway (its MAC). Times are seconds from the
    capture's start, kept as integer microseconds."""

    def __init__(self, rng, local_nets=(), mtu=1500):
        self.rng = rng
        self.local = [ipaddress.ip_network(n) for n in local_nets]
        self.mtu = mtu
        self.frames = []
        self._mac = {}
        self._ttl = {}
        self._ipid = {}

    def is_local(self, addr):
        return any(ipaddress.IPv4Address(addr) in n for n in self.local)

    def mac(self, addr):
        m = self._mac.get(addr)
        if m is None:
            m = host_mac(addr) if self.is_local(addr) else GATEWAY_MAC
            self._mac[addr] = m
        return m

    def ttl_of(self, addr):
        """TTL as seen at the capture point: 64 for hosts on the segment, else an initial TTL
        of 64, 128 or 255 less 4 to 24 hops, stable per host."""
        t = self._ttl.get(addr)
        if t is None:
            if self.is_local(addr):
                t = 64
            else:
                t = self.rng.choice((64, 64, 64, 128, 128, 255)) - self.rng.randint(4, 24)
            self._ttl[addr] = t
        return t

    def next_id(self, addr):
        i = self._ipid.get(addr)
        if i is None:
            i = self.rng.getrandbits(16)
        self._ipid[addr] = (i + 1) & 0xFFFF
        return i

    def add(self, t, frame):
        self.frames.append((int(round(t * 1e6)), len(self.frames), frame))

    def ip(self, t, src, dst, proto, l4, ttl=None, ident=None, df=False, tos=0, gap=1.2e-5):
        """One IPv4 datagram at time t. One larger than the MTU is fragmented, as the sending
        kernel does (DF clear): the first fragment carries the transport header, the others
        only data. Returns the first IP packet (for ICMP errors that quote it)."""
        if ttl is None:
            ttl = self.ttl_of(src)
        if ident is None:
            ident = self.next_id(src)
        eth = self.mac(dst) + self.mac(src) + ETH_IPV4
        if 20 + len(l4) <= self.mtu:
            pkt = ipv4_header(src, dst, proto, 20 + len(l4), ident, ttl,
                              0x4000 if df else 0, tos) + l4
            self.add(t, eth + pkt)
            return pkt
        step = (self.mtu - 20) // 8 * 8
        first = None
        for i, off in enumerate(range(0, len(l4), step)):
            chunk = l4[off:off + step]
            mf = 0x2000 if off + step < len(l4) else 0
            pkt = ipv4_header(src, dst, proto, 20 + len(chunk), ident, ttl, mf | (off // 8),
                              tos) + chunk
            self.add(t + i * gap, eth + pkt)
            first = first or pkt
        return first

    def fragment(self, t, src, dst, proto, flags_frag, data, ttl=None, ident=None):
        """A bare IP fragment (for fragment floods)."""
        if ttl is None:
            ttl = self.ttl_of(src)
        if ident is None:
            ident = self.next_id(src)
        pkt = ipv4_header(src, dst, proto, 20 + len(data), ident, ttl, flags_frag) + data
        self.add(t, self.mac(dst) + self.mac(src) + ETH_IPV4 + pkt)
        return pkt

    def udp(self, t, src, dst, sport, dport, payload, **kw):
        return self.ip(t, src, dst, 17, udp_datagram(src, dst, sport, dport, payload), **kw)

    def tcp(self, t, src, dst, sport, dport, seq, ack, flags, win, opts=b"", payload=b"", **kw):
        kw.setdefault("df", True)
        return self.ip(t, src, dst, 6,
                       tcp_segment(src, dst, sport, dport, seq, ack, flags, win, opts, payload),
                       **kw)

    def icmp(self, t, src, dst, typ, code, rest=b"\0\0\0\0", data=b"", **kw):
        return self.ip(t, src, dst, 1, icmp_message(typ, code, rest, data), **kw)

    def icmp_error(self, t, src, dst, typ, code, orig, quoted_ttl=None, **kw):
        return self.icmp(t, src, dst, typ, code, b"\0\0\0\0", quote(orig, quoted_ttl), **kw)

    def write(self, path):
        """Sort by time and write with scapy's PcapWriter (little-endian pcap, Ethernet)."""
        self.frames.sort(key=lambda f: (f[0], f[1]))
        t0 = self.frames[0][0]
        w = PcapWriter(path, linktype=DLT_EN10MB, endianness="<", snaplen=65535, sync=False)
        w.write_header(None)
        nbytes = 0
        for us, _, frame in self.frames:
            us -= t0
            w.write_packet(frame, sec=EPOCH + us // 1000000, usec=us % 1000000)
            nbytes += len(frame)
        w.close()
        return {"packets": len(self.frames), "bytes": nbytes,
                "seconds": (self.frames[-1][0] - t0) / 1e6}


# ---- TCP ------------------------------------------------------------------------------------

# What each stack puts in its SYN (and the window values it advertises).
STACKS = {
    # Linux 6.x client: MSS, SACK_PERM, TS, NOP, WS 7; window 64240, then 502 << 7.
    "linux": dict(syn=("mss", "sackok", "ts", "nop", "ws"), ws=7, ts=True, win=64240,
                  scaled=502, ttl=64),
    # Windows 10/11: MSS, NOP, WS 8, NOP, NOP, SACK_PERM; no timestamps.
    "windows": dict(syn=("mss", "nop", "ws", "nop", "nop", "sackok"), ws=8, ts=False,
                    win=64240, scaled=1026, ttl=128),
    # macOS / iOS: MSS, NOP, WS 6, NOP, NOP, TS, SACK_PERM, EOL, EOL.
    "macos": dict(syn=("mss", "nop", "ws", "nop", "nop", "ts", "sackok", "eol", "eol"), ws=6,
                  ts=True, win=65535, scaled=2058, ttl=64),
    # A Linux server answering: SYN-ACK window 65160, later 501 << 7.
    "server": dict(syn=("mss", "sackok", "ts", "nop", "ws"), ws=7, ts=True, win=65160,
                   scaled=501, ttl=64),
    # A Windows server (IIS, Exchange).
    "winserver": dict(syn=("mss", "nop", "ws", "sackok", "ts"), ws=8, ts=True, win=65535,
                      scaled=1024, ttl=128),
}


def tcp_options(kinds, mss, ws, tsval=0, tsecr=0):
    out = b""
    for k in kinds:
        if k == "mss":
            out += struct.pack("!BBH", 2, 4, mss)
        elif k == "sackok":
            out += b"\x04\x02"
        elif k == "ts":
            out += struct.pack("!BBII", 8, 10, tsval & 0xFFFFFFFF, tsecr & 0xFFFFFFFF)
        elif k == "nop":
            out += b"\x01"
        elif k == "eol":
            out += b"\x00"
        elif k == "ws":
            out += struct.pack("!BBB", 3, 3, ws)
    out += b"\x00" * (-len(out) % 4)
    return out


class TcpConn:
    """One TCP connection as seen at the capture point next to one of its ends (`near`: "a",
    the opener, or "b"). A packet the near end sends is captured at once; an answer from the far
    end is captured one round trip after the packet it answers. Sequence and acknowledgement
    numbers, timestamps and window scaling follow the two stacks."""

    def __init__(self, cap, t, a, aport, b, bport, rtt, near="a", a_stack="linux",
                 b_stack="server", mss=1460, ttl_a=None, ttl_b=None):
        rng = cap.rng
        self.cap, self.rng, self.t, self.rtt, self.near = cap, rng, t, rtt, near
        self.ep = {"a": (a, aport), "b": (b, bport)}
        self.st = {"a": STACKS[a_stack], "b": STACKS[b_stack]}
        self.seq = {"a": rng.getrandbits(32), "b": rng.getrandbits(32)}
        self.isn = dict(self.seq)
        self.tsbase = {"a": rng.getrandbits(32), "b": rng.getrandbits(32)}
        self.last_tsval = {"a": 0, "b": 0}
        self.ttl = {"a": ttl_a, "b": ttl_b}
        self.use_ts = self.st["a"]["ts"] and self.st["b"]["ts"]
        self.mss_val = mss
        self.mss = mss - (12 if self.use_ts else 0)
        self.synced = False

    @staticmethod
    def other(side):
        return "b" if side == "a" else "a"

    def gap(self, sender, proc=0.0):
        """Capture-time delay until `sender` reacts to the last captured packet."""
        if sender == self.near:
            return self.rng.uniform(2e-5, 9e-5) + proc
        return self.rtt * self.rng.uniform(0.97, 1.08) + proc

    def _tsval(self, side, t):
        return (self.tsbase[side] + int(t * 1000)) & 0xFFFFFFFF

    def emit(self, t, side, flags, payload=b"", seq=None, ack=None):
        src, sport = self.ep[side]
        dst, dport = self.ep[self.other(side)]
        st = self.st[side]
        tsval = self._tsval(side, t)
        if flags & SYN:
            if flags & ACK:  # SYN-ACK: answer what the SYN offered
                kinds = [k for k in st["syn"] if k != "ts" or self.use_ts]
                if "ts" not in kinds and "ws" in kinds:
                    kinds = ["mss", "nop", "nop", "sackok", "nop", "ws"]
            else:
                kinds = st["syn"]
            opts = tcp_options(kinds, self.mss_val, st["ws"], tsval,
                               self.last_tsval[self.other(side)] if flags & ACK else 0)
            win = st["win"]
        else:
            opts = (tcp_options(("nop", "nop", "ts"), 0, 0, tsval,
                                self.last_tsval[self.other(side)]) if self.use_ts else b"")
            win = st["scaled"]
            if flags & RST:  # a reset carries no options and a zero window
                opts, win = b"", 0
        self.last_tsval[side] = tsval
        if seq is None:
            seq = self.seq[side]
        if ack is None:
            ack = self.seq[self.other(side)] if flags & ACK else 0
        ttl = self.ttl[side] or (st["ttl"] if side == self.near else None)
        return self.cap.tcp(t, src, dst, sport, dport, seq, ack, flags, win, opts, payload,
                            ttl=ttl)

    def open(self, proc=0.0):
        """SYN, SYN-ACK, ACK."""
        t = self.t
        self.emit(t, "a", SYN)
        self.seq["a"] += 1
        t += self.gap("b", proc)
        self.emit(t, "b", SYN | ACK)
        self.seq["b"] += 1
        t += self.gap("a")
        self.emit(t, "a", ACK)
        self.t = t
        return self

    def unanswered(self, retrans=(1.0, 3.0)):
        """A SYN nobody answers, resent after the stack's timeouts (Linux: 1 s, then doubling).
        Returns the last SYN's IP packet."""
        for d in (0.0,) + tuple(retrans):
            syn = self.emit(self.t + d, "a", SYN, seq=self.isn["a"])
        self.t += retrans[-1] if retrans else 0.0
        return syn

    def refused(self):
        """SYN answered by RST-ACK (closed port, or a firewall that rejects)."""
        self.emit(self.t, "a", SYN)
        self.seq["a"] += 1
        self.t += self.gap("b")
        self.emit(self.t, "b", RST | ACK, seq=0)

    def send(self, side, data, proc=0.0, final_ack=True):
        """`side` sends data: MSS-sized segments in flights (10 segments, doubling each round
        trip); the receiver ACKs every second segment. final_ack=False: the receiver answers at
        once, so its reply carries the ACK (no pure ACK for the last segment)."""
        if not data:
            return
        recv = self.other(side)
        segs = [data[i:i + self.mss] for i in range(0, len(data), self.mss)]
        spacing = 1.2e-4 if side != self.near else 1.5e-5
        t = self.t + self.gap(side, proc)
        cwnd, i, last_t = 10, 0, t
        while i < len(segs):
            first_ack = None
            for j, s in enumerate(segs[i:i + cwnd]):
                ts = t + j * spacing
                last = i + j == len(segs) - 1
                self.emit(ts, side, ACK | (PSH if last else 0), s)
                self.seq[side] += len(s)
                last_t = max(last_t, ts)
                if j % 2 == 1 or (last and final_ack):
                    at = ts + self.gap(recv) + (0.04 if last and j % 2 == 0 else 0.0)
                    self.emit(at, recv, ACK)
                    last_t = max(last_t, at)
                    if first_ack is None:
                        first_ack = at
            i += cwnd
            cwnd *= 2
            if i < len(segs):
                t = (first_ack if first_ack is not None else last_t) + self.gap(side)
        self.t = last_t

    def close(self, side="a", proc=0.0):
        """FIN from `side`, FIN-ACK back, last ACK."""
        t = self.t + self.gap(side, proc)
        self.emit(t, side, FIN | ACK)
        self.seq[side] += 1
        o = self.other(side)
        t += self.gap(o)
        self.emit(t, o, FIN | ACK)
        self.seq[o] += 1
        t += self.gap(side)
        self.emit(t, side, ACK)
        self.t = t


# ---- bencoding (BitTorrent DHT) -------------------------------------------------------------

def bencode(x):
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, list):
        return b"l" + b"".join(bencode(i) for i in x) + b"e"
    if isinstance(x, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in x.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(type(x))
