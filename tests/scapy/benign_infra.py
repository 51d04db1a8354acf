"""Benign infrastructure whose traffic trips naive detectors: a recursive resolver, a NAT
gateway, a monitoring poller, a mail relay. (benign.py holds the benign end hosts.)

In: gen_CLASS(rng) takes the class's random.Random (captures.py seeds it from SEED and the
class name). Out: a wire.Capture taken at the host named below, on its own segment (10.0.0.0/24,
or 198.51.100.0/24 for the gateway; everything else is behind the router). Guarantees: the same
generator state gives the same frames, byte for byte; every frame is Ethernet/IPv4 with correct
lengths and checksums, and TCP follows wire.TcpConn's model (sequence numbers, timestamps,
windows).

dns_resolver
    The recursive resolver 10.0.0.53 for 200 LAN clients: cache hits answered at once, misses
    resolved against 300 name servers (13 root, 20 TLD, 267 authoritative) from random source
    ports with EDNS0 (1232, DO), answers small, DNSSEC-signed (large), NXDOMAIN, referrals,
    and truncated ones (TC) retried over TCP; 2% of upstream queries time out and are retried
    elsewhere after 376 ms. 30 s.
nat_gateway
    The outside of a NAT gateway, 198.51.100.1, for 100 users: 3000 TCP connections to 600
    servers (443, 80, 993, 5223, 8080, 22, ...) over 60 s, source ports allocated at random
    across 1024-65535, each user's OS visible in its TTL and TCP options; all answered.
monitoring_poller
    A monitoring server, 10.0.0.5, checking 500 hosts every 10 s for 60 s: ping, an SNMP v2c
    get (sysUpTime, ifInOctets, ifOutOctets), TCP connects to 22 (sshd sends its banner) and,
    on web servers, 80. 2% of the hosts are down: their probes go unanswered (SYNs resent at
    1 and 3 s), or the last router answers host unreachable.
mail_relay
    The outbound relay 10.0.0.25 (Postfix) delivering to 300 MX hosts over 60 s: full SMTP
    dialogues (banner, EHLO, STARTTLS or MAIL/RCPT/DATA, 250, QUIT), a few greylisted (450);
    ~10% refused (RST) or unanswered (SYN resent at 1, 3, 7 s), then the next MX is tried.
"""

import struct

from scapy.asn1.asn1 import ASN1_COUNTER32, ASN1_NULL, ASN1_TIME_TICKS
from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRRMX, DNSRROPT, DNSRRRSIG, DNSRRSOA
from scapy.layers.snmp import SNMP, SNMPget, SNMPresponse, SNMPvarbind

from common import (EXPIRY, INCEPTION, chain, dns_bytes, domain, http_request, http_response,
                    iputils_payload, rbytes, tls_client_hello, tls_records, tls_server_flight)
from wire import (ACK, ECHO_REPLY, ECHO_REQUEST, STACKS, UNREACH, AddrPool, Capture, TcpConn)

SITE = ("10.0.0.0/24",)
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"

# =============================================================================================
# dns_resolver
# =============================================================================================

RESOLVER = "10.0.0.53"
ROOTS = ["198.41.0.4", "170.247.170.2", "192.33.4.12", "199.7.91.13", "192.203.230.10",
         "192.5.5.241", "192.112.36.4", "198.97.190.53", "192.36.148.17", "192.58.128.30",
         "193.0.14.129", "199.7.83.42", "202.12.27.33"]
QTYPES = [("A", 1), ("AAAA", 28), ("HTTPS", 65), ("PTR", 12), ("MX", 15), ("TXT", 16)]
EDNS_BUFFER = 1232


def upstream_opt():
    """The resolver's OPT record: 1232-byte buffer, DO set."""
    return DNSRROPT(rclass=EDNS_BUFFER, z=0x8000)


def stub_opt():
    return DNSRROPT(rclass=EDNS_BUFFER)


def negative_soa(n):
    return DNSRRSOA(rrname=n["zone"], ttl=900, mname="ns1." + n["zone"],
                    rname="hostmaster." + n["zone"], serial=2025120101, minimum=900)


def referral(qid, q, n):
    """A TLD's (or the root's) referral to the zone's two name servers, with glue."""
    ns = [DNSRR(rrname=n["zone"], type="NS", ttl=172800, rdata="ns%d.%s" % (i + 1, n["zone"]))
          for i in range(2)]
    glue = [DNSRR(rrname="ns%d.%s" % (i + 1, n["zone"]), type="A", ttl=172800, rdata=a)
            for i, a in enumerate(n["ns"])]
    return DNS(id=qid, qr=1, aa=0, rd=0, qd=q, ns=chain(ns), ar=chain(glue + [upstream_opt()]))


