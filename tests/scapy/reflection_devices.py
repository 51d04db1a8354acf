"""Reflection and amplification by devices and small services: UPnP (SSDP), WS-Discovery,
IKEv2 and OpenVPN gateways, CoAP and BACnet/IP, Apple Remote Management, chargen.

In: gen_CLASS(rng) takes the class's random.Random (captures.py seeds it from SEED and the
class name). Out: a wire.Capture holding what arrives at the victim, 203.0.113.10: answers from
the service's port to the random source ports the attacker wrote into its spoofed requests, and
nothing the victim sent. Guarantees: the same generator state gives the same frames, byte for
byte; every frame is Ethernet/IPv4/UDP with correct lengths and checksums (wire.py).

ssdp
    800 UPnP devices (home routers, media servers) answer `M-SEARCH * ST: ssdp:all` with one
    "HTTP/1.1 200 OK" per device, embedded device and service type (1 to 6 each, ~300 bytes),
    after the random delay the request's MX header allows (up to 3 s).
ws_discovery
    500 ONVIF cameras, NVRs and printers answer a WS-Discovery Probe (SOAP over UDP 3702) with a
    ProbeMatches envelope of 1.0-1.9 kB; SOAP-over-UDP repeats a unicast message once after a
    random 50-250 ms, which half of them do.
vpn_ike_openvpn
    350 IKEv2 responders (UDP 500) answer a spoofed IKE_SA_INIT with their own: SA (AES-CBC-256,
    HMAC-SHA2-256, MODP-2048), a 256-byte KE, nonce, NAT detection notifies, CERTREQ, about 500
    bytes (15% refuse with NO_PROPOSAL_CHOSEN, 36 bytes). 250 OpenVPN servers (UDP 1194)
    answer P_CONTROL_HARD_RESET_CLIENT_V2 with P_CONTROL_HARD_RESET_SERVER_V2 (plain, tls-auth
    or tls-crypt: 54-94 bytes of IP) and, never getting the handshake's next packet, resend it
    after 2 s and 4 s more (the reliability layer's backoff): reflection by repetition.
iot_coap_bacnet
    400 CoAP devices answer GET /.well-known/core (UDP 5683) with an ACK 2.05 Content in link
    format (~400 bytes; some only the first Block2 block). 300 BACnet/IP controllers (UDP
    47808) answer Who-Is with I-Am (~50 bytes) or ReadProperty(object-list) with a
    ReadProperty-ACK listing their objects (up to ~500 bytes).
burst_short
    3000 Apple Remote Management (ARMS, UDP 3283) hosts each answer once, all within 30 ms:
    1006-byte replies (1034 bytes of IP), a short, dense burst as booter services send.
sparse_sample
    A long chargen (UDP 19) reflection seen through 1-in-100 packet sampling (sFlow): 60
    sampled answers from 60 distinct reflectors over 60 s, each a random-length (74-512 byte)
    slice of chargen's rotating 72-character lines.
"""

import struct

from scapy.contrib.coap import CoAP
from scapy.contrib.ikev2 import (IKEv2, IKEv2_payload_CERTREQ, IKEv2_payload_KE,
                                 IKEv2_payload_Nonce, IKEv2_payload_Notify,
                                 IKEv2_payload_Proposal, IKEv2_payload_SA,
                                 IKEv2_payload_Transform, IKEv2_payload_VendorID)

from common import VICTIM, VICTIM_NET, chain, eph, rbytes, uuid_str
from wire import EPOCH, AddrPool, Capture

# ---- SSDP -----------------------------------------------------------------------------------

SSDP_SERVERS = [
    "Linux/2.6.36, UPnP/1.0, Portable SDK for UPnP devices/1.6.18",
    "Linux/3.4.11-rt19 UPnP/1.0 MiniUPnPd/2.0",
    "Custom/1.0 UPnP/1.0 Proc/Ver",
    "RomPager/4.07 UPnP/1.0",
    "Linux/2.6.21, UPnP/1.0, Intel SDK for UPnP devices /1.2",
    "ipos/7.0 UPnP/1.0 TL-WR840N/5.0",
    "Linux/3.14.0 UPnP/1.0 IpBridge/1.53.0",
]


