"""Reflection and amplification by server software: DNS, NTP, SNMP, memcached, CLDAP.

In: gen_CLASS(rng) takes the class's random.Random (captures.py seeds it from SEED and the
class name). Out: a wire.Capture holding what arrives at the victim, 203.0.113.10: answers from
the service's port to the random source ports the attacker wrote into its spoofed requests, and
nothing the victim sent. Guarantees: the same generator state gives the same frames, byte for
byte; every frame is Ethernet/IPv4/UDP with correct lengths and checksums (wire.py), and an
answer over 1500 bytes of IP arrives fragmented as the reflector's kernel sends it.

dns_amplification_fragmented
    500 open resolvers answer a spoofed `ANY example.org` (EDNS0, 4096-byte buffer, DO bit) for
    a DNSSEC-signed zone: SOA, NS, A, AAAA, MX, TXT, DNSKEY and an RRSIG (2048-bit RSA) per
    RRset, about 3.7 kB, from port 53. Such an answer does not fit a 1500-byte MTU, so the
    resolver's kernel fragments it: a first fragment of 1480 bytes with the UDP header, then
    fragments without any transport header (offsets 185, 370). Each resolver answers one or
    two queries, all within 2 s; answers differ only in ID and remaining TTL (cache age).
ntp_monlist
    300 ntpd servers with mode 7 enabled answer MON_GETLIST_1 (implementation 3, request 42)
    with their list of recent clients: 72-byte entries, six per packet (440-byte payload, 468
    bytes of IP), sequence numbers counting up and the More bit set on all but the last packet.
    A server returns 2 to 100 packets (lists of up to 600 entries); the newest entry is the
    spoofed victim itself (mode 7, version 2), the others the server's NTP clients.
snmp_large
    400 SNMP agents with community "public" answer a v2c GetBulk (non-repeaters 0, large
    max-repetitions) from mib-2: the system group, sysORTable and ifTable of a CPE router,
    switch, printer, NAS or camera, filled up to about 1.2 kB, one to three answers per agent.
snmp_error_small
    1000 agents that answer with small errors instead: v1 agents reply noSuchName for an OID
    outside their view, v2c agents a varbind of noSuchObject or endOfMibView, SNMPv3 engines a
    Report (usmStatsUnknownEngineIDs) to any unauthenticated request. 60-140 bytes of IP: the
    victim is flooded with unsolicited answers without any gain in size.
memcached
    200 memcached servers exposing UDP 11211 answer `get KEY` for a value the attacker stored
    beforehand: "VALUE KEY 0 N\\r\\n" + N bytes + "\\r\\nEND\\r\\n", cut into datagrams of 1400
    bytes, each with memcached's 8-byte UDP frame header (request id, sequence number, total
    datagrams, reserved). 4 to 10 datagrams per answer, sent back to back.
cldap
    300 Active Directory domain controllers answer a connectionless LDAP search of the
    rootDSE ((objectClass=*), port 389 UDP): one searchResEntry with about 25 attributes
    (naming contexts, supportedControl, supportedLDAPPolicies, functional levels...) and a
    searchResDone in one datagram of 1.6-3.3 kB; those over 1472 bytes arrive fragmented.
"""

import random
import struct

from scapy.asn1.asn1 import (ASN1_COUNTER32, ASN1_GAUGE32, ASN1_INTEGER, ASN1_NULL,
                             ASN1_OID, ASN1_SEQUENCE, ASN1_STRING, ASN1_TIME_TICKS)
from scapy.asn1.ber import BER_len_enc
from scapy.layers.dns import (DNS, DNSQR, DNSRR, DNSRRDNSKEY, DNSRRMX, DNSRROPT, DNSRRRSIG,
                              DNSRRSOA)
from scapy.layers.ldap import (CLDAP, LDAP_SearchResponseEntry,
                               LDAP_SearchResponseEntryAttribute,
                               LDAP_SearchResponseEntryAttributeValue,
                               LDAP_SearchResponseResultCode)
from scapy.layers.ntp import NTPInfoMonitor1, NTPPrivate
from scapy.layers.snmp import SNMP, SNMPresponse, SNMPvarbind

from common import (ALNUM, EXPIRY, INCEPTION, LOWER_DIGITS, UPPER_DIGITS, VICTIM, VICTIM_NET,
                    chain, dns_bytes, eph, rbytes, rchars)