def dns_over_tcp(c, query, answer, proc=0.0):
    """A query retried over TCP (`a` asks, `b` answers); returns when the answer is in."""
    c.open()
    c.send("a", struct.pack("!H", len(query)) + query, final_ack=False)
    c.send("b", struct.pack("!H", len(answer)) + answer, proc=proc)
    return c.t


NAME_PREFIXES = ["", "www.", "api.", "cdn.", "static.", "mail.", "img.", "login."]


def dns_name(rng, pool, auths):
    """A name the clients look up: its zone, two authoritative servers, what it holds."""
    d = domain(rng)
    return dict(
        name=rng.choice(NAME_PREFIXES) + d + ".",
        zone=d + ".", ns=rng.sample(auths, 2), signed=rng.random() < 0.3,
        big=rng.random() < 0.03, nx=rng.random() < 0.05,
        addrs=[pool.one(0.2) for _ in range(rng.choice((1, 1, 2, 4)))])


class Resolver:
    """The resolver's clients, upstream servers, names and cache."""

    def __init__(self, rng):
        self.rng = rng
        self.cap = Capture(rng, SITE)
        pool = AddrPool(rng, clusters=80, used=ROOTS)
        self.tlds = pool.take(20)
        auths = pool.take(267)
        clients = ["10.0.%d.%d" % (rng.choice((1, 2, 3)), rng.randint(2, 254)) for _ in range(400)]
        self.clients = list(dict.fromkeys(clients))[:200]
        self.names = [dns_name(rng, pool, auths) for _ in range(420)]
        self.weights = [1.0 / (i + 1) ** 0.9 for i in range(len(self.names))]
        self.cache = {}  # (name, qtype) -> expiry
        self.tld_cache_warm = set()

    def answer_records(self, n, qtype, ttl, dnssec):
        rng, name = self.rng, n["name"]
        if qtype == 1:
            rrs = [DNSRR(rrname=name, type="A", ttl=ttl, rdata=a) for a in n["addrs"]]
        elif qtype == 28:
            rrs = [DNSRR(rrname=name, type="AAAA", ttl=ttl,
                         rdata="2001:db8:%x::%x" % (rng.getrandbits(16), rng.getrandbits(16)))]
        elif qtype == 16 or n["big"]:
            rrs = [DNSRR(rrname=name, type="TXT", ttl=ttl,
                         rdata=[rbytes(rng, 120).hex().encode()[:240]])
                   for _ in range(8 if n["big"] else 1)]
        elif qtype == 15:
            rrs = [DNSRRMX(rrname=name, type="MX", ttl=ttl, preference=10,
                           exchange="mx." + n["zone"])]
        else:
            rrs = [DNSRR(rrname=name, type="CNAME", ttl=ttl, rdata="edge." + n["zone"])]
        if dnssec and n["signed"]:
            rrs.append(DNSRRRSIG(rrname=name, ttl=ttl, typecovered=rrs[0].type, algorithm=13,
                                 labels=name.count(".") - 1, originalttl=ttl, expiration=EXPIRY,
                                 inception=INCEPTION, keytag=rng.getrandbits(16),
                                 signersname=n["zone"], signature=rbytes(rng, 64)))
        return rrs

    def upstream(self, t, server, n, qtype, qname, kind):
        """One upstream query and its answer; returns the time the answer arrived."""
        rng = self.rng
        sport = rng.randint(1024, 65535)
        qid = rng.getrandbits(16)
        q = dns_bytes(DNS(id=qid, rd=0, qd=DNSQR(qname=qname, qtype=qtype), ar=upstream_opt()),
                      compress=False)
        self.cap.udp(t, RESOLVER, server, sport, 53, q)
        rtt = rng.uniform(0.004, 0.18)
        if rng.random() < 0.02:  # lost or lame: Unbound retries elsewhere after its RTO
            alt = rng.choice(n["ns"] if kind == "auth" else self.tlds)
            return self.upstream(t + 0.376, alt, n, qtype, qname, kind)
        if kind == "referral":
            msg = dns_bytes(referral(qid, DNSQR(qname=qname, qtype=qtype), n))
        elif n["nx"]:
            msg = dns_bytes(DNS(id=qid, qr=1, aa=1, rcode=3, qd=DNSQR(qname=qname, qtype=qtype),
                                ns=negative_soa(n), ar=upstream_opt()))
        else:
            rrs = self.answer_records(n, qtype, rng.choice((60, 300, 300, 3600)), True)
            msg = dns_bytes(DNS(id=qid, qr=1, aa=1, qd=DNSQR(qname=qname, qtype=qtype),
                                an=chain(rrs), ar=upstream_opt()))
            if len(msg) > EDNS_BUFFER:
                return self.truncated(t + rtt, server, sport, qid, qname, qtype, q, msg, rtt)
        self.cap.udp(t + rtt, server, RESOLVER, 53, sport, msg)
        return t + rtt

    def truncated(self, t, server, sport, qid, qname, qtype, q, full, rtt):
        """An answer too large for UDP: TC set without records, then the query over TCP."""
        tc = dns_bytes(DNS(id=qid, qr=1, aa=1, tc=1, qd=DNSQR(qname=qname, qtype=qtype),
                           ar=upstream_opt()))
        self.cap.udp(t, server, RESOLVER, 53, sport, tc)
        c = TcpConn(self.cap, t + 2e-4, RESOLVER, self.rng.randint(32768, 60999), server, 53,
                    rtt, near="a", a_stack="linux", b_stack="server")
        done = dns_over_tcp(c, q, full)
        c.close("a", proc=0.001)
        return done

    def resolve(self, t, n, qtype, qname):
        """A cache miss from time t: referrals while the zone's delegation is not cached, then
        the authoritative answer; returns when the answer is in."""
        rng = self.rng
        tt = t + rng.uniform(5e-5, 2e-4)
        if n["zone"] not in self.tld_cache_warm:
            if rng.random() < 0.1:
                tt = self.upstream(tt, rng.choice(ROOTS), n, qtype, qname, "referral") + 1e-4
            tt = self.upstream(tt, rng.choice(self.tlds), n, qtype, qname, "referral") + 1e-4
            self.tld_cache_warm.add(n["zone"])
        return self.upstream(tt, rng.choice(n["ns"]), n, qtype, qname, "auth") + 1e-4

    def client_query(self, t):
        """A client's query at time t, answered from the cache or after resolving it."""
        rng = self.rng
        cl = rng.choice(self.clients)
        n = rng.choices(self.names, self.weights)[0]
        _, qtype = rng.choices(QTYPES, (50, 30, 10, 4, 3, 3))[0]
        # Linux / Windows stubs
        cport = rng.choice((rng.randint(32768, 60999), rng.randint(49152, 65535)))
        cid = rng.getrandbits(16)
        qname = n["name"]
        self.cap.udp(t, cl, RESOLVER, cport, 53,
                     dns_bytes(DNS(id=cid, rd=1, qd=DNSQR(qname=qname, qtype=qtype), ar=stub_opt()),
                               compress=False))
        key = (qname, qtype)
        if self.cache.get(key, -1) > t:
            done = t + rng.uniform(5e-5, 3e-4)
        else:
            done = self.resolve(t, n, qtype, qname)
            self.cache[key] = t + 300
        self.answer_client(done, cl, cport, cid, n, qtype, qname)

    def answer_client(self, t, cl, cport, cid, n, qtype, qname):
        rng = self.rng
        if n["nx"]:
            ans = DNS(id=cid, qr=1, rd=1, ra=1, rcode=3, qd=DNSQR(qname=qname, qtype=qtype),
                      ns=negative_soa(n), ar=stub_opt())
        else:
            ans = DNS(id=cid, qr=1, rd=1, ra=1, qd=DNSQR(qname=qname, qtype=qtype),
                      an=chain(self.answer_records(n, qtype, rng.randint(30, 300), False)),
                      ar=stub_opt())
        msg = dns_bytes(ans)
        if len(msg) <= EDNS_BUFFER:
            self.cap.udp(t, RESOLVER, cl, 53, cport, msg)
            return
        # too big for the client's EDNS buffer: TC, and the stub retries over TCP
        self.cap.udp(t, RESOLVER, cl, 53, cport,
                     dns_bytes(DNS(id=cid, qr=1, rd=1, ra=1, tc=1,
                                   qd=DNSQR(qname=qname, qtype=qtype), ar=stub_opt())))
        q = bytes(DNS(id=cid, rd=1, qd=DNSQR(qname=qname, qtype=qtype)))
        c = TcpConn(self.cap, t + rng.uniform(3e-4, 1e-3), cl, rng.randint(49152, 65535),
                    RESOLVER, 53, rng.uniform(3e-4, 2e-3), near="b",
                    a_stack=rng.choice(("linux", "windows", "macos")), b_stack="server")
        dns_over_tcp(c, q, msg, proc=1e-4)
        c.close("a", proc=1e-3)