def ssdp_types(rng, uuid):
    types = ["upnp:rootdevice", "uuid:" + uuid,
             "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
             "urn:schemas-upnp-org:service:Layer3Forwarding:1",
             "urn:schemas-upnp-org:device:WANDevice:1",
             "urn:schemas-upnp-org:service:WANIPConnection:1",
             "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1",
             "urn:schemas-upnp-org:device:MediaServer:1",
             "urn:schemas-upnp-org:service:ContentDirectory:1"]
    return types[:rng.randint(1, 6)]


def ssdp_location(rng, uuid):
    lan = rng.choice(["192.168.0.1", "192.168.1.1", "192.168.1.254", "10.0.0.138",
                      "192.168.100.1"])
    return rng.choice(["http://%s:1900/igd.xml", "http://%s:49152/rootDesc.xml",
                       "http://%s:5431/dyndev/uuid:" + uuid, "http://%s:80/description.xml"]) % lan


def ssdp_response(uuid, st, t, maxage, loc, server):
    usn = "uuid:" + uuid + ("" if st.startswith("uuid:") else "::" + st)
    lines = ["HTTP/1.1 200 OK", "CACHE-CONTROL: max-age=%d" % maxage,
             "DATE: Thu, 01 Jan 2026 00:00:%02d GMT" % int(t), "EXT:", "LOCATION: " + loc,
             "SERVER: " + server, "ST: " + st, "USN: " + usn]
    if "Portable SDK" in server:  # libupnp adds the UPnP 1.1 headers
        lines[6:6] = ['OPT: "http://schemas.upnp.org/upnp/1/0/"; ns=01', "01-NLS: " + uuid[:8]]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def gen_ssdp(rng):
    cap = Capture(rng, VICTIM_NET)
    devices = AddrPool(rng).take(800)
    for d in devices:
        uuid = uuid_str(rng)
        server = rng.choice(SSDP_SERVERS)
        loc = ssdp_location(rng, uuid)
        vport = eph(rng)
        maxage = rng.choice((100, 120, 1800))
        t = rng.uniform(0.0, 2.0) + rng.uniform(0.0, 3.0)  # request time + MX delay
        for st in ssdp_types(rng, uuid):
            cap.udp(t, d, VICTIM, 1900, vport, ssdp_response(uuid, st, t, maxage, loc, server))
            t += rng.uniform(2e-4, 3e-3)
    return cap


# ---- WS-Discovery ---------------------------------------------------------------------------

WSD_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:SOAP-ENC="http://www.w3.org/2003/05/soap-encoding" '
    'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:wsdd="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
    '<SOAP-ENV:Header><wsa:MessageID>uuid:%s</wsa:MessageID>'
    '<wsa:RelatesTo>uuid:%s</wsa:RelatesTo>'
    '<wsa:To SOAP-ENV:mustUnderstand="true">'
    'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>'
    '<wsa:Action SOAP-ENV:mustUnderstand="true">'
    'http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>'
    '<wsdd:AppSequence InstanceId="%d" MessageNumber="%d"></wsdd:AppSequence></SOAP-ENV:Header>'
    '<SOAP-ENV:Body><wsdd:ProbeMatches><wsdd:ProbeMatch><wsa:EndpointReference>'
    '<wsa:Address>urn:uuid:%s</wsa:Address></wsa:EndpointReference>'
    '<wsdd:Types>%s</wsdd:Types><wsdd:Scopes>%s</wsdd:Scopes>'
    '<wsdd:XAddrs>http://%s/onvif/device_service</wsdd:XAddrs>'
    '<wsdd:MetadataVersion>%d</wsdd:MetadataVersion></wsdd:ProbeMatch></wsdd:ProbeMatches>'
    '</SOAP-ENV:Body></SOAP-ENV:Envelope>')