from wire import AddrPool, Capture

# ---- DNS ------------------------------------------------------------------------------------


def zone_content(c):
    """The signed zone's fixed random parts: signatures, the two DNSKEYs, the TXT records."""
    content = {"sig%d" % t: rbytes(c, 256) for t in (1, 2, 6, 15, 16, 28, 48)}
    content["ksk"] = b"\x03\x01\x00\x01" + rbytes(c, 256)
    content["zsk"] = b"\x03\x01\x00\x01" + rbytes(c, 256)
    content["txt"] = [[txt] for txt in (
        b"v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 include:_spf.mail.example.net "
        b"include:spf.protection.example.com -all",
        b"google-site-verification=" + rchars(c, ALNUM + "-_", 43).encode(),
        b"MS=ms%08d" % c.randint(0, 99999999),
        b"facebook-domain-verification=" + rchars(c, LOWER_DIGITS, 30).encode(),
        b"docusign=" + str(c.getrandbits(128)).encode(),
        b"atlassian-domain-verification=" + rchars(c, ALNUM + "+/", 64).encode())]
    return content


def zone_records(content, zone, ttl):
    """An apex ANY answer of a DNSSEC-signed zone (RSASHA256, 2048-bit keys)."""
    def sig(covered, keytag=31406):
        return DNSRRRSIG(rrname=zone, ttl=ttl, typecovered=covered, algorithm=8, labels=2,
                         originalttl=3600, expiration=EXPIRY, inception=INCEPTION,
                         keytag=keytag, signersname=zone, signature=content["sig%d" % covered])

    def rr(typ, rdata):
        return DNSRR(rrname=zone, type=typ, ttl=ttl, rdata=rdata)

    def mx(pref, host):
        return DNSRRMX(rrname=zone, type="MX", ttl=ttl, preference=pref, exchange=host + zone)

    def dnskey(flags, key):
        return DNSRRDNSKEY(rrname=zone, ttl=ttl, flags=flags, protocol=3, algorithm=8,
                           publickey=content[key])

    soa = DNSRRSOA(rrname=zone, ttl=ttl, mname="ns1." + zone, rname="hostmaster." + zone,
                   serial=2025123101, refresh=7200, retry=3600, expire=1209600, minimum=3600)
    return ([soa, sig(6)] + [rr("NS", "ns%d.%s" % (i, zone)) for i in range(1, 5)] + [sig(2)] +
            [rr("A", "192.0.2.80"), rr("A", "192.0.2.81"), sig(1)] +
            [rr("AAAA", "2001:db8:10::80"), sig(28)] +
            [mx(10, "mx1."), mx(20, "mx2."), sig(15)] +
            [rr("TXT", txt) for txt in content["txt"]] + [sig(16)] +
            [dnskey(257, "ksk"), dnskey(256, "zsk"), sig(48, 20326), sig(48)])


def any_answer(content, zone, ttl):
    """The whole answer with ID 0 (with_id gives each copy its own)."""
    msg = DNS(id=0, qr=1, opcode=0, aa=0, rd=1, ra=1, ad=0, rcode=0,
              qd=DNSQR(qname=zone, qtype="ANY", qclass="IN"),
              an=chain(zone_records(content, zone, ttl)), ar=DNSRROPT(rclass=4096, z=0x8000))
    return dns_bytes(msg)


def with_id(msg, ident):
    return struct.pack("!H", ident) + msg[2:]


def gen_dns_amplification_fragmented(rng):
    cap = Capture(rng, VICTIM_NET)
    resolvers = AddrPool(rng).take(500)
    zone = "example.org."
    content = zone_content(random.Random("zone-content"))
    answers = {}  # remaining TTL -> answer
    for r in resolvers:
        ttl = rng.randrange(300, 3600, 60)
        if ttl not in answers:
            answers[ttl] = any_answer(content, zone, ttl)
        for _ in range(rng.choice((1, 1, 2))):
            t = rng.uniform(0.0, 2.0)
            cap.udp(t, r, VICTIM, 53, eph(rng), with_id(answers[ttl], rng.getrandbits(16)))
    return cap


# ---- NTP ------------------------------------------------------------------------------------

# (mode, version) of the clients in a monitor list
NTP_CLIENTS = ((3, 4), (3, 4), (3, 4), (3, 3), (4, 4), (7, 2))


