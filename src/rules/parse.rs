//! Rule file parsing: TOML text -> raw structs (serde, with spans) -> checked [`RuleSet`].
//!
//! In: the text of a rule file and its name. Out: a compiled [`RuleSet`], or every error
//! found, each with file, line and column. Guarantees: unknown keys are errors (a typo never
//! silently disables a filter); all rules are checked, not just up to the first error;
//! allow-lists become negative filter terms, host groups become per-rule variants.
//!
//! File layout (see README.md and rules/README.md):
//! ```toml
//! [allow]                      # optional: packets from / to / either never count
//! src = ["10.0.0.53/32"]
//! dst = []
//! any = []
//! [groups.scanners]            # optional: named host groups
//! cidrs = ["10.9.0.0/24"]
//! [[rule]]
//! id = "port_scan"
//! ...
//! allow = { src = ["10.1.1.1"] }              # this rule only
//! baseline = { alpha = 0.1, warmup = 10 }     # for zscore()
//! [rule.overrides.scanners]                   # variant for keys in the group
//! condition = "distinct_dst_ports >= 5000"
//! cooldown = "1h"
//! enabled = true
//! ```

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::Deserialize;

use crate::record::event;
use toml::{Spanned, Value};

use super::{Baseline, Cidr, Expr, Filter, GroupBy, Override, PortSet, Rule, RuleSet, Spec};
use crate::metrics::{DistinctKind, Metric};
use crate::record::{frag, proto, tcp_flag};

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
    allow: Option<Spanned<RawAllow>>,
    #[serde(default)]
    groups: BTreeMap<String, Spanned<RawGroup>>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    src: Option<Spanned<Value>>,
    dst: Option<Spanned<Value>>,
    any: Option<Spanned<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    cidrs: Spanned<Value>,
    /// Free text for the reader of the file.
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
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
    allow: Option<Spanned<RawAllow>>,
    baseline: Option<Spanned<RawBaseline>>,
    #[serde(default)]
    overrides: BTreeMap<String, Spanned<RawOverride>>,
    yield_to: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    proto: Option<Spanned<Value>>,
    tcp_flags: Option<Spanned<String>>,
    tcp_flags_not: Option<Spanned<String>>,
    icmp_type: Option<Spanned<Value>>,
    outcome: Option<Spanned<Value>>,
    fragment: Option<Spanned<Value>>,
    dsize: Option<Spanned<Value>>,
    src_ports: Option<Spanned<Value>>,
    dst_ports: Option<Spanned<Value>>,
    src_cidrs: Option<Spanned<Value>>,
    dst_cidrs: Option<Spanned<Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBaseline {
    alpha: Option<Spanned<f64>>,
    warmup: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    condition: Option<Spanned<String>>,
    cooldown: Option<Spanned<Value>>,
    enabled: Option<bool>,
}

struct Ctx<'a> {
    text: &'a str,
    lines: LineIndex,
    file: &'a str,
    errors: Vec<RuleError>,
    groups: HashMap<String, Vec<Cidr>>,
    allow: Allow,
}

/// Compiled allow-lists.
#[derive(Clone, Default)]
struct Allow {
    src: Vec<Cidr>,
    dst: Vec<Cidr>,
}

impl Ctx<'_> {
    fn err(&mut self, at: usize, msg: impl Into<String>) {
        let (line, column) = self.lines.line_col(self.text, at);
        self.errors.push(RuleError {
            file: self.file.to_string(),
            line,
            column,
            message: msg.into(),
        });
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
#[cfg(test)]
fn line_col(text: &str, at: usize) -> (usize, usize) {
    LineIndex::new(text).line_col(text, at)
}

/// Where each line of a text starts, so finding a position's line is a binary search, not a
/// scan from the top (a file of 20,000 rules, each error and rule placed by a scan, took
/// 20 s).
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line_col(&self, text: &str, at: usize) -> (usize, usize) {
        let mut at = at.min(text.len());
        while at > 0 && !text.is_char_boundary(at) {
            at -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= at);
        let start = self.starts[line - 1];
        (line, text[start..at].chars().count() + 1)
    }
}