def wsd_types_scopes(rng, kind):
    """The Types and Scopes a camera, NVR or printer announces."""
    hardware = rng.choice(["DS-2CD2143G2-I", "IPC-HDW2431T", "NC450", "C6CN"])
    name = rng.choice(["HIKVISION", "Dahua", "IPCAM"])
    onvif = "onvif://www.onvif.org/"
    return {
        "camera": ("dn:NetworkVideoTransmitter tds:Device",
                   [onvif + s for s in ("type/video_encoder", "type/audio_encoder",
                                        "Profile/Streaming", "Profile/G", "Profile/T",
                                        "hardware/" + hardware, "name/" + name,
                                        "location/country/china", "location/city/hangzhou")]),
        "nvr": ("dn:NetworkVideoTransmitter tds:Device",
                [onvif + s for s in ("type/NetworkVideoRecorder", "Profile/Streaming",
                                     "hardware/NVR4108HS", "name/NVR", "location/Anywhere")]),
        "printer": ("wsdp:Device wprt:PrintDeviceType wscn:ScanDeviceType",
                    ["http://schemas.microsoft.com/windows/2006/08/wdp/print/Default",
                     "http://schemas.microsoft.com/windows/2006/08/wdp/scan/Default"]),
    }[kind]


def wsd_probematches(rng, uuid, relates, kind, ip):
    types, scopes = wsd_types_scopes(rng, kind)
    seq = rng.randint(1, 2000000000)
    return (WSD_ENVELOPE % (uuid_str(rng), relates, seq, rng.randint(1, 50), uuid, types,
                            " ".join(scopes), ip, rng.randint(1, 10))).encode()


def gen_ws_discovery(rng):
    cap = Capture(rng, VICTIM_NET)
    devices = AddrPool(rng).take(500)
    for d in devices:
        kind = rng.choices(("camera", "nvr", "printer"), (70, 20, 10))[0]
        uuid = uuid_str(rng)
        relates = uuid_str(rng)
        lan = "192.168.%d.%d" % (rng.choice((0, 1, 1, 2)), rng.randint(2, 250))
        msg = wsd_probematches(rng, uuid, relates, kind, lan)
        # some firmware pads the envelope with whitespace or extra scopes
        msg += b" " * rng.randint(0, 500)
        t = rng.uniform(0.0, 3.0)
        vport = eph(rng)
        cap.udp(t, d, VICTIM, 3702, vport, msg)
        if rng.random() < 0.5:  # SOAP-over-UDP UNICAST_UDP_REPEAT
            cap.udp(t + rng.uniform(0.05, 0.25), d, VICTIM, 3702, vport, msg)
    return cap


# ---- IKEv2, OpenVPN -------------------------------------------------------------------------

IKE_VENDOR_IDS = (bytes.fromhex("882fe56d6fd20dbc2251613b2ebe5beb"),   # strongSwan
                  bytes.fromhex("4048b7d56ebce88525e7de7f00d6c2d3"),   # FRAGMENTATION
                  bytes.fromhex("1e2b516905991c7d7c96fcbfb587e461"))   # MS NT5 ISAKMPOAKLEY


def ikev2_sa_init_response(rng, ispi):
    rspi = rbytes(rng, 8)
    if rng.random() < 0.15:  # NO_PROPOSAL_CHOSEN
        return bytes(IKEv2(init_SPI=ispi, resp_SPI=b"\0" * 8, next_payload=41, exch_type=34,
                           flags=0x20, id=0) /
                     IKEv2_payload_Notify(next_payload=0, proto=0, type=14))
    trans = (IKEv2_payload_Transform(next_payload=3, transform_type=1, transform_id=12,
                                     length=12, key_length=256) /
             IKEv2_payload_Transform(next_payload=3, transform_type=2, transform_id=5) /
             IKEv2_payload_Transform(next_payload=3, transform_type=3, transform_id=12) /
             IKEv2_payload_Transform(next_payload=0, transform_type=4, transform_id=14))
    layers = [IKEv2(init_SPI=ispi, resp_SPI=rspi, next_payload=33, exch_type=34, flags=0x20, id=0),
              IKEv2_payload_SA(next_payload=34, prop=IKEv2_payload_Proposal(
                  next_payload=0, proposal=1, proto=1, trans_nb=4, trans=trans)),
              IKEv2_payload_KE(next_payload=40, group=14, load=rbytes(rng, 256)),
              IKEv2_payload_Nonce(next_payload=41, load=rbytes(rng, 32)),
              IKEv2_payload_Notify(next_payload=41, proto=0, type=16388, load=rbytes(rng, 20)),
              IKEv2_payload_Notify(next_payload=38, proto=0, type=16389, load=rbytes(rng, 20)),
              IKEv2_payload_CERTREQ(next_payload=41, cert_type=4,
                                    cert_data=rbytes(rng, 20 * rng.randint(1, 3))),
              IKEv2_payload_Notify(next_payload=43, proto=0, type=16430),
              IKEv2_payload_VendorID(next_payload=0, vendorID=rng.choice(IKE_VENDOR_IDS))]
    return bytes(chain(layers))