def monlist_packets(rng):
    """How many packets one server's answer takes: most lists are short, a few full."""
    u = rng.random()
    if u < 0.6:
        return rng.randint(2, 6)
    return rng.randint(7, 20) if u < 0.9 else rng.randint(50, 100)


def monlist_entries(rng, pool, server, vport, n):
    """A server's list of recent clients, newest first: the spoofed victim, then n - 1 others."""
    entries = [NTPInfoMonitor1(lasttime=0, firsttime=rng.randint(0, 30), lastdrop=0,
                               count=rng.randint(200, 40000), addr=VICTIM, daddr=server,
                               flags=0, port=vport, mode=7, version=2)]
    last = 0
    for _ in range(n - 1):
        last += rng.randint(0, 900)
        mode, ver = rng.choice(NTP_CLIENTS)
        entries.append(NTPInfoMonitor1(
            lasttime=last, firsttime=last + rng.randint(0, 500000), lastdrop=0,
            count=rng.randint(1, 5000), addr=pool.one(0.3), daddr=server, flags=0,
            port=123 if mode != 7 else eph(rng), mode=mode, version=ver))
    return entries


def monlist_packet(items, seq, total):
    return bytes(NTPPrivate(response=1, more=int(seq < total - 1), version=2, mode=7, auth=0,
                            seq=seq, implementation=3, request_code=42, err=0,
                            nb_items=len(items), mbz=0, data_item_size=72, data=items))


def gen_ntp_monlist(rng):
    cap = Capture(rng, VICTIM_NET)
    pool = AddrPool(rng)
    servers = pool.take(300)
    for s in servers:
        npk = monlist_packets(rng)
        nent = npk * 6 - rng.randint(0, 5)
        vport = eph(rng)
        entries = monlist_entries(rng, pool, s, vport, nent)
        t = rng.uniform(0.0, 3.0)
        for p in range(npk):
            cap.udp(t, s, VICTIM, 123, vport, monlist_packet(entries[p * 6:(p + 1) * 6], p, npk))
            t += rng.uniform(3e-5, 1.2e-4)
    return cap


# ---- SNMP -----------------------------------------------------------------------------------

# sysDescr, sysObjectID and interfaces of the devices that answer
SNMP_PROFILES = [
    ("Linux RT-AC68U 2.6.36.4brcmarm #1 SMP PREEMPT Sun Jan 9 20:20:35 CST 2022 armv7l",
     "1.3.6.1.4.1.8072.3.2.10", ["lo", "eth0", "eth1", "eth2", "vlan1", "br0", "wl0.1"]),
    ("Linux DD-WRT 4.4.302-st24 #12345 Mon Apr 11 02:11:53 +07 2022 mips",
     "1.3.6.1.4.1.8072.3.2.10", ["lo", "eth0", "vlan1", "vlan2", "br0", "ath0"]),
    ("Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE11, RELEASE "
     "SOFTWARE (fc3)", "1.3.6.1.4.1.9.1.1208",
     ["Vlan1", "FastEthernet0/1", "FastEthernet0/2", "FastEthernet0/3", "FastEthernet0/4",
      "GigabitEthernet0/1", "Null0"]),
    ("HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI24090012,CIDATE 06/17/2021",
     "1.3.6.1.4.1.11.2.3.9.1", ["HP ETHERNET MULTI-ENVIRONMENT", "lo0"]),
    ("Linux DS918 4.4.180+ #42962 SMP Tue Oct 18 15:09:19 CST 2022 x86_64",
     "1.3.6.1.4.1.8072.3.2.10", ["lo", "eth0", "eth1", "sit0", "docker0"]),
    ("Hikvision DS-2CD2143G2-I V5.7.3 build 220112", "1.3.6.1.4.1.39165.1.1",
     ["lo", "eth0"]),
]

