#!/usr/bin/python3
"""Replay every capture of a captures.py output directory through flowsentry with its
embedded default pack (and, with --rules FILE, a second time with that rule file) and print
what fired.

    /usr/bin/python3 tests/scapy/validate.py OUTDIR [--bin FLOWSENTRY] [--rules FILE]
                                                    [--json FILE]

--bin defaults to target/release/flowsentry of this repository when it exists, else to
/tmp/fs-bin/flowsentry. For each capture and pack: the rule ids that fired, each with its first
alert's time relative to the capture's first frame and its key address (src_ip for rules
grouped by source, dest_ip for rules grouped by destination), and any decode errors in the
summary. Writes OUTDIR/X.default.* (and OUTDIR/X.rules.* with --rules): alerts as JSON lines
and the summary as JSON.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RELEASE_BIN = os.path.join(REPO, "target", "release", "flowsentry")
FALLBACK_BIN = "/tmp/fs-bin/flowsentry"
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
ERRORS = ("link_errors", "network_errors", "transport_errors", "ip_ext_errors", "unsupported_link")


def default_bin():
    return RELEASE_BIN if os.path.exists(RELEASE_BIN) else FALLBACK_BIN


def replay(binary, pcap, rules, alerts, summary):
    """Run `flowsentry replay` on one capture (rules None: the embedded default pack);
    returns the alerts grouped by rule and the summary."""
    cmd = [binary, "replay", "-q", "--no-tui", pcap, "--alerts", alerts, "--summary", summary]
    if rules:
        cmd[4:4] = ["--rules", rules]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(alerts) as f:
        fired = fired_rules(json.loads(line) for line in f if line.strip())
    with open(summary) as f:
        return fired, json.load(f)


def fired_rules(alerts):
    """rule -> {"count", "first" (s after EPOCH), "first_key", "first_metrics", "keys"}."""
    fired = {}
    for a in alerts:
        key = a.get("src_ip") if a["alert"]["context"].get("group_by") == "src" else a.get("dest_ip")
        r = fired.setdefault(a["alert"]["rule"], {"count": 0, "first": None, "keys": []})
        r["count"] += 1
        t = (datetime.datetime.fromisoformat(a["timestamp"]) - EPOCH).total_seconds()
        if r["first"] is None or t < r["first"]:
            r["first"] = t
            r["first_key"] = key
            r["first_metrics"] = a["alert"]["context"].get("metrics")
        if key and key not in r["keys"]:
            r["keys"].append(key)
    return fired


def fmt(fired):
    if not fired:
        return "-"
    out = []
    for rule, r in sorted(fired.items(), key=lambda x: x[1]["first"]):
        keys = r["keys"]
        k = r.get("first_key") or "all"
        extra = " +%d keys" % (len(keys) - 1) if len(keys) > 1 else ""
        out.append("%s @%.0fs %s%s" % (rule, r["first"], k, extra))
    return "; ".join(out)


def run_pack(binary, pcap, pack, rules):
    base = os.path.splitext(pcap)[0]
    fired, s = replay(binary, pcap, rules, base + ".%s.alerts.jsonl" % pack,
                      base + ".%s.summary.json" % pack)
    errors = {k: s["decode"][k] for k in ERRORS if s["decode"].get(k)}
    return {"fired": fired, "decode_errors": errors, "decode": s["decode"],
            "packets": s["packets"], "conversations": s.get("conversations")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--bin", default=default_bin(),
                    help="flowsentry binary (default: %(default)s)")
    ap.add_argument("--rules", help="also replay with this rule file (pack name: rules)")
    ap.add_argument("--json", help="also write the results as JSON")
    args = ap.parse_args()
    packs = [("default", None)] + ([("rules", args.rules)] if args.rules else [])
    with open(os.path.join(args.outdir, "manifest.json")) as f:
        manifest = json.load(f)
    results = []
    for m in manifest:
        pcap = os.path.join(args.outdir, m["file"])
        row = dict(m)
        for pack, rules in packs:
            row[pack] = run_pack(args.bin, pcap, pack, rules)
        results.append(row)
        errors = {pack: row[pack]["decode_errors"] for pack, _ in packs
                  if row[pack]["decode_errors"]}
        print("%-29s %-6s | %s%s" % (
            m["class"], m["kind"],
            " | ".join("%s: %s" % (pack, fmt(row[pack]["fired"])) for pack, _ in packs),
            " | DECODE ERRORS %s" % errors if errors else ""))
        sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
