"""nfdump's flows -> goflow2's Kafka messages, as goflow2 v2 writes them.

Usage: encode.py NFDUMP_JSON OUT_DIR
Reads the JSON array `nfdump -o json` prints (the flows nfcapd collected from a real
exporter) and writes, one flow per message:
  OUT_DIR/flows.pb     length-delimited FlowMessage protobufs, as goflow2's default
                       (-format=bin) puts in each Kafka message; encoded by Google's protobuf
                       library from tests/goflow2/flow.proto (compiled by protoc first);
  OUT_DIR/flows.jsonl  one JSON object a line, with goflow2's default renderings (addresses
                       as text, `proto` and `etype` by name, `type` by enum name).
ICMP flows: in protobuf, type and code stay in the destination port (type * 256 + code) as
NetFlow v9 exporters such as softflowd send them and goflow2 passes them on; in JSON they
are in icmp_type and icmp_code, as an exporter with ICMP type fields gives them.
Prints the number of flows and packets written.
"""
import datetime
import ipaddress
import json
import os
import subprocess
import sys
import tempfile

src, out = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
gen = tempfile.mkdtemp()
subprocess.run(["protoc", f"--proto_path={here}", f"--python_out={gen}", "flow.proto"], check=True)
sys.path.insert(0, gen)
import flow_pb2  # noqa: E402

FLAGS = "CEUAPRSF"  # nfdump's flag string, most significant bit first
PROTO_NAME = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP"}


def ns(text):
    """nfdump's local time (run it with TZ=UTC) to ns since the epoch."""
    t = datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def flags(text):
    return sum(1 << (7 - i) for i, c in enumerate(text) if c != ".")


flows = json.load(open(src))
n_packets = 0
with open(os.path.join(out, "flows.pb"), "wb") as pb, open(os.path.join(out, "flows.jsonl"), "w") as js:
    for f in flows:
        v6 = "src6_addr" in f
        sa = ipaddress.ip_address(f["src6_addr" if v6 else "src4_addr"])
        da = ipaddress.ip_address(f["dst6_addr" if v6 else "dst4_addr"])
        proto = f["proto"]
        icmp = proto in (1, 58)
        itype, icode = f.get("icmp_type", 0), f.get("icmp_code", 0)
        m = flow_pb2.FlowMessage()
        m.type = flow_pb2.FlowMessage.NETFLOW_V9
        m.time_received_ns = ns(f["received"])
        m.sampling_rate = f.get("sampled", 0)
        m.sampler_address = ipaddress.ip_address(f.get("ip4_router", "127.0.0.1")).packed
        m.time_flow_start_ns = ns(f["first"])
        m.time_flow_end_ns = ns(f["last"])
        m.bytes = f["in_bytes"]
        m.packets = f["in_packets"]
        m.src_addr = sa.packed
        m.dst_addr = da.packed
        m.etype = 0x86DD if v6 else 0x800
        m.proto = proto
        m.src_port = 0 if icmp else f.get("src_port", 0)
        m.dst_port = itype * 256 + icode if icmp else f.get("dst_port", 0)
        m.tcp_flags = flags(f.get("tcp_flags", "........"))
        body = m.SerializeToString()
        # protodelim: a varint length, then the message.
        n, prefix = len(body), bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            prefix.append(b | (0x80 if n else 0))
            if not n:
                break
        pb.write(bytes(prefix) + body)
        j = {
            "type": "NETFLOW_V9",
            "time_received_ns": m.time_received_ns,
            "sequence_num": 0,
            "sampling_rate": m.sampling_rate,
            "sampler_address": str(ipaddress.ip_address(m.sampler_address)),
            "time_flow_start_ns": m.time_flow_start_ns,
            "time_flow_end_ns": m.time_flow_end_ns,
            "bytes": m.bytes,
            "packets": m.packets,
            "src_addr": str(sa),
            "dst_addr": str(da),
            "etype": "IPv6" if v6 else "IPv4",
            "proto": PROTO_NAME.get(proto, ""),
            "src_port": m.src_port,
            "dst_port": 0 if icmp else m.dst_port,
            "in_if": 0,
            "out_if": 0,
            "src_mac": "00:00:00:00:00:00",
            "dst_mac": "00:00:00:00:00:00",
            "tcp_flags": m.tcp_flags,
            "icmp_type": itype if icmp else 0,
            "icmp_code": icode if icmp else 0,
            "next_hop": "",
            "bgp_communities": [],
            "as_path": [],
            "layer_stack": [],
        }
        js.write(json.dumps(j, separators=(",", ":")) + "\n")
        n_packets += m.packets
print(len(flows), n_packets)
