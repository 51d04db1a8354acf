use super::*;
use crate::record::{Addr, Record};

#[test]
fn default_pack_compiles() {
    let rs = super::super::default_rules();
    for id in [
        "port_scan",
        "host_sweep",
        "syn_flood",
        "icmp_flood",
        "udp_flood",
        "brute_force",
    ] {
        assert!(rs.rule(id).is_some(), "missing {id}");
    }
    assert!(rs.check_batch(1_000_000_000).is_ok());
    // rules with the same filter share a spec
    assert!(rs.specs.len() < rs.rules.len());
}

#[test]
fn errors_name_line_and_column() {
    let text = "[[rule]]\nid = \"a\"\nwindow = \"10s\"\ncondition = \"syn >= 1 and nope > 2\"\n\n[[rule]]\nid = \"b\"\nwindow = \"ten\"\ncondition = \"syn > 1\"\nfilter = { proto = \"sctpx\" }\n";
    let errs = parse_rules(text, "x.toml").unwrap_err();
    let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(shown.len(), 3, "{shown:#?}");
    assert!(
        shown[0].starts_with("x.toml:4:27: condition: unknown metric `nope`"),
        "{}",
        shown[0]
    );
    assert!(
        shown[1].starts_with("x.toml:8:10: a duration"),
        "{}",
        shown[1]
    );
    assert!(
        shown[2].starts_with("x.toml:10:20: unknown protocol"),
        "{}",
        shown[2]
    );
}

#[test]
fn unknown_keys_and_syntax_errors() {
    let e = parse_rules(
        "[[rule]]\nid = \"a\"\nwindow = 1\ncondition = \"syn > 1\"\nfilter = { dst_port = 22 }\n",
        "f",
    )
    .unwrap_err();
    assert_eq!((e[0].line, e[0].column), (5, 12), "{e:?}");
    assert!(e[0].message.contains("dst_port"), "{e:?}");
    let e = parse_rules("[[rule]\n", "f").unwrap_err();
    assert_eq!(e[0].line, 1);
    let e = parse_rules("[[rule]]\nid = \"a\"\ncondition = \"syn > 1\"\n", "f").unwrap_err();
    assert!(e[0].message.contains("window"), "{e:?}");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("500ms"), Some(500_000_000));
    assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
    assert_eq!(parse_duration("5m"), Some(300_000_000_000));
    assert_eq!(parse_duration("x"), None);
}

