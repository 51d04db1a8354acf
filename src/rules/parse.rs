//! Rule file parsing: TOML text -> raw structs (serde, with spans) -> checked [`RuleSet`].
//!
//! In: the text of a rule file and its name. Out: a compiled [`RuleSet`], or every error
//! found, each with file, line and column. Guarantees: unknown keys are errors (a typo never
//! silently disables a filter); all rules are checked, not just up to the first error.

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use toml::{Spanned, Value};

use super::{Cidr, Expr, Filter, GroupBy, PortSet, Rule, RuleSet, Spec};
use crate::metrics::DistinctKind;
use crate::record::{proto, tcp_flag};

/// One problem in a rule file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    sid: Option<Spanned<i64>>,
    #[serde(default)]
    description: String,
    severity: Option<Spanned<i64>>,
    #[serde(default)]
    category: String,
    group_by: Option<Spanned<String>>,
    window: Spanned<Value>,
    slide: Option<Spanned<Value>>,
    cooldown: Option<Spanned<Value>>,
    condition: Spanned<String>,
    #[serde(default)]
    enabled: Option<bool>,
    filter: Option<Spanned<RawFilter>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    proto: Option<Spanned<Value>>,
    tcp_flags: Option<Spanned<String>>,
    tcp_flags_not: Option<Spanned<String>>,
    icmp_type: Option<Spanned<Value>>,
    src_ports: Option<Spanned<Value>>,
    dst_ports: Option<Spanned<Value>>,
    src_cidrs: Option<Spanned<Value>>,
    dst_cidrs: Option<Spanned<Value>>,
}

struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
    errors: Vec<RuleError>,
}

impl Ctx<'_> {
    fn err(&mut self, at: usize, msg: impl Into<String>) {
        let (line, column) = line_col(self.text, at);
        self.errors.push(RuleError {
            file: self.file.to_string(),
            line,
            column,
            message: msg.into(),
        });
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = &text[..text.floor_char_boundary_compat(at)];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

trait FloorBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}
impl FloorBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// Parse and compile a rule file; `file` names it in errors.
pub fn parse_rules(text: &str, file: &str) -> Result<RuleSet, Vec<RuleError>> {
    let mut cx = Ctx {
        text,
        file,
        errors: Vec::new(),
    };
    let raw: RawFile = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            cx.err(at, e.message().trim().to_string());
            return Err(cx.errors);
        }
    };
    if raw.rule.is_empty() {
        cx.err(0, "no rules: add at least one `[[rule]]` table");
    }
    let mut rules: Vec<Rule> = Vec::new();
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    let mut seen_sids: HashMap<u32, String> = HashMap::new();
    for spanned in raw.rule {
        let span = spanned.span();
        let r = spanned.into_inner();
        if r.enabled == Some(false) {
            continue;
        }
        let line = line_col(text, span.start).0;
        if let Some(rule) = compile_rule(&mut cx, r, line) {
            if let Some(prev) = seen_ids.insert(rule.id.clone(), line) {
                cx.err(
                    span.start,
                    format!("duplicate rule id `{}` (first at line {prev})", rule.id),
                );
            }
            if let Some(other) = seen_sids.insert(rule.signature_id, rule.id.clone()) {
                cx.err(
                    span.start,
                    format!(
                        "signature id {} of `{}` is already used by `{other}`",
                        rule.signature_id, rule.id
                    ),
                );
            }
            rules.push(rule);
        }
    }
    if !cx.errors.is_empty() {
        cx.errors.sort_by_key(|e| (e.line, e.column));
        return Err(cx.errors);
    }
    let specs = build_specs(&mut rules);
    Ok(RuleSet {
        source: file.to_string(),
        rules,
        specs,
    })
}

fn build_specs(rules: &mut [Rule]) -> Vec<Spec> {
    let mut specs: Vec<Spec> = Vec::new();
    for (i, r) in rules.iter_mut().enumerate() {
        let idx = match specs
            .iter()
            .position(|s| s.filter == r.filter && s.group_by == r.group_by)
        {
            Some(ix) => ix,
            None => {
                specs.push(Spec {
                    filter: r.filter.clone(),
                    group_by: r.group_by,
                    distinct: [false; 4],
                    rules: Vec::new(),
                });
                specs.len() - 1
            }
        };
        for m in &r.reads {
            if let Some(k) = m.distinct_kind() {
                specs[idx].distinct[k as usize] = true;
            }
        }
        specs[idx].rules.push(i);
        r.spec = idx;
    }
    debug_assert!(specs
        .iter()
        .all(|s| DistinctKind::ALL.len() == s.distinct.len()));
    specs
}

