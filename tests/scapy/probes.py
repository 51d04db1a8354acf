"""Probe sweeps that nothing answers: the scanner's side of a sweep of dark address space.

In: gen_CLASS(rng) takes the class's random.Random (captures.py seeds it from SEED and the
class name). Out: a wire.Capture as seen next to the scanner, 192.0.2.66. Guarantees: the
same generator state gives the same frames, byte for byte; every frame is Ethernet/IPv4
with correct lengths and checksums (wire.py).

ack_sweep_dark
    TCP ACK ping sweep (nmap -sn -PA, zmap's ACK probe module) of a /22: one bare ACK (random
    sequence and acknowledgement numbers, no payload) to port 80 of each of 1024 addresses
    within 4 s, resent once after 1 s when unanswered. 8 addresses hold hosts, which answer
    with a RST (RFC 9293: a segment with ACK into no connection); the rest is dark space,
    which answers nothing. There is no SYN and no ICMP error to go by.
fin_sweep_dark
    The same sweep with bare FINs to port 443 (an Xmas- or FIN-style probe, nmap -sF with
    -Pn over a range): a closed port on a live host answers RST+ACK; dark space nothing.
block_scan_tcp
    A SYN block scan (nmap -sS -Pn -p 1-40 over a /26, one order of ports and hosts
    shuffled): 40 ports on each of 64 addresses within 12 s. 9 addresses hold hosts: a
    closed port answers RST+ACK, an open one (22, 80 or 443 on some hosts) SYN-ACK, and the
    scanner resets it; the rest is dark space, which answers nothing. Each probe is sent once.
block_scan_udp
    A UDP block scan (masscan -pU:1-60 style, empty datagrams) of 60 ports on each of 32
    addresses within 8 s: 4 live hosts answer ICMP port unreachable (rate-limited to 1 in 4,
    as Linux does) or, on port 53, a reply; the rest is dark.
"""

from wire import ACK, FIN, RST, SYN, UNREACH, Capture

SCANNER = "192.0.2.66"


def sweep(rng, flags, port):
    cap = Capture(rng, ("192.0.2.0/24",))
    base = [100, 64, rng.randrange(0, 256, 4), 0]
    targets = [f"{base[0]}.{base[1]}.{base[2] + k // 256}.{k % 256}" for k in range(1024)]
    live = set(rng.sample(targets, 8))
    sport = rng.randint(40000, 60000)
    for k, dst in enumerate(targets):
        t = k * (4.0 / 1024) + rng.uniform(0.0, 5e-4)
        seq, ack = rng.getrandbits(32), rng.getrandbits(32) if flags & ACK else 0
        for again in (0.0, 1.0):
            cap.tcp(t + again, SCANNER, dst, sport, port, seq, ack, flags, 1024)
            if dst in live:
                rtt = rng.uniform(0.002, 0.04)
                if flags & ACK:
                    cap.tcp(t + again + rtt, dst, SCANNER, port, sport, ack, 0, RST, 0)
                else:
                    cap.tcp(t + again + rtt, dst, SCANNER, port, sport, 0, seq + 1,
                            RST | ACK, 0)
                break
    return cap


def gen_ack_sweep_dark(rng):
    return sweep(rng, ACK, 80)


def gen_fin_sweep_dark(rng):
    return sweep(rng, FIN, 443)


def gen_block_scan_tcp(rng):
    cap = Capture(rng, ("192.0.2.0/24",))
    base = f"100.66.{rng.randrange(0, 256)}"
    hosts = [f"{base}.{h}" for h in range(64, 128)]
    live = set(rng.sample(hosts, 9))
    opened = {h: set(rng.sample([22, 80, 443], rng.randint(0, 2))) for h in live}
    probes = [(h, p) for h in hosts for p in range(1, 41)]
    rng.shuffle(probes)
    sport = rng.randint(40000, 60000)
    for k, (dst, port) in enumerate(probes):
        t = k * (12.0 / len(probes)) + rng.uniform(0.0, 1e-3)
        seq = rng.getrandbits(32)
        cap.tcp(t, SCANNER, dst, sport, port, seq, 0, SYN, 1024)
        if dst not in live:
            continue
        rtt = rng.uniform(0.001, 0.03)
        if port in opened[dst]:
            srv = rng.getrandbits(32)
            cap.tcp(t + rtt, dst, SCANNER, port, sport, srv, seq + 1, SYN | ACK, 64240)
            cap.tcp(t + 2 * rtt, SCANNER, dst, sport, port, seq + 1, 0, RST, 0)
        else:
            cap.tcp(t + rtt, dst, SCANNER, port, sport, 0, seq + 1, RST | ACK, 0)
    return cap


def gen_block_scan_udp(rng):
    cap = Capture(rng, ("192.0.2.0/24",))
    base = f"100.67.{rng.randrange(0, 256)}"
    hosts = [f"{base}.{h}" for h in range(16, 48)]
    live = set(rng.sample(hosts, 4))
    probes = [(h, p) for h in hosts for p in range(1, 61)]
    rng.shuffle(probes)
    sport = rng.randint(40000, 60000)
    unreach = {h: 0 for h in live}
    for k, (dst, port) in enumerate(probes):
        t = k * (8.0 / len(probes)) + rng.uniform(0.0, 1e-3)
        probe = cap.udp(t, SCANNER, dst, sport, port, b"")
        if dst not in live:
            continue
        rtt = rng.uniform(0.001, 0.03)
        if port == 53:
            cap.udp(t + rtt, dst, SCANNER, port, sport, bytes(48))
            continue
        unreach[dst] += 1
        if unreach[dst] % 4 == 1:
            cap.icmp_error(t + rtt, dst, SCANNER, UNREACH, 3, probe)
    return cap