# Net-SNMP's sysORTable
SYSOR = [
    ("1.3.6.1.6.3.10.3.1.1", "The SNMP Management Architecture MIB."),
    ("1.3.6.1.6.3.11.3.1.1", "The MIB for Message Processing and Dispatching."),
    ("1.3.6.1.6.3.15.2.1.1", "The management information definitions for the SNMP "
                             "User-based Security Model."),
    ("1.3.6.1.6.3.1", "The MIB module for SNMPv2 entities"),
    ("1.3.6.1.6.3.16.2.2.1", "View-based Access Control Model for SNMP."),
    ("1.3.6.1.2.1.49", "The MIB module for managing TCP implementations"),
    ("1.3.6.1.2.1.4", "The MIB module for managing IP and ICMP implementations"),
    ("1.3.6.1.2.1.50", "The MIB module for managing UDP implementations"),
    ("1.3.6.1.6.3.13.3.1.3", "The MIB modules for managing SNMP Notification, plus filtering."),
    ("1.3.6.1.2.1.92", "The MIB module for logging SNMP Notifications."),
]


def system_group(rng, descr, objid, uptime):
    return [("1.3.6.1.2.1.1.1.0", ASN1_STRING(descr)),
            ("1.3.6.1.2.1.1.2.0", ASN1_OID(objid)),
            ("1.3.6.1.2.1.1.3.0", ASN1_TIME_TICKS(uptime)),
            ("1.3.6.1.2.1.1.4.0", ASN1_STRING(rng.choice(["root@localhost", "admin",
                                                          "noc@isp.example", ""]))),
            ("1.3.6.1.2.1.1.5.0", ASN1_STRING(rng.choice(["RT-AC68U", "gw", "switch-2f",
                                                          "NPI3A1F2C", "DiskStation",
                                                          "IPCamera"]))),
            ("1.3.6.1.2.1.1.6.0", ASN1_STRING(rng.choice(["Unknown", "Sitting on the Dock of "
                                                          "the Bay", "server room", ""]))),
            ("1.3.6.1.2.1.1.7.0", ASN1_INTEGER(rng.choice([72, 76, 78]))),
            ("1.3.6.1.2.1.1.8.0", ASN1_TIME_TICKS(rng.randint(0, 3000)))]


def sysor_table(rng):
    return ([("1.3.6.1.2.1.1.9.1.2.%d" % (i + 1), ASN1_OID(o)) for i, (o, _) in enumerate(SYSOR)] +
            [("1.3.6.1.2.1.1.9.1.3.%d" % (i + 1), ASN1_STRING(d))
             for i, (_, d) in enumerate(SYSOR)] +
            [("1.3.6.1.2.1.1.9.1.4.%d" % (i + 1), ASN1_TIME_TICKS(rng.randint(0, 900)))
             for i in range(len(SYSOR))])


def if_table(rng, ifaces):
    """ifNumber and ifTable's columns 1 to 11, column by column."""
    cols = [
        lambda i, name: ASN1_INTEGER(i),
        lambda i, name: ASN1_STRING(name),
        lambda i, name: ASN1_INTEGER(24 if name.startswith(("lo", "Null")) else 6),
        lambda i, name: ASN1_INTEGER(16436 if name.startswith("lo") else 1500),
        lambda i, name: ASN1_GAUGE32(10000000 if name.startswith("lo") else 1000000000),
        lambda i, name: ASN1_STRING(b"" if name.startswith("lo") else rbytes(rng, 6)),
        lambda i, name: ASN1_INTEGER(1),
        lambda i, name: ASN1_INTEGER(rng.choice((1, 1, 2))),
        lambda i, name: ASN1_TIME_TICKS(rng.randint(0, 5000)),
        lambda i, name: ASN1_COUNTER32(rng.getrandbits(32)),
        lambda i, name: ASN1_COUNTER32(rng.getrandbits(24)),
    ]
    return [("1.3.6.1.2.1.2.1.0", ASN1_INTEGER(len(ifaces)))] + [
        ("1.3.6.1.2.1.2.2.1.%d.%d" % (col, i), f(i, name))
        for col, f in enumerate(cols, 1) for i, name in enumerate(ifaces, 1)]


def snmp_walk(rng, profile, uptime):
    """mib-2 from the system group on, in lexicographic order, as GetBulk returns it."""
    descr, objid, ifaces = profile
    vb = system_group(rng, descr, objid, uptime)
    if objid.startswith("1.3.6.1.4.1.8072"):  # Net-SNMP
        vb += sysor_table(rng)
    return vb + if_table(rng, ifaces)


def fill(walk, target):
    """The walk's first varbinds up to `target` bytes of message."""
    vbs, size = [], 40
    for oid, val in walk:
        vb = SNMPvarbind(oid=oid, value=val)
        size += len(bytes(vb))
        vbs.append(vb)
        if size >= target:
            break
    return vbs