fn compile_rule(cx: &mut Ctx<'_>, r: RawRule, line: usize) -> Option<Rule> {
    let before = cx.errors.len();
    let id_span = r.id.span();
    let id = r.id.into_inner();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        cx.err(
            id_span.start,
            format!("rule id `{id}` must be non-empty letters, digits, `_` or `-`"),
        );
    }
    let signature_id = match r.sid {
        Some(s) => match u32::try_from(*s.get_ref()) {
            Ok(v) if v > 0 => v,
            _ => {
                cx.err(s.span().start, "sid must be a positive 32-bit integer");
                0
            }
        },
        None => default_sid(&id),
    };
    let severity = match r.severity {
        None => 2,
        Some(s) => match *s.get_ref() {
            v @ 1..=3 => v as u8,
            _ => {
                cx.err(
                    s.span().start,
                    "severity must be 1 (high), 2 (medium) or 3 (low)",
                );
                2
            }
        },
    };
    let group_by = match r
        .group_by
        .as_ref()
        .map(|g| (g.get_ref().as_str(), g.span()))
    {
        None | Some(("src", _)) => GroupBy::Src,
        Some(("dst", _)) => GroupBy::Dst,
        Some((other, sp)) => {
            cx.err(
                sp.start,
                format!("group_by must be \"src\" or \"dst\", not \"{other}\""),
            );
            GroupBy::Src
        }
    };
    let window_ns = duration(cx, &r.window).unwrap_or(1);
    let slide_ns = r
        .slide
        .as_ref()
        .map(|s| duration(cx, s).unwrap_or(1))
        .unwrap_or(window_ns);
    let cooldown_ns = match &r.cooldown {
        Some(c) => duration_allow_zero(cx, c).unwrap_or(0),
        None => window_ns,
    };
    if slide_ns > window_ns {
        let at = r.slide.as_ref().map(|s| s.span().start).unwrap_or(0);
        cx.err(at, "slide must not be longer than the window");
    }
    let cond_span = r.condition.span();
    let cond_text = r.condition.into_inner();
    let condition = match Expr::parse(&cond_text) {
        Ok(e) => Some(e),
        Err(e) => {
            let start = cond_start(cx.text, cond_span);
            let byte = cond_text
                .char_indices()
                .nth(e.offset)
                .map(|(b, _)| b)
                .unwrap_or(cond_text.len());
            cx.err(start + byte, format!("condition: {}", e.msg));
            None
        }
    };
    let filter = match r.filter {
        Some(f) => compile_filter(cx, f.into_inner()),
        None => Filter::default(),
    };
    if cx.errors.len() > before {
        return None;
    }
    let condition = condition?;
    let reads = condition.metrics();
    let necessary = condition.monotone_part();
    Some(Rule {
        necessary,
        id,
        signature_id,
        description: r.description,
        severity,
        category: r.category,
        group_by,
        filter,
        window_ns,
        slide_ns,
        cooldown_ns,
        condition,
        condition_text: cond_text,
        reads,
        spec: 0,
        line,
    })
}

/// A stable signature id from the rule id: 9,000,000 + a 20-bit hash.
fn default_sid(id: &str) -> u32 {
    9_000_000 + (xxhash_rust::xxh3::xxh3_64(id.as_bytes()) % 1_000_000) as u32
}

/// Byte offset of the condition's first character (after the opening quote(s)).
fn cond_start(text: &str, span: Range<usize>) -> usize {
    let s = &text[span.clone()];
    if s.starts_with("\"\"\"") || s.starts_with("'''") {
        span.start + 3
    } else {
        span.start + 1
    }
}

fn duration(cx: &mut Ctx<'_>, v: &Spanned<Value>) -> Option<u64> {
    match duration_allow_zero(cx, v) {
        Some(0) => {
            cx.err(v.span().start, "a duration must be positive");
            None
        }
        d => d,
    }
}

fn duration_allow_zero(cx: &mut Ctx<'_>, v: &Spanned<Value>) -> Option<u64> {
    let at = v.span().start;
    let parsed = match v.get_ref() {
        Value::Integer(i) if *i >= 0 => Some(*i as u64 * 1_000_000_000),
        Value::String(s) => parse_duration(s),
        _ => None,
    };
    if parsed.is_none() {
        cx.err(at, "a duration is a number of seconds or a string such as \"500ms\", \"10s\", \"5m\", \"1h\"");
    }
    parsed
}

