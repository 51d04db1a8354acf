"""Benign end hosts whose traffic trips naive detectors: a BitTorrent client, a laptop browsing
CDN-hosted sites, traceroute, a client whose connections often fail. (benign_infra.py holds the
benign infrastructure: a resolver, a NAT gateway, a monitoring poller, a mail relay.)

In: gen_CLASS(rng) takes the class's random.Random (captures.py seeds it from SEED and the
class name). Out: a wire.Capture taken at the host named below, on its LAN segment
(192.168.1.0/24; everything else is behind the gateway). Guarantees: the same generator state
gives the same frames, byte for byte; every frame is Ethernet/IPv4 with correct lengths and
checksums, and TCP follows wire.TcpConn's model (sequence numbers, timestamps, windows).

bittorrent_p2p
    192.168.1.20 (Transmission, port 51413) in a swarm: DHT (bencoded KRPC find_node, get_peers,
    announce_peer, ping; queries and answers) with 240 nodes on random high ports, incoming DHT
    queries it answers, BitTorrent peer connections over uTP (BEP 29) to 60 peers and TCP to
    100 (handshake, extension handshake, bitfield, unchoke, requests, 16 KiB pieces), 10
    peers connecting in. About 10% of the nodes and peers never answer (gone or behind NAT:
    SYN retransmissions at 1 and 3 s), a few refuse (RST, ICMP port unreachable). 60 s.
cdn_browsing
    The laptop 192.168.1.30 (macOS) loading five pages: DNS lookups to its router, 150 TLS
    connections to 80 CDN addresses on 443 (handshake, ClientHello with SNI, server flight,
    HTTP/2 requests, responses of 1-26 kB, FIN), and QUIC (UDP 443) with 20 addresses:
    padded 1252-byte Initials, server flights and 1-RTT responses much larger than requests.
traceroute
    192.168.1.40 runs `traceroute` to 5 destinations (UDP probes, 3 per TTL to ports 33434 and
    up, TTL 1-15, 16 in flight; each router answers time exceeded quoting the probe's IP header
    and 8 bytes, one hop stays silent, the destination answers port unreachable) and a
    `traceroute -I` (ICMP echo probes, destination answers echo reply).
failing_client
    192.168.1.50 with a broken network path or overloaded servers: 100 connection attempts to
    6 servers on 443, 80 and 8080 over 60 s; about 40% fail (RST, or nothing: SYN resent at 1
    and 3 s before the application gives up), the rest complete with an HTTP exchange.
"""

import struct

from scapy.layers.dns import DNS, DNSQR, DNSRR

from common import (dns_bytes, domain, http_request, http_response, rbytes, tls_client_hello,
                    tls_records, tls_server_flight)
from wire import (ECHO_REPLY, ECHO_REQUEST, TIME_EXCEEDED, UNREACH, AddrPool, Capture, TcpConn,
                  bencode)

LAN = ("192.168.1.0/24",)
ROUTER = "192.168.1.1"

# =============================================================================================
# bittorrent_p2p
# =============================================================================================

BT_ME, BT_PORT = "192.168.1.20", 51413
BT_VERSION = b"TR\x40\x50"  # Transmission 4.0.5 in KRPC's "v"


def bt_handshake(info_hash, peer_id):
    return b"\x13BitTorrent protocol" + bytes.fromhex("0000000000100005") + info_hash + peer_id


def bt_msg(mid, payload=b""):
    return struct.pack("!IB", 1 + len(payload), mid) + payload


def bt_ext_handshake(rng, client, port):
    d = {"m": {"ut_metadata": 3, "ut_pex": 1, "ut_holepunch": 4}, "p": port, "reqq": 512,
         "v": client, "yourip": rbytes(rng, 4), "metadata_size": 31337}
    return bt_msg(20, b"\x00" + bencode(d))


def bt_requests(rng, n):
    """n requests for consecutive 16 KiB blocks of a random piece each."""
    return b"".join(bt_msg(6, struct.pack("!III", rng.randint(0, 1999), k * 16384, 16384))
                    for k in range(n))