fn rec(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Record {
    Record {
        src: Addr::v4(src),
        dst: Addr::v4(dst),
        src_port: sport,
        dst_port: dport,
        proto: 17,
        ..Default::default()
    }
}

#[test]
fn in_and_not_in_lists() {
    let rs = parse_rules(
        "[[rule]]\nid = \"a\"\nwindow = 1\ncondition = \"packets > 1\"\nfilter = { dst_ports = { not_in = [53, \"6000-6010\"] }, src_cidrs = { in = [\"10.0.0.0/8\"], not_in = [\"10.9.0.0/16\"] } }\n",
        "f",
    )
    .unwrap();
    let f = &rs.rules[0].filter;
    assert!(f.matches(&rec([10, 1, 1, 1], [1, 1, 1, 1], 1, 80)));
    assert!(!f.matches(&rec([10, 1, 1, 1], [1, 1, 1, 1], 1, 53)));
    assert!(!f.matches(&rec([10, 1, 1, 1], [1, 1, 1, 1], 1, 6005)));
    assert!(!f.matches(&rec([10, 9, 1, 1], [1, 1, 1, 1], 1, 80)));
    assert!(!f.matches(&rec([11, 1, 1, 1], [1, 1, 1, 1], 1, 80)));
    let e = parse_rules("[[rule]]\nid = \"a\"\nwindow = 1\ncondition = \"packets > 1\"\nfilter = { dst_ports = { nin = [53] } }\n", "f").unwrap_err();
    assert!(e[0].message.contains("unknown key `nin`"), "{e:?}");
}

#[test]
fn allow_lists_global_and_per_rule() {
    let text = "[allow]\nsrc = [\"10.0.0.53\"]\nany = [\"2001:db8::/32\"]\n\n[[rule]]\nid = \"a\"\nwindow = 1\ncondition = \"packets > 1\"\nallow = { dst = [\"192.0.2.0/24\"] }\n\n[[rule]]\nid = \"b\"\nwindow = 1\ncondition = \"packets > 1\"\n";
    let rs = parse_rules(text, "f").unwrap();
    let (a, b) = (&rs.rules[0].filter, &rs.rules[1].filter);
    let ok = rec([10, 0, 0, 1], [8, 8, 8, 8], 1, 1);
    assert!(a.matches(&ok) && b.matches(&ok));
    let from_resolver = rec([10, 0, 0, 53], [8, 8, 8, 8], 1, 1);
    assert!(!a.matches(&from_resolver) && !b.matches(&from_resolver));
    let to_doc = rec([10, 0, 0, 1], [192, 0, 2, 7], 1, 1);
    assert!(!a.matches(&to_doc) && b.matches(&to_doc));
    let v6: Addr = "2001:db8::7".parse::<std::net::IpAddr>().unwrap().into();
    let to_v6 = Record { dst: v6, ..ok };
    assert!(!a.matches(&to_v6) && !b.matches(&to_v6));
    // allow-lists change the filter, so the two rules no longer share a spec
    assert_eq!(rs.specs.len(), 2);
}

#[test]
fn host_group_overrides() {
    let text = "[groups.scanners]\ncidrs = [\"10.9.0.0/24\"]\n\n[[rule]]\nid = \"port_scan\"\nwindow = \"60s\"\ncooldown = \"5m\"\ncondition = \"distinct_dst_ports >= 100\"\n[rule.overrides.scanners]\ncondition = \"distinct_dst_ports >= 5000\"\ncooldown = \"1h\"\n";
    let rs = parse_rules(text, "f").unwrap();
    let r = &rs.rules[0];
    let v = r.variant(&Addr::v4([10, 9, 0, 5]));
    assert_eq!(v.group, Some("scanners"));
    assert_eq!(v.cooldown_ns, 3_600_000_000_000);
    let v = r.variant(&Addr::v4([10, 8, 0, 5]));
    assert_eq!(v.group, None);
    assert_eq!(v.cooldown_ns, 300_000_000_000);
    let e = parse_rules("[[rule]]\nid = \"a\"\nwindow = 1\ncondition = \"packets > 1\"\n[rule.overrides.nope]\nenabled = false\n", "f").unwrap_err();
    assert!(e[0].message.contains("unknown host group `nope`"), "{e:?}");
    assert_eq!(e[0].line, 5);
}

#[test]
fn baselines_and_global_rules() {
    let text = "[[rule]]\nid = \"spike\"\ngroup_by = \"all\"\nwindow = \"10s\"\nbaseline = { alpha = 0.2, warmup = 6 }\ncondition = \"zscore(pps) > 6 and pps > 1000\"\n";
    let rs = parse_rules(text, "f").unwrap();
    let r = &rs.rules[0];
    assert_eq!(r.group_by, GroupBy::All);
    assert_eq!(
        r.baseline,
        Baseline {
            alpha: 0.2,
            warmup: 6
        }
    );
    assert_eq!(r.zscores, vec![crate::metrics::Metric::Pps]);
    let e = parse_rules("[[rule]]\nid = \"a\"\nwindow = 1\nbaseline = { alpha = 2.0 }\ncondition = \"packets > 1\"\n", "f").unwrap_err();
    assert!(e[0].message.contains("alpha"), "{e:?}");
}

#[test]
fn durations_never_wrap_and_windows_are_bounded() {
    let r = |w: &str| {
        parse_rules(
            &format!("[[rule]]\nid = \"x\"\nwindow = {w}\ncondition = \"syn > 1\"\n"),
            "t.toml",
        )
    };
    // 18446744074 s is past u64 nanoseconds: an error, not a wrap to 0.29 s.
    let e = r("18446744074").unwrap_err();
    assert!(e[0].to_string().contains("t.toml:3:10"), "{}", e[0]);
    assert!(e[0].to_string().contains("duration"), "{}", e[0]);
    let e = r("\"1000000h\"").unwrap_err();
    assert!(
        e.iter().any(|e| e.to_string().contains("at most 1h")),
        "{e:?}"
    );
    assert!(r("\"1h\"").is_ok());
    // A condition nested 20,000 parentheses deep: a line:column error, no stack overflow.
    let deep = format!("{}syn{} > 1", "(".repeat(20_000), ")".repeat(20_000));
    let e = parse_rules(
        &format!("[[rule]]\nid = \"x\"\nwindow = \"1s\"\ncondition = \"{deep}\"\n"),
        "t.toml",
    )
    .unwrap_err();
    assert!(e[0].to_string().contains("t.toml:4:"), "{}", e[0]);
}

#[test]
fn yield_to_names_rules_of_the_same_grouping_with_a_cooldown() {
    let ok = "[[rule]]\nid='flood'\nwindow='1s'\ncooldown='30s'\ncondition='pps > 1'\n\
              [[rule]]\nid='scan'\nwindow='1s'\ncondition='packets > 1'\nyield_to=['flood']\n";
    let rs = parse_rules(ok, "f").unwrap();
    assert_eq!(rs.rule("scan").unwrap().yields_to, vec![0]);
    let bad = "[[rule]]\nid='flood'\nwindow='1s'\ncooldown='0s'\ncondition='pps > 1'\n\
               [[rule]]\nid='dst'\ngroup_by='dst'\nwindow='1s'\ncondition='pps > 1'\n\
               [[rule]]\nid='scan'\nwindow='1s'\ncondition='packets > 1'\n\
               yield_to=['flood', 'dst', 'scan', 'nope']\n";
    let e: Vec<String> = parse_rules(bad, "f")
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(e.len(), 4, "{e:#?}");
    for (i, want) in ["no cooldown", "another key", "itself", "no rule `nope`"]
        .iter()
        .enumerate()
    {
        assert!(
            e[i].starts_with("f:15:10:") && e[i].contains(want),
            "{e:#?}"
        );
    }
}

#[test]
fn fragment_filter() {
    let rs = parse_rules(
        "[[rule]]\nid='f'\nwindow='1s'\ncondition='pps > 1'\nfilter={ fragment = 'later' }\n",
        "f",
    )
    .unwrap();
    let f = &rs.rules[0].filter;
    let r = |frag| Record {
        frag,
        ..rec([1, 1, 1, 1], [2, 2, 2, 2], 0, 0)
    };
    assert!(f.matches(&r(crate::record::frag::LATER)));
    assert!(!f.matches(&r(crate::record::frag::FIRST)));
    assert!(!f.matches(&r(crate::record::frag::NONE)));
    let e = parse_rules(
        "[[rule]]\nid='f'\nwindow='1s'\ncondition='pps > 1'\nfilter={ fragment = 'middle' }\n",
        "f",
    )
    .unwrap_err();
    assert!(e[0].message.contains("fragment is"), "{e:?}");
}

#[test]
fn pair_and_flow_groupings_compile_and_cannot_read_unsolicited() {
    let ok = "[[rule]]\nid='guess'\ngroup_by='pair'\nwindow='10s'\ncondition='syn >= 20'\n\
              [[rule]]\nid='chatty'\ngroup_by='flow'\nwindow='10s'\ncondition='packets >= 50'\n\
              [[rule]]\nid='fails'\ngroup_by='pair'\nwindow='10s'\nfilter={outcome='failed'}\n\
              condition='failed >= 5'\n";
    let rs = parse_rules(ok, "f").unwrap();
    assert_eq!(rs.rule("guess").unwrap().group_by, GroupBy::Pair);
    assert_eq!(rs.rule("chatty").unwrap().group_by, GroupBy::Flow);
    assert!(rs.has_stage(GroupBy::Pair) && rs.has_stage(GroupBy::Flow));
    for bad in [
        "[[rule]]\nid='r'\ngroup_by='flow'\nwindow='1s'\nfilter={outcome='unsolicited'}\ncondition='packets > 1'\n",
        "[[rule]]\nid='r'\ngroup_by='pair'\nwindow='1s'\ncondition='unsolicited > 1'\n",
    ] {
        let e = parse_rules(bad, "f").unwrap_err()[0].to_string();
        assert!(e.starts_with("f:3:10:") && e.contains("receiver"), "{e}");
    }
    let e = parse_rules(
        "[[rule]]\nid='r'\ngroup_by='both'\nwindow='1s'\ncondition='pps > 1'\n",
        "f",
    )
    .unwrap_err()[0]
        .to_string();
    assert!(e.contains("\"pair\"") && e.contains("\"flow\""), "{e}");
}

#[test]
fn dsize_takes_suricatas_forms() {
    assert_eq!(dsize("0"), Some((0, 0)));
    assert_eq!(dsize("<10"), Some((0, 9)));
    assert_eq!(dsize(">1400"), Some((1401, u16::MAX)));
    assert_eq!(dsize("<=8"), Some((0, 8)));
    assert_eq!(dsize(">=8"), Some((8, u16::MAX)));
    assert_eq!(dsize("100<>200"), Some((101, 199)));
    for bad in ["<0", ">65535", "5<>6", "abc", "70000", "", "-1"] {
        assert_eq!(dsize(bad), None, "{bad}");
    }
    let rs = parse_rules(
        "[[rule]]\nid='tiny'\nwindow='1s'\nfilter={proto='udp', dsize='<16'}\ncondition='packets > 1'\n",
        "f",
    )
    .unwrap();
    let f = &rs.rule("tiny").unwrap().filter;
    let rec = |payload_len| Record {
        proto: 17,
        payload_len,
        ..Default::default()
    };
    assert!(f.matches(&rec(15)) && !f.matches(&rec(16)));
    // A number means exactly that size; outcome records carry no payload length.
    let rs = parse_rules(
        "[[rule]]\nid='zero'\nwindow='1s'\nfilter={dsize=0}\ncondition='packets > 1'\n",
        "f",
    )
    .unwrap();
    assert_eq!(rs.rule("zero").unwrap().filter.dsize, Some((0, 0)));
    let e = parse_rules(
        "[[rule]]\nid='r'\nwindow='1s'\nfilter={dsize='<9', outcome='failed'}\ncondition='failed > 1'\n",
        "f",
    )
    .unwrap_err()[0]
    .to_string();
    assert!(
        e.starts_with("f:4:8:") && e.contains("dsize filters packets"),
        "{e}"
    );
    let e = parse_rules(
        "[[rule]]\nid='r'\nwindow='1s'\nfilter={dsize='9<>9'}\ncondition='pps > 1'\n",
        "f",
    )
    .unwrap_err()[0]
        .to_string();
    assert!(e.starts_with("f:4:15:") && e.contains("dsize is"), "{e}");
}

#[test]
fn default_sids_never_collide_and_positions_come_from_a_line_index() {
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!(
            "[[rule]]\nid = \"r{i}\"\nwindow = \"1s\"\ncondition = \"pps > {i}\"\n"
        ));
    }
    // A written sid equal to one rule's default does not clash either: the default moves.
    let taken = default_sid("r7");
    text.push_str(&format!(
        "[[rule]]\nid = \"explicit\"\nsid = {taken}\nwindow = \"1s\"\ncondition = \"pps > 1\"\n"
    ));
    let rs = parse_rules(&text, "big.toml").expect("20,001 rules compile");
    let mut sids: Vec<u32> = rs.rules.iter().map(|r| r.signature_id).collect();
    sids.sort();
    sids.dedup();
    assert_eq!(sids.len(), 20_001, "every sid distinct");
    assert_eq!(rs.rule("explicit").unwrap().signature_id, taken);
    assert_ne!(rs.rule("r7").unwrap().signature_id, taken);
    // Two written sids that clash are an error, at the second rule's line.
    let e = parse_rules(
        "[[rule]]\nid='a'\nsid=5\nwindow='1s'\ncondition='pps > 1'\n\
         [[rule]]\nid='b'\nsid=5\nwindow='1s'\ncondition='pps > 1'\n",
        "f",
    )
    .unwrap_err()[0]
        .to_string();
    assert!(
        e.starts_with("f:6:1:") && e.contains("already used by `a`"),
        "{e}"
    );
    assert_eq!(line_col("ab\ncd\u{e9}f\n", 7), (2, 4));
    assert_eq!(line_col("ab\n", 99), (2, 1));
}
