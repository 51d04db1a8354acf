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
"""

from wire import ACK, FIN, RST, Capture

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