def bt_pieces(rng, index, n):
    """n consecutive 16 KiB blocks of piece `index`."""
    return b"".join(bt_msg(7, struct.pack("!II", index, k * 16384) + rbytes(rng, 16384))
                    for k in range(n))


def utp_header(typ, conn_id, t, ts_diff, wnd, seq, ack):
    """A uTP (BEP 29) header, version 1, no extension; timestamp in microseconds of t."""
    ts = int((t % 4000) * 1e6)
    return struct.pack("!BBHIIIHH", (typ << 4) | 1, 0, conn_id & 0xFFFF, ts & 0xFFFFFFFF,
                       ts_diff & 0xFFFFFFFF, wnd, seq & 0xFFFF, ack & 0xFFFF)


UTP_DATA, UTP_FIN, UTP_STATE, UTP_SYN = 0, 1, 2, 4
UTP_WND = 1048576


def compact_nodes(rng, n):
    """KRPC compact node info: n times node id, IPv4 address, port."""
    return b"".join(rbytes(rng, 20) + rbytes(rng, 4) + struct.pack("!H", rng.randint(1025, 65535))
                    for _ in range(n))


def compact_peers(rng):
    return [rbytes(rng, 4) + struct.pack("!H", rng.randint(1025, 65535))
            for _ in range(rng.randint(1, 30))]