/// Parse and compile a rule file; `file` names it in errors.
pub fn parse_rules(text: &str, file: &str) -> Result<RuleSet, Vec<RuleError>> {
    let mut cx = Ctx {
        text,
        lines: LineIndex::new(text),
        file,
        errors: Vec::new(),
        groups: HashMap::new(),
        allow: Allow::default(),
    };
    let raw: RawFile = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            cx.err(at, e.message().trim().to_string());
            return Err(cx.errors);
        }
    };
    for (name, g) in &raw.groups {
        let nets = cidrs(&mut cx, &g.get_ref().cidrs);
        if nets.is_empty() {
            cx.err(g.span().start, format!("host group `{name}` has no cidrs"));
        }
        cx.groups.insert(name.clone(), nets);
    }
    if let Some(a) = &raw.allow {
        cx.allow = allow(&mut cx, a.get_ref());
    }
    if raw.rule.is_empty() {
        cx.err(0, "no rules: add at least one `[[rule]]` table");
    }
    let mut rules: Vec<Rule> = Vec::new();
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    let mut seen_sids: HashMap<u32, String> = HashMap::new();
    let mut defaulted: Vec<usize> = Vec::new();
    let mut yields: Vec<(usize, usize, Vec<String>)> = Vec::new();
    for spanned in raw.rule {
        let span = spanned.span();
        let mut r = spanned.into_inner();
        if r.enabled == Some(false) {
            continue;
        }
        let line = cx.lines.line_col(text, span.start).0;
        let y = r.yield_to.take();
        let explicit_sid = r.sid.is_some();
        if let Some(rule) = compile_rule(&mut cx, r, line) {
            if let Some(y) = y {
                yields.push((rules.len(), y.span().start, y.into_inner()));
            }
            if let Some(prev) = seen_ids.insert(rule.id.clone(), line) {
                cx.err(
                    span.start,
                    format!("duplicate rule id `{}` (first at line {prev})", rule.id),
                );
            }
            if !explicit_sid {
                defaulted.push(rules.len());
            } else if let Some(other) = seen_sids.insert(rule.signature_id, rule.id.clone()) {
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
    // Default sids come from a hash of the id: on a collision (with a written sid or an
    // earlier default) take the next free one, so they never clash by accident.
    for i in defaulted {
        let mut sid = rules[i].signature_id;
        while seen_sids.contains_key(&sid) {
            sid = next_default_sid(sid);
        }
        seen_sids.insert(sid, rules[i].id.clone());
        rules[i].signature_id = sid;
    }
    resolve_yields(&mut cx, &mut rules, yields);
    if !cx.errors.is_empty() {
        cx.errors.sort_by_key(|e| (e.line, e.column));
        return Err(cx.errors);
    }
    let specs = build_specs(&mut rules, &[]);
    Ok(RuleSet {
        source: file.to_string(),
        rules,
        specs,
    })
}

/// `yield_to = [ids]`: rule `i` is held back for a key while one of those rules' cooldown
/// runs for the same key (it fired recently), so one activity gets one family; its own
/// cooldown then runs as if it had fired. They must group the same way (same stage, same
/// key) and have a cooldown.
fn resolve_yields(cx: &mut Ctx<'_>, rules: &mut [Rule], yields: Vec<(usize, usize, Vec<String>)>) {
    let yielding: Vec<usize> = yields.iter().map(|y| y.0).collect();
    for (i, at, names) in yields {
        for name in names {
            match rules.iter().position(|r| r.id == name) {
                Some(j) if j == i => cx.err(at, format!("`{name}` cannot yield to itself")),
                Some(j) if rules[j].group_by != rules[i].group_by => cx.err(
                    at,
                    format!(
                        "yield_to `{name}`: it groups by another key than `{}`",
                        rules[i].id
                    ),
                ),
                Some(j) if rules[j].cooldown_ns == 0 => cx.err(
                    at,
                    format!(
                        "yield_to `{name}`: it has no cooldown, so it never holds anything back"
                    ),
                ),
                Some(j) if yielding.contains(&j) => cx.err(
                    at,
                    format!("yield_to `{name}`: a rule that yields cannot be yielded to"),
                ),
                Some(j) => rules[i].yields_to.push(j),
                None => cx.err(at, format!("yield_to: no rule `{name}` in this file")),
            }
        }
    }
}

/// Rules with the same filter and grouping share a spec, unless their `origin` differs
/// (a reload keeps the state of rules it keeps apart from that of new ones: `origin[i]` is
/// the old spec of rule `i`, `None` for a new rule; empty: all `None`).
pub(super) fn build_specs(rules: &mut [Rule], origin: &[Option<usize>]) -> Vec<Spec> {
    let mut specs: Vec<Spec> = Vec::new();
    let mut spec_origin: Vec<Option<usize>> = Vec::new();
    for (i, r) in rules.iter_mut().enumerate() {
        let from = origin.get(i).copied().flatten();
        let idx = match specs
            .iter()
            .zip(&spec_origin)
            .position(|(s, o)| s.filter == r.filter && s.group_by == r.group_by && *o == from)
        {
            Some(ix) => ix,
            None => {
                specs.push(Spec {
                    filter: r.filter.clone(),
                    group_by: r.group_by,
                    distinct: [false; DistinctKind::COUNT],
                    rules: Vec::new(),
                });
                spec_origin.push(from);
                specs.len() - 1
            }
        };
        let reads = r
            .reads
            .iter()
            .chain(r.overrides.iter().flat_map(|o| o.reads.iter()));
        for m in reads {
            if let Some(k) = m.distinct_kind() {
                specs[idx].distinct[k as usize] = true;
            }
        }
        specs[idx].rules.push(i);
        r.spec = idx;
    }
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
        Some(("all", _)) => GroupBy::All,
        Some(("pair", _)) => GroupBy::Pair,
        Some(("flow", _)) => GroupBy::Flow,
        Some((other, sp)) => {
            cx.err(
                sp.start,
                format!(
                    "group_by must be \"src\", \"dst\", \"all\", \"pair\" (source and \
                     destination address) or \"flow\" (5-tuple), not \"{other}\""
                ),
            );
            GroupBy::Src
        }
    };
    let window_ns = duration(cx, &r.window).unwrap_or(1);
    if window_ns > MAX_WINDOW_NS {
        cx.err(
            r.window.span().start,
            "a window is at most 1h (every key keeps one pane per batch of its longest window)",
        );
    }
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
    let (condition, cond_text) = parse_condition(cx, r.condition);
    let filter_at = r.filter.as_ref().map_or(0, |f| f.span().start);
    let mut filter = match r.filter {
        Some(f) => compile_filter(cx, f.into_inner()),
        None => Filter::default(),
    };
    let mut allowed = cx.allow.clone();
    if let Some(a) = &r.allow {
        let own = allow(cx, a.get_ref());
        allowed.src.extend(own.src);
        allowed.dst.extend(own.dst);
    }
    if !allowed.src.is_empty() {
        filter
            .src_nets_not
            .get_or_insert_with(Vec::new)
            .extend(allowed.src);
    }
    if !allowed.dst.is_empty() {
        filter
            .dst_nets_not
            .get_or_insert_with(Vec::new)
            .extend(allowed.dst);
    }
    let baseline = match &r.baseline {
        None => Baseline::default(),
        Some(b) => {
            let mut out = Baseline::default();
            if let Some(a) = &b.get_ref().alpha {
                if *a.get_ref() > 0.0 && *a.get_ref() <= 1.0 {
                    out.alpha = *a.get_ref();
                } else {
                    cx.err(a.span().start, "baseline alpha must be in (0, 1]");
                }
            }
            if let Some(w) = &b.get_ref().warmup {
                match u32::try_from(*w.get_ref()) {
                    Ok(v) => out.warmup = v,
                    Err(_) => cx.err(
                        w.span().start,
                        "baseline warmup is a number of windows (0 or more)",
                    ),
                }
            }
            out
        }
    };
    let mut overrides = Vec::new();
    for (name, o) in r.overrides {
        let at = o.span().start;
        let o = o.into_inner();
        let Some(nets) = cx.groups.get(&name).cloned() else {
            let known: Vec<&String> = cx.groups.keys().collect();
            cx.err(at, format!("override for unknown host group `{name}` (defined: {known:?}; add [groups.{name}])"));
            continue;
        };
        let (cond, text) = match o.condition {
            Some(c) => parse_condition(cx, c),
            None => (condition_clone(&condition), cond_text.clone()),
        };
        let cooldown = match &o.cooldown {
            Some(c) => duration_allow_zero(cx, c).unwrap_or(0),
            None => cooldown_ns,
        };
        if let Some(c) = cond {
            overrides.push(Override {
                group: name,
                nets,
                enabled: o.enabled.unwrap_or(true),
                reads: c.metrics(),
                necessary: c.monotone_part(),
                condition: c,
                condition_text: text,
                cooldown_ns: cooldown,
            });
        }
    }
    if cx.errors.len() > before {
        return None;
    }
    let condition = condition?;
    let reads = condition.metrics();
    let necessary = condition.monotone_part();
    let zscores = condition.zscores();
    // Whether the condition or an override's reads a metric `pick` accepts.
    let any_read = |pick: fn(&Metric) -> bool| {
        reads
            .iter()
            .chain(overrides.iter().flat_map(|o| o.reads.iter()))
            .any(pick)
    };
    let reads_outcomes = any_read(|m| m.from_conversations());
    if filter.outcomes.is_none() && !reads_outcomes {
        // A rule that reads no outcome sees packets only: its packet counts and distinct
        // sets are not mixed with the conversation stage's records.
        filter.outcomes = Some(1 << event::PACKET);
    }
    if filter.dsize.is_some() && filter.outcomes != Some(1 << event::PACKET) {
        // Outcome records carry no payload length.
        cx.err(
            filter_at,
            "dsize filters packets; a rule that reads connection outcomes cannot use it",
        );
        return None;
    }
    if matches!(group_by, GroupBy::Pair | GroupBy::Flow) {
        // Pair and flow keys live in the source's shard; an unsolicited response is known
        // in its receiver's, so such a rule would count none.
        let wants = filter
            .outcomes
            .is_some_and(|m| m & (1 << event::UNSOLICITED) != 0);
        let reads_unsolicited = any_read(|m| *m == Metric::Unsolicited);
        if wants || reads_unsolicited {
            let at = r.group_by.as_ref().map_or(0, |g| g.span().start);
            cx.err(
                at,
                "unsolicited responses are counted at their receiver: group_by \"pair\" and \
                 \"flow\" cannot read them (use group_by = \"dst\")",
            );
            return None;
        }
    }
    Some(Rule {
        necessary,
        zscores,
        baseline,
        overrides,
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
        yields_to: Vec::new(),
    })
}

fn condition_clone(c: &Option<Expr>) -> Option<Expr> {
    c.clone()
}

/// Parse a condition; an error points at its character in the file.
fn parse_condition(cx: &mut Ctx<'_>, c: Spanned<String>) -> (Option<Expr>, String) {
    let span = c.span();
    let text = c.into_inner();
    match Expr::parse(&text) {
        Ok(e) => (Some(e), text),
        Err(e) => {
            let start = cond_start(cx.text, span);
            let byte = text
                .char_indices()
                .nth(e.offset)
                .map(|(b, _)| b)
                .unwrap_or(text.len());
            cx.err(start + byte, format!("condition: {}", e.msg));
            (None, text)
        }
    }
}

fn allow(cx: &mut Ctx<'_>, a: &RawAllow) -> Allow {
    let mut out = Allow::default();
    if let Some(v) = &a.src {
        out.src.extend(cidrs(cx, v));
    }
    if let Some(v) = &a.dst {
        out.dst.extend(cidrs(cx, v));
    }
    if let Some(v) = &a.any {
        let both = cidrs(cx, v);
        out.src.extend(both.iter().copied());
        out.dst.extend(both);
    }
    out
}

/// A stable signature id from the rule id: 9,000,000 + a hash mod 1,000,000 (moved on by
/// [`next_default_sid`] when another rule of the file holds it).
fn default_sid(id: &str) -> u32 {
    9_000_000 + (xxhash_rust::xxh3::xxh3_64(id.as_bytes()) % 1_000_000) as u32
}

/// The default sid after `sid`, wrapping within 9,000,000..10,000,000.
fn next_default_sid(sid: u32) -> u32 {
    9_000_000 + (sid.wrapping_sub(9_000_000).wrapping_add(1)) % 1_000_000
}

/// Byte offset of the condition's first character (after the opening quote(s)).
fn cond_start(text: &str, span: Range<usize>) -> usize {
    let s = text.get(span.clone()).unwrap_or("");
    if s.starts_with("\"\"\"") || s.starts_with("'''") {
        span.start + 3
    } else {
        span.start + 1
    }
}

/// The longest rule window: time and memory per key grow with it.
pub const MAX_WINDOW_NS: u64 = 3600 * 1_000_000_000;

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
        Value::Integer(i) if *i >= 0 => (*i as u64).checked_mul(1_000_000_000),
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
    (0.0..1e19).contains(&v).then_some(v.round() as u64)
}

fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

/// A list means "in"; a table `{ in = [...] }` or `{ not_in = [...] }` says which.
fn in_not_in<'v>(
    cx: &mut Ctx<'_>,
    v: &'v Spanned<Value>,
) -> (Option<Vec<&'v Value>>, Option<Vec<&'v Value>>) {
    match v.get_ref() {
        Value::Table(t) => {
            for k in t.keys() {
                if k != "in" && k != "not_in" {
                    cx.err(
                        v.span().start,
                        format!("unknown key `{k}`: a list, or a table with `in` and/or `not_in`"),
                    );
                }
            }
            (t.get("in").map(list), t.get("not_in").map(list))
        }
        other => (Some(list(other)), None),
    }
}

/// A name or a list of names from `names`, as the union of their bits; an unknown one is
/// an error at `v` listing the names.
fn named_mask(cx: &mut Ctx<'_>, v: &Spanned<Value>, field: &str, names: &[(&str, u8)]) -> u8 {
    let mut mask = 0u8;
    for item in list(v.get_ref()) {
        let bits = match item {
            Value::String(s) => names.iter().find(|(n, _)| n == s).map_or(0, |(_, b)| *b),
            _ => 0,
        };
        if bits == 0 {
            let all: Vec<String> = names.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            cx.err(
                v.span().start,
                format!("{field} is {}, or a list of them", all.join(", ")),
            );
        }
        mask |= bits;
    }
    mask
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
                    other => cx.err(
                        p.span().start,
                        format!("unknown protocol \"{other}\" (tcp, udp, icmp, icmp4, icmp6 or a number)"),
                    ),
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
    if let Some(o) = f.outcome {
        let names: &[(&str, u8)] = &[
            ("answered", 1 << event::ANSWERED),
            ("rejected", 1 << event::REJECTED),
            ("unanswered", 1 << event::UNANSWERED),
            ("failed", 1 << event::REJECTED | 1 << event::UNANSWERED),
            ("unsolicited", 1 << event::UNSOLICITED),
        ];
        out.outcomes = Some(named_mask(cx, &o, "outcome", names));
    }
    if let Some(o) = f.fragment {
        let names: &[(&str, u8)] = &[
            ("none", 1 << frag::NONE),
            ("first", 1 << frag::FIRST),
            ("later", 1 << frag::LATER),
            ("any", 1 << frag::FIRST | 1 << frag::LATER),
        ];
        out.fragments = Some(named_mask(cx, &o, "fragment", names));
    }
    if let Some(d) = &f.dsize {
        let text = match d.get_ref() {
            Value::Integer(i) => Some(i.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        match text.as_deref().and_then(dsize) {
            Some(r) => out.dsize = Some(r),
            None => cx.err(
                d.span().start,
                "dsize is a payload length in bytes as Suricata writes it: \"N\", \"<N\", \
                 \">N\", \"<=N\", \">=N\" or \"A<>B\" (between, exclusive), N up to 65535",
            ),
        }
    }
    if let Some(p) = &f.src_ports {
        let (i, n) = in_not_in(cx, p);
        out.src_ports = i.map(|v| ports(cx, p, &v));
        out.src_ports_not = n.map(|v| ports(cx, p, &v));
    }
    if let Some(p) = &f.dst_ports {
        let (i, n) = in_not_in(cx, p);
        out.dst_ports = i.map(|v| ports(cx, p, &v));
        out.dst_ports_not = n.map(|v| ports(cx, p, &v));
    }
    if let Some(c) = &f.src_cidrs {
        let (i, n) = in_not_in(cx, c);
        out.src_nets = i.map(|v| cidr_list(cx, c, &v));
        out.src_nets_not = n.map(|v| cidr_list(cx, c, &v));
    }
    if let Some(c) = &f.dst_cidrs {
        let (i, n) = in_not_in(cx, c);
        out.dst_nets = i.map(|v| cidr_list(cx, c, &v));
        out.dst_nets_not = n.map(|v| cidr_list(cx, c, &v));
    }
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

fn ports(cx: &mut Ctx<'_>, at: &Spanned<Value>, items: &[&Value]) -> PortSet {
    let mut set = Vec::new();
    for item in items {
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
                at.span().start,
                format!("not a port or range: {item} (use 22 or \"6000-6063\")"),
            ),
        }
    }
    PortSet(set)
}

fn cidrs(cx: &mut Ctx<'_>, v: &Spanned<Value>) -> Vec<Cidr> {
    let items = list(v.get_ref());
    cidr_list(cx, v, &items)
}

fn cidr_list(cx: &mut Ctx<'_>, at: &Spanned<Value>, items: &[&Value]) -> Vec<Cidr> {
    let mut out = Vec::new();
    for item in items {
        match item.as_str().and_then(Cidr::parse) {
            Some(c) => out.push(c),
            None => cx.err(at.span().start, format!("not an address or CIDR: {item}")),
        }
    }
    out
}

#[cfg(test)]
mod tests;

/// Suricata's `dsize` forms, as an inclusive range: `N`, `<N`, `>N`, `<=N`, `>=N`, `A<>B`
/// (strictly between). `None` for anything else or an empty range.
fn dsize(s: &str) -> Option<(u16, u16)> {
    let s = s.trim();
    let n = |x: &str| x.trim().parse::<u16>().ok();
    let (lo, hi) = if let Some((a, b)) = s.split_once("<>") {
        (n(a)?.checked_add(1)?, n(b)?.checked_sub(1)?)
    } else if let Some(x) = s.strip_prefix("<=") {
        (0, n(x)?)
    } else if let Some(x) = s.strip_prefix(">=") {
        (n(x)?, u16::MAX)
    } else if let Some(x) = s.strip_prefix('<') {
        (0, n(x)?.checked_sub(1)?)
    } else if let Some(x) = s.strip_prefix('>') {
        (n(x)?.checked_add(1)?, u16::MAX)
    } else {
        let v = n(s)?;
        (v, v)
    };
    (lo <= hi).then_some((lo, hi))
}