def gen_dns_resolver(rng):
    res = Resolver(rng)
    t = 0.0
    while t < 30.0:
        t += rng.expovariate(85.0)
        res.client_query(t)
    return res.cap


# =============================================================================================
# nat_gateway
# =============================================================================================

def nat_port(rng, used, server):
    """A random source port not yet used towards `server`."""
    while True:
        p = rng.randint(1024, 65535)
        if (p, server) not in used:
            used.add((p, server))
            return p


def nat_exchange(rng, c, port):
    """What the connection carries: HTTP, SSH banners and key exchange, or a TLS handshake."""
    if port == 80 or port == 8080:
        c.send("a", http_request(rng, domain(rng)), final_ack=False)
        c.send("b", http_response(rng, rng.randint(100, 1200)), proc=rng.uniform(0.001, 0.03))
    elif port == 22:
        c.send("b", SSH_BANNER, proc=0.002)
        c.send("a", b"SSH-2.0-PuTTY_Release_0.80\r\n", final_ack=False)
        c.send("b", rbytes(rng, rng.randint(900, 1100)), proc=0.001)
    else:
        c.send("a", tls_records(rng, rng.randint(80, 500), b"\x16"), final_ack=False)
        c.send("b", tls_records(rng, rng.randint(150, 1400), b"\x16"),
               proc=rng.uniform(0.001, 0.03))