def gen_snmp_large(rng):
    cap = Capture(rng, VICTIM_NET)
    agents = AddrPool(rng).take(400)
    for a in agents:
        profile = rng.choice(SNMP_PROFILES)
        uptime = rng.randint(10000, 400000000)
        walk = snmp_walk(rng, profile, uptime)
        vbs = fill(walk, rng.randint(1120, 1260))
        for _ in range(rng.choice((1, 1, 2, 3))):
            t = rng.uniform(0.0, 3.0)
            vbs[2].value = ASN1_TIME_TICKS(uptime + int(t * 100))
            msg = SNMP(version=1, community="public",
                       PDU=SNMPresponse(id=rng.getrandbits(31), error=0, error_index=0,
                                        varbindlist=vbs))
            cap.udp(t, a, VICTIM, 161, eph(rng), bytes(msg))
    return cap


def ber_seq(content, tag=0x30):
    return bytes([tag]) + BER_len_enc(len(content)) + content


def snmpv3_report(msg_id, engine_id, boots, etime, req_id, counter):
    """An SNMPv3 Report PDU (usmStatsUnknownEngineIDs), as an engine answers discovery."""
    glob = bytes(ASN1_SEQUENCE([ASN1_INTEGER(msg_id), ASN1_INTEGER(65507),
                                ASN1_STRING(b"\x00"), ASN1_INTEGER(3)]))
    usm = bytes(ASN1_SEQUENCE([ASN1_STRING(engine_id), ASN1_INTEGER(boots),
                               ASN1_INTEGER(etime), ASN1_STRING(b""), ASN1_STRING(b""),
                               ASN1_STRING(b"")]))
    vbl = bytes(ASN1_SEQUENCE([ASN1_SEQUENCE([ASN1_OID("1.3.6.1.6.3.15.1.1.4.0"),
                                              ASN1_COUNTER32(counter)])]))
    pdu = ber_seq(bytes(ASN1_INTEGER(req_id)) + bytes(ASN1_INTEGER(0)) +
                  bytes(ASN1_INTEGER(0)) + vbl, tag=0xA8)
    scoped = ber_seq(bytes(ASN1_STRING(engine_id)) + bytes(ASN1_STRING(b"")) + pdu)
    return ber_seq(bytes(ASN1_INTEGER(3)) + glob + bytes(ASN1_STRING(usm)) + scoped)


def snmp_error(rng, kind, community, oid, rid):
    """v1: noSuchName; v2c: a varbind of noSuchObject or endOfMibView."""
    v1 = kind == "v1"
    msg = bytes(SNMP(version=0 if v1 else 1, community=community,
                     PDU=SNMPresponse(id=rid, error=2 if v1 else 0, error_index=1 if v1 else 0,
                                      varbindlist=[SNMPvarbind(oid=oid, value=ASN1_NULL(0))])))
    if v1:
        return msg
    # the varbind's value is the message's last two bytes: NULL (05 00) becomes
    # noSuchObject [0] or endOfMibView [2], implicit NULL
    return msg[:-2] + rng.choice((b"\x80\x00", b"\x82\x00"))


def engine_id(rng):
    """An SNMPv3 engine ID: Net-SNMP's (enterprise 8072, random) or a MAC-based one."""
    if rng.random() < 0.7:
        return bytes.fromhex("80001f8880") + rbytes(rng, 8)
    return bytes.fromhex("800000090300") + rbytes(rng, 6)


SNMP_ERROR_OIDS = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.25.1.1.0",
                   "1.3.6.1.4.1.9.9.23.1.2.1.1.6", "1.3.6.1.2.1.1"]


def gen_snmp_error_small(rng):
    cap = Capture(rng, VICTIM_NET)
    agents = AddrPool(rng).take(1000)
    for a in agents:
        kind = rng.choices(("v1", "v2", "v3"), (40, 35, 25))[0]
        engine = engine_id(rng)
        boots, etime = rng.randint(1, 80), rng.randint(100, 9000000)
        community = rng.choice(("public", "public", "public", "private"))
        for _ in range(rng.choice((1, 1, 2))):
            t = rng.uniform(0.0, 3.0)
            rid = rng.getrandbits(31)
            oid = rng.choice(SNMP_ERROR_OIDS)
            if kind == "v3":
                msg = snmpv3_report(rng.getrandbits(31), engine, boots, etime + int(t), rid,
                                    rng.randint(1, 100000))
            else:
                msg = snmp_error(rng, kind, community, oid, rid)
            cap.udp(t, a, VICTIM, 161, eph(rng), msg)
    return cap