/// `"500ms"`, `"10s"`, `"1.5s"`, `"5m"`, `"1h"`, `"250us"` -> nanoseconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "s" | "" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    let v = n * mult;
    (v.is_finite() && v >= 0.0 && v < 1e19).then_some(v.round() as u64)
}

fn list<'v>(v: &'v Value) -> Vec<&'v Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

fn compile_filter(cx: &mut Ctx<'_>, f: RawFilter) -> Filter {
    let mut out = Filter::default();
    if let Some(p) = f.proto {
        let mut protos = Vec::new();
        for v in list(p.get_ref()) {
            match v {
                Value::String(s) => match s.to_ascii_lowercase().as_str() {
                    "tcp" => protos.push(proto::TCP),
                    "udp" => protos.push(proto::UDP),
                    "icmp" => protos.extend([proto::ICMP, proto::ICMPV6]),
                    "icmp4" => protos.push(proto::ICMP),
                    "icmp6" | "ipv6-icmp" => protos.push(proto::ICMPV6),
                    other => cx.err(p.span().start, format!("unknown protocol \"{other}\" (tcp, udp, icmp, icmp4, icmp6 or a number)")),
                },
                Value::Integer(i) if (0..=255).contains(i) => protos.push(*i as u8),
                _ => cx.err(p.span().start, "proto is a name or protocol number, or a list of them"),
            }
        }
        out.protos = Some(protos);
    }
    for (field, target) in [
        (&f.tcp_flags, &mut out.tcp_flags_set),
        (&f.tcp_flags_not, &mut out.tcp_flags_unset),
    ] {
        if let Some(s) = field {
            match tcp_flags(s.get_ref()) {
                Some(b) => *target = b,
                None => cx.err(
                    s.span().start,
                    "TCP flags are letters from FSRPAUEC (FIN SYN RST PSH ACK URG ECE CWR)",
                ),
            }
        }
    }
    if let Some(t) = f.icmp_type {
        let mut types = Vec::new();
        for v in list(t.get_ref()) {
            match v {
                Value::Integer(i) if (0..=255).contains(i) => types.push(*i as u8),
                Value::String(s) if s == "echo-request" => types.extend([8, 128]),
                _ => cx.err(
                    t.span().start,
                    "icmp_type is a type number 0-255 or \"echo-request\", or a list of them",
                ),
            }
        }
        out.icmp_types = Some(types);
    }
    out.src_ports = f.src_ports.map(|p| ports(cx, &p));
    out.dst_ports = f.dst_ports.map(|p| ports(cx, &p));
    out.src_nets = f.src_cidrs.map(|c| cidrs(cx, &c));
    out.dst_nets = f.dst_cidrs.map(|c| cidrs(cx, &c));
    out
}

fn tcp_flags(s: &str) -> Option<u8> {
    let mut b = 0;
    for c in s.chars() {
        b |= match c.to_ascii_uppercase() {
            'F' => tcp_flag::FIN,
            'S' => tcp_flag::SYN,
            'R' => tcp_flag::RST,
            'P' => tcp_flag::PSH,
            'A' => tcp_flag::ACK,
            'U' => tcp_flag::URG,
            'E' => tcp_flag::ECE,
            'C' => tcp_flag::CWR,
            _ => return None,
        };
    }
    Some(b)
}

fn ports(cx: &mut Ctx<'_>, v: &Spanned<Value>) -> PortSet {
    let mut set = Vec::new();
    for item in list(v.get_ref()) {
        let r = match item {
            Value::Integer(i) if (0..=65535).contains(i) => Some((*i as u16, *i as u16)),
            Value::String(s) => s.split_once('-').and_then(|(a, b)| {
                let (a, b) = (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?);
                (a <= b).then_some((a, b))
            }),
            _ => None,
        };
        match r {
            Some(r) => set.push(r),
            None => cx.err(
                v.span().start,
                "ports are numbers 0-65535 or ranges such as \"6000-6063\"",
            ),
        }
    }
    PortSet(set)
}

fn cidrs(cx: &mut Ctx<'_>, v: &Spanned<Value>) -> Vec<Cidr> {
    let mut out = Vec::new();
    for item in list(v.get_ref()) {
        match item.as_str().and_then(Cidr::parse) {
            Some(c) => out.push(c),
            None => cx.err(v.span().start, format!("not an address or CIDR: {item}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = parse_rules("[[rule]]\nid = \"a\"\nwindow = 1\ncondition = \"syn > 1\"\nfilter = { dst_port = 22 }\n", "f").unwrap_err();
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
}