def gen_nat_gateway(rng):
    gw = "198.51.100.1"
    cap = Capture(rng, ("198.51.100.0/24",))
    servers = AddrPool(rng).take(600)
    port_of = {s: rng.choices((443, 80, 993, 5223, 8080, 22, 853, 5228, 8443),
                              (70, 15, 3, 3, 2, 2, 1, 2, 2))[0] for s in servers}
    users = [rng.choices(("windows", "linux", "macos"), (50, 15, 35))[0] for _ in range(100)]
    used_ports = set()
    for k in range(3000):
        t = k * (60.0 / 3000) + rng.uniform(0.0, 0.02)
        s = rng.choice(servers)
        stack = users[rng.randrange(100)]
        p = nat_port(rng, used_ports, s)
        rtt = rng.uniform(0.01, 0.2)
        c = TcpConn(cap, t, gw, p, s, port_of[s], rtt, near="a", a_stack=stack,
                    b_stack=rng.choice(("server", "server", "winserver")),
                    ttl_a=STACKS[stack]["ttl"] - 1)
        c.open()
        nat_exchange(rng, c, port_of[s])
        c.close(rng.choice(("a", "a", "b")), proc=rng.uniform(0.05, 3.0))
    return cap


# =============================================================================================
# monitoring_poller
# =============================================================================================

MONITOR, SITE_ROUTER = "10.0.0.5", "10.0.0.1"
POLLED_OIDS = ["1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.2.2.1.10.2", "1.3.6.1.2.1.2.2.1.16.2"]