# ---- memcached ------------------------------------------------------------------------------

def memcached_value(rng):
    """The datagram payloads (without frame header) of one stored value's `get` answer."""
    key = rchars(rng, LOWER_DIGITS, rng.randint(4, 12))
    ndg = rng.randint(4, 10)
    vlen = ndg * 1392 - rng.randint(40, 1300)
    value = rchars(rng, ALNUM, 64).encode() * (vlen // 64 + 1)
    body = b"VALUE %s 0 %d\r\n" % (key.encode(), vlen) + value[:vlen] + b"\r\nEND\r\n"
    return [body[i:i + 1392] for i in range(0, len(body), 1392)]


def gen_memcached(rng):
    cap = Capture(rng, VICTIM_NET)
    servers = AddrPool(rng).take(200)
    for s in servers:
        parts = memcached_value(rng)
        for _ in range(rng.choice((1, 1, 2))):
            t = rng.uniform(0.0, 2.0)
            req_id = rng.getrandbits(16)
            vport = eph(rng)
            for i, part in enumerate(parts):
                cap.udp(t, s, VICTIM, 11211, vport,
                        struct.pack("!HHHH", req_id, i, len(parts), 0) + part)
                t += rng.uniform(1.2e-5, 4e-5)
    return cap


# ---- CLDAP ----------------------------------------------------------------------------------

LDAP_CONTROLS = ["1.2.840.113556.1.4.319", "1.2.840.113556.1.4.801", "1.2.840.113556.1.4.473",
                 "1.2.840.113556.1.4.528", "1.2.840.113556.1.4.417", "1.2.840.113556.1.4.619",
                 "1.2.840.113556.1.4.841", "1.2.840.113556.1.4.529", "1.2.840.113556.1.4.805",
                 "1.2.840.113556.1.4.521", "1.2.840.113556.1.4.970", "1.2.840.113556.1.4.1338",
                 "1.2.840.113556.1.4.474", "1.2.840.113556.1.4.1339", "1.2.840.113556.1.4.1340",
                 "1.2.840.113556.1.4.1413", "2.16.840.1.113730.3.4.9", "2.16.840.1.113730.3.4.10",
                 "1.2.840.113556.1.4.1504", "1.2.840.113556.1.4.1852", "1.2.840.113556.1.4.802",
                 "1.2.840.113556.1.4.1907", "1.2.840.113556.1.4.1948", "1.2.840.113556.1.4.1974",
                 "1.2.840.113556.1.4.1341", "1.2.840.113556.1.4.2026", "1.2.840.113556.1.4.2064",
                 "1.2.840.113556.1.4.2065", "1.2.840.113556.1.4.2066", "1.2.840.113556.1.4.2090",
                 "1.2.840.113556.1.4.2205", "1.2.840.113556.1.4.2204", "1.2.840.113556.1.4.2206",
                 "1.2.840.113556.1.4.2211", "1.2.840.113556.1.4.2239", "1.2.840.113556.1.4.2255",
                 "1.2.840.113556.1.4.2256", "1.2.840.113556.1.4.2309"]
LDAP_POLICIES = ["MaxPoolThreads", "MaxPercentDirSyncRequests", "MaxDatagramRecv",
                 "MaxReceiveBuffer", "InitRecvTimeout", "MaxConnections", "MaxConnIdleTime",
                 "MaxPageSize", "MaxBatchReturnMessages", "MaxQueryDuration",
                 "MaxDirSyncDuration", "MaxTempTableSize", "MaxResultSetSize", "MinResultSets",
                 "MaxResultSetsPerConn", "MaxNotificationPerConn", "MaxValRange",
                 "MaxValRangeTransitive", "ThreadMemoryLimit", "SystemMemoryLimitPercent"]
LDAP_CAPS = ["1.2.840.113556.1.4.800", "1.2.840.113556.1.4.1670", "1.2.840.113556.1.4.1791",
             "1.2.840.113556.1.4.1935", "1.2.840.113556.1.4.2080", "1.2.840.113556.1.4.2237"]
AD_DOMAINS = ["corp", "ad", "intra", "ads", "hq", "office", "domain", "sbs"]


def dc_identity(rng):
    """(domain label, TLD, site, host name, functional level) of a domain controller."""
    if rng.random() < 0.3:
        dom = rng.choice(AD_DOMAINS) + str(rng.randint(1, 99))
    else:
        dom = rng.choice(AD_DOMAINS)
    tld = rng.choice(["local", "lan", "internal", "com", "net", "int"])
    site = rng.choice(["Default-First-Site-Name", "HQ", "Main", "DC1-Site"])
    win = "WIN-" + rchars(rng, UPPER_DIGITS, 11)
    host = rng.choice(["DC01", "DC1", "SRV-DC", "AD01", win])
    return dom, tld, site, host, rng.choice(["2", "3", "4", "6", "7", "7"])


def rootdse(rng):
    """(type, [values]) of a Windows domain controller's rootDSE."""
    dom, tld, site, host, level = dc_identity(rng)
    dn = "DC=%s,DC=%s" % (dom, tld)
    old = level in ("2", "3")
    ncontrols = rng.randint(22, 28) if old else rng.randint(30, len(LDAP_CONTROLS))
    cfg = "CN=Configuration," + dn
    servers = "CN=%s,CN=Servers,CN=%s,CN=Sites,%s" % (host, site, cfg)
    return [
        ("currentTime", ["20260101000000.0Z"]),
        ("subschemaSubentry", ["CN=Aggregate,CN=Schema," + cfg]),
        ("dsServiceName", ["CN=NTDS Settings," + servers]),
        ("namingContexts", [dn, cfg, "CN=Schema," + cfg, "DC=DomainDnsZones," + dn,
                            "DC=ForestDnsZones," + dn]),
        ("defaultNamingContext", [dn]),
        ("schemaNamingContext", ["CN=Schema," + cfg]),
        ("configurationNamingContext", [cfg]),
        ("rootDomainNamingContext", [dn]),
        ("supportedControl", LDAP_CONTROLS[:ncontrols]),
        ("supportedLDAPVersion", ["3", "2"]),
        ("supportedLDAPPolicies", LDAP_POLICIES[:rng.randint(14, len(LDAP_POLICIES))]),
        ("highestCommittedUSN", [str(rng.randint(10000, 90000000))]),
        ("supportedSASLMechanisms", ["GSSAPI", "GSS-SPNEGO", "EXTERNAL", "DIGEST-MD5"]),
        ("dnsHostName", ["%s.%s.%s" % (host.lower(), dom, tld)]),
        ("ldapServiceName", ["%s.%s:%s$@%s.%s" % (dom, tld, host.lower(), dom.upper(),
                                                   tld.upper())]),
        ("serverName", [servers]),
        ("supportedCapabilities", LDAP_CAPS[:3 if old else rng.randint(4, 6)]),
        ("isSynchronized", ["TRUE"]),
        ("isGlobalCatalogReady", ["TRUE"]),
        ("domainFunctionality", [level]),
        ("forestFunctionality", [level]),
        ("domainControllerFunctionality", [level]),
    ]


def rootdse_entry(rng):
    return LDAP_SearchResponseEntry(objectName="", attributes=[
        LDAP_SearchResponseEntryAttribute(
            type=name, values=[LDAP_SearchResponseEntryAttributeValue(value=v) for v in vals])
        for name, vals in rootdse(rng)])


def cldap_answer(entry, mid):
    """searchResEntry and searchResDone in one datagram."""
    done = LDAP_SearchResponseResultCode(resultCode=0, matchedDN="", diagnosticMessage="")
    return (bytes(CLDAP(messageID=mid, user=None, protocolOp=entry)) +
            bytes(CLDAP(messageID=mid, user=None, protocolOp=done)))


def gen_cldap(rng):
    cap = Capture(rng, VICTIM_NET)
    dcs = AddrPool(rng).take(300)
    for dc in dcs:
        entry = rootdse_entry(rng)
        for _ in range(rng.choice((1, 1, 2))):
            t = rng.uniform(0.0, 3.0)
            msg = cldap_answer(entry, rng.randint(1, 0x7FFFFFFF))
            cap.udp(t, dc, VICTIM, 389, eph(rng), msg)
    return cap