def openvpn_hard_reset_server(rng, mode, sid, remote_sid, replay_id, net_time):
    opcode = bytes([(8 << 3) | 0])  # P_CONTROL_HARD_RESET_SERVER_V2, key id 0
    # one ACK (of the client's packet 0) with the client's session id, then packet id 0
    tail = b"\x01" + struct.pack("!I", 0) + remote_sid + struct.pack("!I", 0)
    if mode == "plain":
        return opcode + sid + tail
    if mode == "tls-auth":  # HMAC-SHA1 over the packet, replay id and time
        return opcode + sid + rbytes(rng, 20) + struct.pack("!II", replay_id, net_time) + tail
    # tls-crypt: packet id and time, 32-byte tag, then the encrypted control header
    return (opcode + sid + struct.pack("!II", replay_id, net_time) + rbytes(rng, 32) +
            rbytes(rng, len(tail) + 12))


def openvpn_answers(cap, rng, server):
    """One server's HARD_RESET_SERVER_V2 and its two resends."""
    mode = rng.choices(("plain", "tls-auth", "tls-crypt"), (30, 30, 40))[0]
    t = rng.uniform(0.0, 2.0)
    vport = eph(rng)
    sid, remote = rbytes(rng, 8), rbytes(rng, 8)
    replay = rng.randint(1, 3)
    net_time = EPOCH + int(t)
    for d in (0.0, 2.0, 6.0):
        cap.udp(t + d, server, VICTIM, 1194, vport,
                openvpn_hard_reset_server(rng, mode, sid, remote, replay, net_time))
        replay += 1


def gen_vpn_ike_openvpn(rng):
    cap = Capture(rng, VICTIM_NET)
    pool = AddrPool(rng)
    for r in pool.take(350):
        t = rng.uniform(0.0, 3.0)
        cap.udp(t, r, VICTIM, 500, 500, ikev2_sa_init_response(rng, rbytes(rng, 8)))
    for r in pool.take(250):
        openvpn_answers(cap, rng, r)
    return cap


# ---- CoAP, BACnet/IP ------------------------------------------------------------------------

COAP_RESOURCES = ['</.well-known/core>;ct=40', '</sensors>;ct=40;title="Sensor Index"',
                  '</sensors/temp>;rt="temperature-c";if="sensor";obs',
                  '</sensors/light>;rt="light-lux";if="sensor"',
                  '</sensors/humidity>;rt="humidity-rh";if="sensor";obs',
                  '</actuators/leds>;title="LEDs: ?color=r|g|b, POST/PUT mode=on|off";rt="Control"',
                  '</actuators/toggle>;title="Red LED";rt="Control"',
                  '</firmware/v2>;rt="firmware";sz=262144', '</config/net>;ct=50',
                  '</3/0>;ct=11543', '</4/0>', '</1/0>', '</5/0>;rt="oma.lwm2m"',
                  '</time>;obs;rt="ticks";title="Internal Clock"', '</async>;ct=0',
                  '</battery>;rt="battery-pct";obs', '</dev/mfg>;rt="ipso:dev-mfg";rt="dev"',
                  '</dev/mdl>;rt="ipso:dev-mdl"', '</pwr/0/rel>;obs;rt="ipso:pwr-rel"',
                  '</pwr/0/w>;obs;rt="ipso:pwr-w"', '</.well-known/core?rt=firmware>']


def coap_core(rng):
    """ACK 2.05 Content with the device's resources in link format (or its first block)."""
    res = rng.sample(COAP_RESOURCES, rng.randint(8, len(COAP_RESOURCES)))
    payload = ",".join(res).encode()
    opts = [(12, b"\x28")]  # Content-Format: application/link-format
    if len(payload) > 512 or rng.random() < 0.2:
        payload = payload[:256]
        opts.append((23, b"\x0c"))  # NUM 0, More, SZX 4 (256 bytes)
    return bytes(CoAP(ver=1, type=2, code=69, msg_id=rng.getrandbits(16),
                      token=rbytes(rng, rng.choice((0, 4, 8))), options=opts,
                      paymark=b"\xff")) + payload