class Poller:
    """The monitored hosts (which are down, which of those the router reports, which serve
    web) and the poller's ping state."""

    def __init__(self, rng):
        self.rng = rng
        self.cap = Capture(rng, SITE)
        self.hosts = list(dict.fromkeys("10.20.%d.%d" % (rng.randint(0, 3), rng.randint(1, 254))
                                        for _ in range(700)))[:500]
        down_list = rng.sample(self.hosts, 10)
        self.down, self.unreach = set(down_list), set(down_list[:5])
        self.web = set(rng.sample(self.hosts, 200))
        self.ident = rng.getrandbits(16)
        self.seq = 0
        self.rtts = {h: rng.uniform(0.0003, 0.004) for h in self.hosts}
        self.boot = {h: rng.randint(100000, 400000000) for h in self.hosts}  # sysUpTime at 0

    def unreachable(self, t, pkt):
        """The last router's host unreachable, after its 3 s of ARP attempts."""
        self.cap.icmp_error(t + 3.0, SITE_ROUTER, MONITOR, UNREACH, 1, pkt, quoted_ttl=63, ttl=64)

    def ping(self, t, h):
        self.seq = (self.seq + 1) & 0xFFFF
        rest = struct.pack("!HH", self.ident, self.seq)
        data = iputils_payload(t)
        ping = self.cap.icmp(t, MONITOR, h, ECHO_REQUEST, 0, rest, data, df=True)
        if h not in self.down:
            self.cap.icmp(t + self.rtts[h], h, MONITOR, ECHO_REPLY, 0, rest, data)
        elif h in self.unreach:
            self.unreachable(t, ping)

    def snmp_get(self, t, h):
        rng = self.rng
        rid = rng.getrandbits(31)
        sport = rng.randint(32768, 60999)
        req = SNMP(version=1, community="n0c-m0n", PDU=SNMPget(
            id=rid, varbindlist=[SNMPvarbind(oid=o, value=ASN1_NULL(0)) for o in POLLED_OIDS]))
        snmp_req = self.cap.udp(t, MONITOR, h, sport, 161, bytes(req))
        if h not in self.down:
            values = [ASN1_TIME_TICKS(self.boot[h] + int(t * 100)),
                      ASN1_COUNTER32(rng.getrandbits(32)), ASN1_COUNTER32(rng.getrandbits(32))]
            resp = SNMP(version=1, community="n0c-m0n", PDU=SNMPresponse(
                id=rid, varbindlist=[SNMPvarbind(oid=o, value=v)
                                     for o, v in zip(POLLED_OIDS, values)]))
            self.cap.udp(t + self.rtts[h] + 2e-4, h, MONITOR, 161, sport, bytes(resp))
        elif h in self.unreach:
            self.unreachable(t, snmp_req)

    def tcp_check(self, t, h, port):
        c = TcpConn(self.cap, t, MONITOR, self.rng.randint(32768, 60999), h, port, self.rtts[h],
                    near="a", a_stack="linux", b_stack="server")
        if h in self.down:
            syn = c.unanswered((1.0, 3.0))
            if h in self.unreach:
                self.unreachable(t + 3.0, syn)
            return
        c.open()
        if port == 22:
            c.send("b", SSH_BANNER, proc=0.003)
        c.close("a", proc=2e-4)

    def check(self, t, h):
        self.ping(t, h)
        t += 0.01
        self.snmp_get(t, h)
        for port in ((22, 80) if h in self.web else (22,)):
            t += 0.01
            self.tcp_check(t, h, port)


def gen_monitoring_poller(rng):
    poller = Poller(rng)
    for rnd in range(6):
        base = rnd * 10.0
        for i, h in enumerate(poller.hosts):
            poller.check(base + i * (4.0 / len(poller.hosts)) + rng.uniform(0, 0.004), h)
    return poller.cap


# =============================================================================================
# mail_relay
# =============================================================================================

RELAY = "10.0.0.25"


def smtp_line(s):
    return (s + "\r\n").encode()


def smtp_starttls(rng, c, mx_name):
    """STARTTLS, then the whole transaction encrypted."""
    c.send("a", smtp_line("STARTTLS"), final_ack=False)
    c.send("b", smtp_line("220 2.0.0 Ready to start TLS"), proc=0.001)
    c.send("a", tls_client_hello(rng, mx_name), final_ack=False)
    c.send("b", tls_server_flight(rng), proc=0.003)
    c.send("a", tls_records(rng, rng.randint(1500, 6000)), final_ack=False)
    c.send("b", tls_records(rng, rng.randint(200, 400)), proc=0.05)