class Swarm:
    """The client's view of one torrent's swarm: DHT nodes, uTP and TCP peers, and which of
    them are gone, refuse, or sit behind a closed port."""

    def __init__(self, rng):
        self.rng = rng
        self.cap = Capture(rng, LAN)
        pool = AddrPool(rng, clusters=120)
        self.info_hash = rbytes(rng, 20)
        self.my_id = b"-TR4050-" + rbytes(rng, 12)
        self.node_id = rbytes(rng, 20)
        self.nodes = pool.take(240, clustered=0.3)
        self.utp_peers = pool.take(60, clustered=0.3)
        self.tcp_peers = pool.take(100, clustered=0.3)
        self.port_of = {h: rng.choice((6881, 51413, rng.randint(10000, 65000),
                                       rng.randint(10000, 65000)))
                        for h in self.nodes + self.utp_peers + self.tcp_peers}
        self.gone = set(rng.sample(self.nodes, 24) + rng.sample(self.utp_peers, 6) +
                        rng.sample(self.tcp_peers, 10))
        self.refusing = set(rng.sample([h for h in self.tcp_peers if h not in self.gone], 3))
        self.unreach = set(rng.sample([h for h in self.nodes if h not in self.gone], 2))

    def send(self, t, peer, payload):
        return self.cap.udp(t, BT_ME, peer, BT_PORT, self.port_of[peer], payload)

    def recv(self, t, peer, payload):
        return self.cap.udp(t, peer, BT_ME, self.port_of[peer], BT_PORT, payload)

    def my_handshake(self):
        return (bt_handshake(self.info_hash, self.my_id) +
                bt_ext_handshake(self.rng, "Transmission 4.0.5", BT_PORT))

    def peer_id(self, clients):
        return self.rng.choice(clients) + rbytes(self.rng, 12)

    def peer_handshake(self, peer, peer_id):
        return (bt_handshake(self.info_hash, peer_id) +
                bt_ext_handshake(self.rng, "qBittorrent/4.6.3", self.port_of[peer]) +
                bt_msg(5, rbytes(self.rng, 250)))  # bitfield

    # ---- DHT --------------------------------------------------------------------------------

    def query_args(self, q):
        args = {"id": self.node_id}
        if q == "find_node":
            args["target"] = rbytes(self.rng, 20)
        elif q == "get_peers":
            args["info_hash"] = self.info_hash
        elif q == "announce_peer":
            args.update(info_hash=self.info_hash, port=BT_PORT, token=rbytes(self.rng, 8),
                        implied_port=1)
        return args

    def node_answer(self, q, tid):
        rng = self.rng
        r = {"id": rbytes(rng, 20)}
        if q in ("find_node", "get_peers"):
            r["nodes"] = compact_nodes(rng, 8)
        if q == "get_peers":
            r["token"] = rbytes(rng, rng.choice((4, 8, 20)))
            if rng.random() < 0.4:
                r["values"] = compact_peers(rng)
        resp = {"ip": rbytes(rng, 6), "r": r, "t": struct.pack("!H", tid), "y": "r"}
        if rng.random() < 0.5:
            resp["v"] = rng.choice((b"LT\x01\x02", b"UT\xb4\x5c", b"TR\x40\x00", b"lt\x0d\x60"))
        return bencode(resp)

    def lookup(self, i, n, tid):
        """Our query number i to node n (find_node while bootstrapping, then mostly get_peers)
        and its answer, if any."""
        rng = self.rng
        t = (i / len(self.nodes)) ** 1.5 * 55.0 + rng.uniform(0, 0.3)
        q = ("find_node" if t < 3.0 else
             rng.choices(("find_node", "get_peers", "ping", "announce_peer"), (2, 10, 2, 1))[0])
        msg = bencode({"a": self.query_args(q), "q": q, "t": struct.pack("!H", tid), "y": "q",
                       "v": BT_VERSION})
        pkt = self.send(t, n, msg)
        if n in self.gone:
            return
        rtt = rng.uniform(0.03, 0.35)
        if n in self.unreach:
            self.cap.icmp_error(t + rtt, n, BT_ME, UNREACH, 3, pkt)
            return
        self.recv(t + rtt, n, self.node_answer(q, tid))

    def incoming(self, n):
        """A query from a node that learnt about us, and our answer."""
        rng = self.rng
        t = rng.uniform(5.0, 59.0)
        q = rng.choice(("ping", "find_node", "get_peers"))
        a = {"id": rbytes(rng, 20)}
        if q == "find_node":
            a["target"] = rbytes(rng, 20)
        if q == "get_peers":
            a["info_hash"] = rbytes(rng, 20)
        qt = rbytes(rng, 2)
        self.recv(t, n, bencode({"a": a, "q": q, "t": qt, "y": "q"}))
        r = {"id": self.node_id}
        if q != "ping":
            r["nodes"] = compact_nodes(rng, 8)
        if q == "get_peers":
            r["token"] = rbytes(rng, 8)
        self.send(t + rng.uniform(1e-4, 6e-4), n, bencode({"r": r, "t": qt, "y": "r",
                                                            "v": BT_VERSION}))

    def dht(self):
        tid = self.rng.getrandbits(16)
        for i, n in enumerate(self.nodes):
            tid = (tid + 1) & 0xFFFF
            self.lookup(i, n, tid)
        for n in self.rng.sample([x for x in self.nodes if x not in self.gone], 30):
            self.incoming(n)

    # ---- TCP peers --------------------------------------------------------------------------

    def tcp_conn(self, i, p):
        """The connection to (or, for the last 10 that answer, from) TCP peer number i."""
        rng = self.rng
        incoming = i >= 90 and p not in self.gone and p not in self.refusing
        t = rng.uniform(1.0, 50.0)
        rtt = rng.uniform(0.03, 0.3)
        stack = rng.choice(("linux", "windows", "server"))
        if incoming:
            c = TcpConn(self.cap, t, p, rng.randint(1024, 65535), BT_ME, BT_PORT, rtt, near="b",
                        a_stack=stack, b_stack="linux")
        else:
            c = TcpConn(self.cap, t, BT_ME, rng.randint(32768, 60999), p, self.port_of[p], rtt,
                        near="a", a_stack="linux", b_stack=stack)
        return c, incoming

    def tcp_peer(self, i, p):
        rng = self.rng
        c, incoming = self.tcp_conn(i, p)
        if p in self.gone:
            c.unanswered((1.0, 3.0))
            return
        if p in self.refusing:
            c.refused()
            return
        c.open()
        a, b = ("b", "a") if incoming else ("a", "b")  # a: us
        peer_id = self.peer_id((b"-qB4630-", b"-UT355S-", b"-lt0D60-", b"-DE211s-"))
        c.send(a, self.my_handshake(), final_ack=False)
        c.send(b, self.peer_handshake(p, peer_id), proc=0.002)
        c.send(a, bt_msg(2), proc=0.001, final_ack=False)  # interested
        if rng.random() < 0.6:
            c.send(b, bt_msg(1), proc=0.003)  # unchoke
            nblk = rng.choice((1, 1, 2))
            c.send(a, bt_requests(rng, nblk), proc=0.001, final_ack=False)
            c.send(b, bt_pieces(rng, 5, nblk), proc=0.004)
        else:
            c.send(b, bt_msg(0), proc=rng.uniform(1, 8))  # choked: a keep-alive later
        if rng.random() < 0.6:
            c.close(rng.choice(("a", "b")), proc=rng.uniform(1.0, 10.0))


