"""Helpers shared by the capture classes (reflection.py, reflection_devices.py, floods.py,
benign.py, benign_infra.py): the victim's address, random values, scapy layer chaining, and the
payloads that several classes send (iputils ping data, TLS records, HTTP/1.1 messages).

In: a class's random.Random (every helper that needs randomness takes it as `rng` and draws
from it in a fixed order). Out: str and bytes values ready for wire.Capture. Guarantees: the
same generator state gives the same values; nothing here touches a network or a file.
"""

import string
import struct

from scapy.layers.dns import dns_compress

from wire import EPOCH

VICTIM = "203.0.113.10"
VICTIM_NET = ("203.0.113.0/24",)

# RRSIG validity of the signed zones
EXPIRY = 1769904000  # 2026-02-01
INCEPTION = 1766361600  # 2025-12-22

ALNUM = string.ascii_uppercase + string.ascii_lowercase + string.digits
LOWER_DIGITS = string.ascii_lowercase + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits

SYL = ["ka", "lo", "mi", "ne", "ra", "to", "vi", "zu", "be", "do", "fa", "gu", "hi", "jo",
       "pe", "sa", "te", "wa", "ri", "an", "el", "or", "un", "ex", "ba", "co", "ni", "ly"]
TLDS = ["com"] * 8 + ["net", "net", "org", "io", "de", "co.uk", "fr", "nl", "app", "eu"]


# ---- random values --------------------------------------------------------------------------

def eph(rng):
    """A source port as the attacker's spoofing tool or a randomising stack picks it."""
    return rng.randint(1024, 65535)


def rbytes(rng, n):
    return rng.getrandbits(8 * n).to_bytes(n, "big") if n else b""


def rchars(rng, alphabet, n):
    """n characters drawn from `alphabet`."""
    return "".join(rng.choice(alphabet) for _ in range(n))


def uuid_str(rng):
    """A random UUID in its 8-4-4-4-12 form."""
    return "%08x-%04x-%04x-%04x-%012x" % (rng.getrandbits(32), rng.getrandbits(16),
                                          rng.getrandbits(16), rng.getrandbits(16),
                                          rng.getrandbits(48))


def domain(rng):
    return "".join(rng.choice(SYL) for _ in range(rng.randint(2, 4))) + "." + rng.choice(TLDS)


# ---- scapy ----------------------------------------------------------------------------------

def chain(layers):
    """layers[0] / layers[1] / ... (scapy's layer stacking)."""
    out = layers[0]
    for layer in layers[1:]:
        out = out / layer
    return out


def dns_bytes(pkt, compress=True):
    return bytes(dns_compress(pkt)) if compress else bytes(pkt)


# ---- payloads -------------------------------------------------------------------------------

def iputils_payload(t):
    """The 56 bytes iputils ping sends at time t: a struct timeval, then 0x10..0x37."""
    sec = EPOCH + int(t)
    return struct.pack("<QQ", sec, int((t % 1) * 1e6)) + bytes(range(0x10, 0x38))


def tls_client_hello(rng, sni):
    """A TLS 1.3 ClientHello (as browsers send it: 517 bytes with padding) with SNI."""
    sni_b = sni.encode()
    ext_sni = struct.pack("!HHHBH", 0, len(sni_b) + 5, len(sni_b) + 3, 0, len(sni_b)) + sni_b
    exts = (ext_sni + bytes.fromhex("00170000ff01000100000a000a0008001d001700180019000b00020100"
                                    "0023000000100012001002683208687474702f312e31000500050100"
                                    "000000000d0012001004030804040105030805050108060601002b0005"
                                    "0403040303002d00020101") +
            struct.pack("!HHHHH", 0x33, 38, 36, 0x1D, 32) + rbytes(rng, 32))
    body = (b"\x03\x03" + rbytes(rng, 32) + b"\x20" + rbytes(rng, 32) + bytes.fromhex("0020") +
            bytes.fromhex("130113021303c02bc02fc02cc030cca9cca8c013c014009c009d002f0035") +
            b"\x01\x00")
    pad = 512 - 4 - len(body) - 2 - len(exts) - 4
    if pad > 0:
        exts += struct.pack("!HH", 0x15, pad) + b"\0" * pad
    body += struct.pack("!H", len(exts)) + exts
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def tls_records(rng, n, first=b"\x17"):
    """n bytes of TLS records (application data unless told)."""
    out = b""
    while len(out) < n:
        k = min(16384, n - len(out) - 5) if n - len(out) > 5 else 1
        out += first + b"\x03\x03" + struct.pack("!H", k) + rbytes(rng, k)
    return out


def tls_server_flight(rng):
    """ServerHello, ChangeCipherSpec and the encrypted rest of a TLS 1.3 server's flight."""
    sh = (b"\x02" + (86).to_bytes(3, "big") + b"\x03\x03" + rbytes(rng, 32) + b"\x20" +
          rbytes(rng, 32) + b"\x13\x01\x00" + struct.pack("!H", 46) +
          struct.pack("!HHH", 0x2B, 2, 0x0304) + struct.pack("!HHHH", 0x33, 36, 0x1D, 32) +
          rbytes(rng, 32))
    return (b"\x16\x03\x03" + struct.pack("!H", len(sh)) + sh + b"\x14\x03\x03\x00\x01\x01" +
            tls_records(rng, rng.randint(2400, 4400)))


def http_request(rng, host):
    path = rng.choice(["/", "/index.html", "/api/v1/status", "/static/app.js", "/favicon.ico",
                       "/images/logo.png", "/v2/feed?limit=20"])
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n"
            "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\n"
            "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n"
            % (path, host)).encode()


def http_response(rng, n):
    head = ("HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
            "Content-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n"
            "Connection: keep-alive\r\n\r\n" % n).encode()
    return head + rbytes(rng, n)