def smtp_transaction(rng, c, mx_name):
    """MAIL, RCPT and DATA pipelined; greylisted (10%) or the message, then QUIT."""
    c.send("a", smtp_line("MAIL FROM:<noreply@example.net> SIZE=%d\r\nRCPT TO:<user%d@%s>\r\nDATA" %
                          (rng.randint(2000, 9000), rng.randint(1, 999), mx_name.split(".", 1)[1])),
           final_ack=False)
    if rng.random() < 0.1:
        c.send("b", smtp_line("250 2.1.0 Ok\r\n450 4.2.0 <user@%s>: Recipient address rejected: "
                              "Greylisted, see http://postgrey.schweikert.ch/help/" % mx_name +
                              "\r\n554 5.5.1 Error: no valid recipients"), proc=0.01)
    else:
        c.send("b", smtp_line("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                              "354 End data with <CR><LF>.<CR><LF>"), proc=0.01)
        c.send("a", b"Received: from app1.example.net\r\nFrom: <noreply@example.net>\r\n"
               b"Subject: Your receipt\r\n\r\n" +
               rbytes(rng, 2500).hex().encode()[:rng.randint(800, 5000)] + b"\r\n.\r\n",
               final_ack=False)
        c.send("b", smtp_line("250 2.0.0 Ok: queued as %X" % rng.getrandbits(40)),
               proc=rng.uniform(0.01, 0.3))
    c.send("a", smtp_line("QUIT"), final_ack=False)
    c.send("b", smtp_line("221 2.0.0 Bye"), proc=0.001)


def deliver(rng, c, mx_name):
    """A whole SMTP session on a new connection: banner, EHLO, the mail, FIN."""
    c.open()
    c.send("b", smtp_line("220 %s ESMTP Postfix" % mx_name), proc=rng.uniform(0.005, 0.3))
    c.send("a", smtp_line("EHLO relay.example.net"), final_ack=False)
    c.send("b", smtp_line("250-%s\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-ETRN\r\n"
                          "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
                          "250 CHUNKING" % mx_name), proc=0.002)
    if rng.random() < 0.6:
        smtp_starttls(rng, c, mx_name)
    else:
        smtp_transaction(rng, c, mx_name)
    c.close("a", proc=1e-3)


def gen_mail_relay(rng):
    cap = Capture(rng, SITE)
    mxs = AddrPool(rng).take(300)
    names = {m: "mx%d.%s" % (rng.randint(1, 3), domain(rng)) for m in mxs}
    primaries, backups = mxs[:270], mxs[270:]
    for k, m in enumerate(primaries):
        t = k * (58.0 / len(primaries)) + rng.uniform(0, 0.1)
        rtt = rng.uniform(0.01, 0.2)
        c = TcpConn(cap, t, RELAY, rng.randint(32768, 60999), m, 25, rtt, near="a",
                    a_stack="linux", b_stack=rng.choice(("server", "server", "winserver")))
        fate = rng.random()
        if fate < 0.05:
            c.refused()
        elif fate < 0.10:
            c.unanswered((1.0, 3.0, 7.0))
        else:
            deliver(rng, c, names[m])
            continue
        b = backups[k % len(backups)]  # the next MX
        c2 = TcpConn(cap, c.t + rng.uniform(0.001, 0.01), RELAY, rng.randint(32768, 60999), b, 25,
                     rng.uniform(0.01, 0.2), near="a", a_stack="linux", b_stack="server")
        deliver(rng, c2, names[b])
    return cap


# =============================================================================================
# midstream_start
# =============================================================================================

def gen_midstream_start(rng):
    """A capture started while 250 connections of a NAT gateway were open: no handshake is
    in it, and for each connection the gateway's segment (a pure ACK, a keepalive or a
    request) comes first, before its server has sent anything the capture holds. A detector
    that takes every segment to an address it has not seen yet for a probe would see an ACK
    sweep; these are answered (data, ACKs) one round trip later. Then 30 s of traffic."""
    gw = "198.51.100.1"
    cap = Capture(rng, ("198.51.100.0/24",))
    servers = AddrPool(rng).take(250)
    used_ports = set()
    for k, s in enumerate(servers):
        t = k * 0.004 + rng.uniform(0.0, 0.002)
        port = rng.choices((443, 80, 993, 5223), (80, 10, 5, 5))[0]
        c = TcpConn(cap, t, gw, nat_port(rng, used_ports, s), s, port, rng.uniform(0.01, 0.2),
                    near="a", b_stack=rng.choice(("server", "winserver")))
        c.synced = True
        first = rng.random()
        if first < 0.4:
            c.emit(t, "a", ACK)  # a window update or delayed ACK
            c.t = t
            c.send("b", tls_records(rng, rng.randint(100, 1400)))
        elif first < 0.6:
            c.emit(t, "a", ACK, seq=c.seq["a"] - 1)  # a keepalive probe
            c.t = t + c.gap("b")
            c.emit(c.t, "b", ACK)
        else:
            c.t = t
            c.send("a", tls_records(rng, rng.randint(60, 600)), final_ack=False)
            c.send("b", tls_records(rng, rng.randint(100, 3000)))
        for _ in range(rng.randint(0, 3)):
            c.t += rng.uniform(1.0, 9.0)
            c.send("a", tls_records(rng, rng.randint(60, 600)), final_ack=False)
            c.send("b", tls_records(rng, rng.randint(100, 3000)))
    return cap