class Utp:
    """A uTP connection we open to a peer: we send with connection id recv_id + 1 (recv_id on
    the SYN), the peer with recv_id."""

    def __init__(self, swarm, peer):
        rng = swarm.rng
        self.sw, self.rng, self.peer = swarm, rng, peer
        self.t = rng.uniform(1.0, 50.0)
        self.rtt = rng.uniform(0.03, 0.3)
        self.diff = int(self.rtt * 5e5)
        self.recv_id = rng.getrandbits(16)
        self.seq = rng.getrandbits(16)
        self.pseq = None

    def mine(self, t, typ, payload=b"", ts=None):
        hdr = utp_header(typ, self.recv_id + 1, t if ts is None else ts, self.diff, UTP_WND,
                         self.seq, self.pseq)
        self.sw.send(t, self.peer, hdr + payload)

    def theirs(self, t, typ, payload=b""):
        hdr = utp_header(typ, self.recv_id, t, self.diff, UTP_WND, self.pseq, self.seq)
        self.sw.recv(t, self.peer, hdr + payload)

    def syn(self, t):
        self.sw.send(t, self.peer, utp_header(UTP_SYN, self.recv_id, t, 0, UTP_WND, self.seq, 0))

    def run(self):
        if self.peer in self.sw.gone:
            for d in (0.0, 1.0, 3.0):
                self.syn(self.t + d)
            return
        self.syn(self.t)
        self.pseq = self.rng.getrandbits(16)
        self.t += self.rtt
        self.theirs(self.t, UTP_STATE)
        self.seq = (self.seq + 1) & 0xFFFF
        self.t += 1e-4
        self.mine(self.t, UTP_DATA, self.sw.my_handshake())
        self.t += self.rtt
        peer_id = self.sw.peer_id((b"-qB4630-", b"-UT355S-", b"-lt0D60-", b"-TR3000-"))
        reply = self.sw.peer_handshake(self.peer, peer_id) + bt_msg(1)
        self.pseq = (self.pseq + 1) & 0xFFFF
        self.theirs(self.t, UTP_DATA, reply)
        self.transfer()

    def transfer(self):
        """Interested and two requests; a piece's block (40%); FIN after a while."""
        rng = self.rng
        self.t += 1e-4
        self.seq = (self.seq + 1) & 0xFFFF
        self.mine(self.t, UTP_DATA, bt_msg(2) + bt_requests(rng, 2))
        self.t += self.rtt
        if rng.random() < 0.4:
            block = bt_pieces(rng, 7, 1)
            for i in range(0, len(block), 1382):
                self.pseq = (self.pseq + 1) & 0xFFFF
                self.theirs(self.t, UTP_DATA, block[i:i + 1382])
                if (i // 1382) % 2 == 1:
                    self.mine(self.t + 5e-5, UTP_STATE, ts=self.t)
                self.t += rng.uniform(2e-4, 6e-4)
        self.t += rng.uniform(5, 15)
        self.sw.send(self.t, self.peer, utp_header(UTP_FIN, self.recv_id + 1, self.t, 0, 0,
                                                   self.seq + 1, self.pseq))


def gen_bittorrent_p2p(rng):
    sw = Swarm(rng)
    sw.dht()
    for p in sw.utp_peers:
        Utp(sw, p).run()
    for i, p in enumerate(sw.tcp_peers):  # 90 we connect to, 10 that connect to us
        sw.tcp_peer(i, p)
    return sw.cap


# =============================================================================================
# cdn_browsing
# =============================================================================================

LAPTOP = "192.168.1.30"
PAGES = [0.0, 6.5, 12.0, 18.5, 24.0]


def quic_long(rng, typ, dcid, scid, size):
    """A QUIC v1 long-header packet padded to size (its protected payload is opaque)."""
    first = 0xC0 | (typ << 4) | rng.getrandbits(2)
    hdr = (bytes([first]) + b"\x00\x00\x00\x01" + bytes([len(dcid)]) + dcid +
           bytes([len(scid)]) + scid)
    if typ == 0:
        hdr += b"\x00"  # token length
    rest = size - len(hdr) - 2
    return hdr + struct.pack("!H", 0x4000 | rest) + rbytes(rng, rest)


def quic_short(rng, dcid, size):
    return bytes([0x40 | rng.getrandbits(5)]) + dcid + rbytes(rng, size - 1 - len(dcid))


class Laptop:
    """The browsing laptop: its resolver cache and the CDN and QUIC servers it talks to."""

    def __init__(self, rng):
        self.rng = rng
        self.cap = Capture(rng, LAN)
        pool = AddrPool(rng)
        prefixes = [pool.prefix() for _ in range(8)]
        self.cdn = []
        for p in prefixes:
            self.cdn += pool.in_prefix(p, 10)
        self.quic_hosts = pool.take(20, clustered=0.2)
        self.hostnames = {a: rng.choice(["static", "cdn", "img", "assets", "fonts", "media",
                                         "api", "www"]) + "." + domain(rng)
                          for a in self.cdn + self.quic_hosts}
        self.resolved = set()

    def lookup(self, t, addr):
        """A, AAAA and HTTPS queries to the router, unless cached; returns when done."""
        if addr in self.resolved:
            return t
        self.resolved.add(addr)
        rng, name = self.rng, self.hostnames[addr] + "."
        for qtype in ("A", "AAAA", "HTTPS"):
            sport, qid = rng.randint(49152, 65535), rng.getrandbits(16)
            self.cap.udp(t, LAPTOP, ROUTER, sport, 53,
                         bytes(DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype))))
            rt = rng.uniform(0.002, 0.03)
            an = (DNSRR(rrname=name, type="A", ttl=60, rdata=addr) if qtype == "A" else
                  DNSRR(rrname=name, type="AAAA", ttl=60,
                        rdata="2001:db8::%x" % rng.getrandbits(16)) if qtype == "AAAA" else
                  None)
            self.cap.udp(t + rt, ROUTER, LAPTOP, 53, sport,
                         dns_bytes(DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype),
                                       an=an)))
            t += rng.uniform(1e-4, 5e-4)
        return t + 0.03

    def connections(self):
        """(start, address) of the 150 TLS connections: each page opens a burst of them."""
        rng = self.rng
        order = rng.sample(self.cdn, len(self.cdn))
        conns = []
        for k in range(150):
            addr = order[k] if k < len(order) else rng.choice(self.cdn)
            page = PAGES[k * len(PAGES) // 150]
            conns.append((page + rng.uniform(0.0, 1.8) ** 2, addr))
        return conns

    def https(self, t, addr):
        rng = self.rng
        t = self.lookup(t, addr)
        rtt = rng.uniform(0.008, 0.06)
        c = TcpConn(self.cap, t, LAPTOP, rng.randint(49152, 65535), addr, 443, rtt, near="a",
                    a_stack="macos", b_stack="server", mss=1440)
        c.open()
        c.send("a", tls_client_hello(rng, self.hostnames[addr]), final_ack=False)
        c.send("b", tls_server_flight(rng), proc=0.001)
        c.send("a", b"\x14\x03\x03\x00\x01\x01" + tls_records(rng, 74) +
               tls_records(rng, rng.randint(150, 700)), final_ack=False)
        c.send("b", tls_records(rng, min(int(rng.paretovariate(1.3) * 1500), 25000) + 600),
               proc=rng.uniform(0.002, 0.05))
        if rng.random() < 0.4:
            c.send("a", tls_records(rng, rng.randint(80, 400)), proc=rng.uniform(0.1, 2.0),
                   final_ack=False)
            c.send("b", tls_records(rng, rng.randint(400, 9000)), proc=0.01)
        c.close(rng.choice(("a", "a", "b")), proc=rng.uniform(0.5, 4.0))

    def quic(self, q):
        """A QUIC connection: handshake, then one to three request/response rounds."""
        rng, cap = self.rng, self.cap
        t = self.lookup(rng.choice(PAGES) + rng.uniform(0.0, 3.0), q)
        rtt = rng.uniform(0.008, 0.05)
        dcid, scid, sdcid = rbytes(rng, 8), b"", rbytes(rng, 8)
        cport = rng.randint(49152, 65535)
        cap.udp(t, LAPTOP, q, cport, 443, quic_long(rng, 0, dcid, scid, 1252))
        t += rtt
        for k in range(rng.choice((2, 3, 4))):  # Initial+Handshake: ServerHello, certificates
            cap.udp(t, q, LAPTOP, 443, cport,
                    quic_long(rng, 2 if k else 0, scid, sdcid, rng.choice((1252, 1252, 1200))))
            t += 1e-4
        # padded Initial ACK + Handshake
        cap.udp(t + 2e-4, LAPTOP, q, cport, 443, quic_long(rng, 2, sdcid, scid, 1252))
        t += 4e-4
        cap.udp(t, LAPTOP, q, cport, 443, quic_short(rng, sdcid, rng.randint(60, 250)))  # request
        for _ in range(rng.randint(1, 3)):
            t = self.quic_response(t + (rtt + rng.uniform(0.002, 0.02)), q, cport, sdcid)

    def quic_response(self, t, q, cport, sdcid):
        """A response of 3 to 40 packets, ACKed every second one, then the next request."""
        rng, cap = self.rng, self.cap
        n = rng.randint(3, 40)
        for j in range(n):
            cap.udp(t, q, LAPTOP, 443, cport,
                    quic_short(rng, b"", 1252 if j < n - 1 else rng.randint(200, 1252)))
            if j % 2 == 1:
                cap.udp(t + 5e-5, LAPTOP, q, cport, 443,
                        quic_short(rng, sdcid, rng.randint(40, 50)))
            t += rng.uniform(8e-5, 3e-4)
        t += rng.uniform(0.05, 1.5)
        cap.udp(t, LAPTOP, q, cport, 443, quic_short(rng, sdcid, rng.randint(60, 250)))
        return t


def gen_cdn_browsing(rng):
    laptop = Laptop(rng)
    for t, addr in laptop.connections():
        laptop.https(t, addr)
    for q in laptop.quic_hosts:
        laptop.quic(q)
    return laptop.cap


# =============================================================================================
# traceroute
# =============================================================================================

TRACER = "192.168.1.40"


def trace_probe(cap, icmp_mode, t, dst, ttl, probe, sport, ident):
    """Probe number `probe` (from 0): returns its IP packet and, for ICMP, its id and seq."""
    if icmp_mode:
        rest = struct.pack("!HH", ident, probe + 1)
        return cap.icmp(t, TRACER, dst, ECHO_REQUEST, 0, rest, b"\x40" * 32, ttl=ttl,
                        df=False), rest
    return cap.udp(t, TRACER, dst, sport, 33434 + probe, bytes(range(0x40, 0x60)), ttl=ttl), None


def trace_answer(cap, rng, t, path, silent, ttl, pkt, rest):
    """What comes back for a probe sent with `ttl`, one round trip later (t: its arrival)."""
    hops = len(path)
    if min(ttl, hops) == hops:  # the destination
        if rest is not None:
            cap.icmp(t, path[-1], TRACER, ECHO_REPLY, 0, rest, b"\x40" * 32, ttl=64 - hops + 1)
        else:
            cap.icmp_error(t, path[-1], TRACER, UNREACH, 3, pkt, quoted_ttl=ttl - hops + 1,
                           ttl=64 - hops + 1)
    elif ttl != silent and not (ttl > 2 and rng.random() < 0.05):
        cap.icmp_error(t, path[ttl - 1], TRACER, TIME_EXCEEDED, 0, pkt, quoted_ttl=1,
                       ttl=255 - ttl + 1 if ttl > 1 else 64)


def trace_run(cap, rng, pool, isp, t0, dst, icmp_mode):
    """One traceroute to dst from t0: 3 probes per TTL up to 15; returns when the next starts."""
    hops = rng.randint(8, 15)
    path = [ROUTER] + isp + pool.take(hops - 4, clustered=0.0) + [dst]
    silent = rng.randint(4, hops - 2) if rng.random() < 0.8 else None
    rtt_h = [0.0005 + 0.004 * h + rng.uniform(0, 0.003) for h in range(hops + 16)]
    sport = rng.randint(33000, 60999)
    ident = rng.getrandbits(16)
    probe, t, last_t = 0, t0, t0
    for ttl in range(1, min(hops + 2, 15) + 1):  # in-flight probes past the destination
        for _ in range(3):
            pkt, rest = trace_probe(cap, icmp_mode, t, dst, ttl, probe, sport, ident)
            probe += 1
            hop = min(ttl, hops)
            rtt = rtt_h[hop] * rng.uniform(0.95, 1.3)
            trace_answer(cap, rng, t + rtt, path, silent, ttl, pkt, rest)
            last_t = max(last_t, t + rtt)
            t += rng.uniform(1e-4, 4e-4) if probe < 16 else rtt_h[hop] * 0.5
    return max(last_t, t) + (5.0 if silent else 0.5) + rng.uniform(0.5, 2.0)


def gen_traceroute(rng):
    cap = Capture(rng, LAN)
    pool = AddrPool(rng)
    isp = ["100.64.%d.1" % rng.randint(0, 255), pool.one(0.0)]
    dests = pool.take(6, clustered=0.0)
    t0 = 0.0
    for run, dst in enumerate(dests):
        t0 = trace_run(cap, rng, pool, isp, t0, dst, icmp_mode=run == 5)
    return cap


# =============================================================================================
# failing_client
# =============================================================================================

def gen_failing_client(rng):
    me = "192.168.1.50"
    cap = Capture(rng, LAN)
    servers = AddrPool(rng).take(6)
    ports = {s: rng.choice((443, 80, 8080)) for s in servers}
    health = {s: h for s, h in zip(servers, (0.1, 0.2, 0.4, 0.5, 0.7, 0.9))}  # failure probability
    for k in range(100):
        t = k * 0.59 + rng.uniform(0, 0.3)
        s = rng.choice(servers)
        rtt = rng.uniform(0.02, 0.15)
        c = TcpConn(cap, t, me, rng.randint(32768, 60999), s, ports[s], rtt, near="a",
                    a_stack="linux", b_stack="server")
        if rng.random() < health[s]:
            if rng.random() < 0.5:
                c.refused()
            else:
                c.unanswered((1.0, 3.0))
            continue
        c.open()
        web_exchange(rng, c, ports[s] == 443)
        c.close(rng.choice(("a", "b")), proc=rng.uniform(0.05, 1.0))
    return cap


def web_exchange(rng, c, tls):
    if tls:
        c.send("a", tls_client_hello(rng, domain(rng)), final_ack=False)
        c.send("b", tls_server_flight(rng), proc=0.002)
        c.send("a", tls_records(rng, rng.randint(100, 500)), final_ack=False)
        c.send("b", tls_records(rng, rng.randint(500, 6000)), proc=0.02)
    else:
        c.send("a", http_request(rng, domain(rng)), final_ack=False)
        c.send("b", http_response(rng, rng.randint(200, 5000)), proc=0.02)