def bacnet_objid(typ, inst):
    return struct.pack("!I", (typ << 22) | inst)


def bacnet_read_object_list(rng, instance):
    """ReadProperty-ACK of the device's object-list: its length, or the objects."""
    invoke = rng.randint(0, 255)
    n = rng.choice((0, rng.randint(4, 20), rng.randint(20, 95)))
    head = b"\x30" + bytes([invoke]) + b"\x0c" + b"\x0c" + bacnet_objid(8, instance) + b"\x19\x4c"
    if n == 0:  # object-list[0]: the array's length
        return head + b"\x29\x00" + b"\x3e" + b"\x21" + bytes([rng.randint(10, 200)]) + b"\x3f"
    objs = [bacnet_objid(8, instance)] + [bacnet_objid(rng.choice((0, 1, 2, 3, 4, 5, 13, 14, 19)),
                                                       rng.randint(0, 4000)) for _ in range(n - 1)]
    return head + b"\x3e" + b"".join(b"\xc4" + o for o in objs) + b"\x3f"


def bacnet_reply(rng, instance, vendor):
    """BVLC Original-Unicast-NPDU with an I-Am or a ReadProperty-ACK."""
    if rng.random() < 0.5:  # I-Am
        vendor_id = (b"\x21" + bytes([vendor]) if vendor < 256 else
                     b"\x22" + struct.pack("!H", vendor))
        apdu = (b"\x10\x00" + b"\xc4" + bacnet_objid(8, instance) + b"\x22\x05\xc4" +
                b"\x91\x00" + vendor_id)
    else:
        apdu = bacnet_read_object_list(rng, instance)
    npdu_apdu = b"\x01\x00" + apdu
    return b"\x81\x0a" + struct.pack("!H", 4 + len(npdu_apdu)) + npdu_apdu


def gen_iot_coap_bacnet(rng):
    cap = Capture(rng, VICTIM_NET)
    pool = AddrPool(rng)
    for d in pool.take(400):
        t = rng.uniform(0.0, 3.0)
        msg = coap_core(rng)
        cap.udp(t, d, VICTIM, 5683, eph(rng), msg)
    for d in pool.take(300):
        t = rng.uniform(0.0, 3.0)
        msg = bacnet_reply(rng, rng.randint(1, 4194302),
                           rng.choice((5, 7, 8, 15, 24, 36, 260, 343)))
        cap.udp(t, d, VICTIM, 47808, rng.choice((47808, eph(rng))), msg)
    return cap


# ---- ARMS, chargen --------------------------------------------------------------------------

def gen_burst_short(rng):
    cap = Capture(rng, VICTIM_NET)
    hosts = AddrPool(rng).take(3000)
    for h in hosts:
        t = rng.uniform(0.0, 0.030)
        name = ("%s's Mac" % rng.choice(["John", "Anna", "Studio", "Office", "Lab"])).encode()
        payload = (b"\x00\x01\x00\x00" + struct.pack("!I", 1006) + b"\x00" * 8 + name +
                   b"\x00" * (64 - len(name)) + rbytes(rng, 1006 - 80))
        cap.udp(t, h, VICTIM, 3283, eph(rng), payload)
    return cap


CHARGEN_LINE = "".join(chr(c) for c in range(32, 127)) * 2


def chargen_text(offset, n):
    """n bytes of chargen output from line `offset` on: 72 printable characters per line,
    each line starting one character further."""
    out = []
    i = offset
    while sum(len(x) for x in out) < n:
        s = i % 95
        out.append(CHARGEN_LINE[s:s + 72] + "\r\n")
        i += 1
    return "".join(out)[:n].encode()


def gen_sparse_sample(rng):
    cap = Capture(rng, VICTIM_NET)
    hosts = AddrPool(rng).take(60)
    times = sorted(rng.uniform(0.0, 60.0) for _ in hosts)
    times[0] = 0.0
    for h, t in zip(hosts, times):
        cap.udp(t, h, VICTIM, 19, eph(rng), chargen_text(rng.randint(0, 94), rng.randint(74, 512)))
    return cap
