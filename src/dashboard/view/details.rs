//! Popups: the help screen and the details of the selected source, alert or rule.
//!
//! In: a [`DashState`] and the area to draw over. Out: a bordered popup, centred and
//! clipped to the screen. Guarantees: every text from outside the program passes through
//! [`escape`] (rule ids, descriptions, conditions, evidence), as in the panels.

use super::*;

/// Rows `text` takes in `width` columns (character wrap; word wrap may take a row more).
pub(super) fn rows_of(text: &Text, width: u16) -> u16 {
    let w = width.max(1) as usize;
    text.lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(w) as u16)
        .sum()
}

/// A bordered pop-up sized to `text` (at most `max_w` wide), centred in `area`.
pub(super) fn draw_popup(
    f: &mut Frame,
    area: Rect,
    title: String,
    text: Text<'static>,
    max_w: u16,
) {
    let w = max_w
        .min(area.width.saturating_sub(4))
        .max(area.width.min(40));
    let h = (rows_of(&text, w.saturating_sub(2)) + 3).min(area.height.saturating_sub(2));
    let r = popup(area, w, h);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(panel_block(title, true)),
        r,
    );
}

pub(super) fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub(super) fn draw_help(f: &mut Frame, area: Rect) {
    let keys = [
        ("q, Ctrl-C", "quit (the replay stops; the summary prints)"),
        (
            "p, Space",
            "pause / resume the view (the pipeline keeps running)",
        ),
        ("s / S", "sort the sources by the next / previous column"),
        ("/", "filter sources and alerts by address or CIDR"),
        ("Esc", "close details; clear the filter"),
        ("Tab / Shift-Tab", "move between sources, alerts and rules"),
        ("↑ ↓ PgUp PgDn", "select a row (also k / j)"),
        ("Home End", "first / last row"),
        ("Enter", "open / close the details of the selected row"),
        ("?", "this help; any key closes it"),
    ];
    let mut lines: Vec<Line> = keys
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>16}  "), Style::new().bold().fg(Color::Cyan)),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "Rates: per second of capture time, in the newest closed batch.",
    ));
    lines.push(Line::raw(
        "Colour: severity of the rules fired; grey: quiet in it (listed last).",
    ));
    draw_popup(f, area, "keys".into(), Text::from(lines), 76);
}

pub(super) fn draw_details(f: &mut Frame, area: Rect, s: &DashState) {
    let (title, text) = match s.focus {
        Panel::Sources => match s.selected_source() {
            Some((addr, v)) => (format!("source {addr}"), source_details(s, addr, v)),
            None => return,
        },
        Panel::Alerts => match s.selected_alert() {
            Some(a) => (
                format!("alert {} on {}", rule_id(s, a.rule), a.key),
                alert_details(s, a),
            ),
            None => return,
        },
        Panel::Rules => match s.selected_rule() {
            Some(i) => (format!("rule {}", rule_id(s, i as u16)), rule_details(s, i)),
            None => return,
        },
    };
    draw_popup(f, area, format!("{title} (Esc closes)"), text, 100);
}

pub(super) fn kv(k: &str, v: String) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{k:<14}"), Style::new().fg(Color::Gray)),
        Span::raw(v),
    ])
}

pub(super) fn source_details(s: &DashState, addr: &Addr, v: &SourceView) -> Text<'static> {
    let batch = fmt_duration(s.snap.batch_ns.max(1));
    let longest = fmt_duration(s.rules.max_window_ns().max(1));
    let mut lines = vec![
        kv(
            "batch",
            format!("ending {} ({batch})", datetime(v.batch_end_ns)),
        ),
        kv(
            "rates",
            format!(
                "{} pkt/s, {} bit/s, {} SYN/s",
                si(v.pps),
                si(v.bps),
                si(v.syn_per_s)
            ),
        ),
        kv(
            "distinct",
            format!(
                "{} destination ports, {} destination hosts in the last {longest}",
                v.distinct_ports, v.distinct_hosts
            ),
        ),
    ];
    let fired: Vec<String> = v.rules_fired.iter().map(|r| rule_id(s, *r)).collect();
    lines.push(kv(
        "rules fired",
        if fired.is_empty() {
            "none".into()
        } else {
            fired.join(", ")
        },
    ));
    lines.push(Line::raw(""));
    let evidence: Vec<&Alert> = s
        .alerts_on(addr)
        .into_iter()
        .filter(|a| a.group_by == GroupBy::Src)
        .collect();
    lines.push(Line::from(
        format!(
            "alerts on {addr} as a source ({}), newest first:",
            evidence.len()
        )
        .bold(),
    ));
    for a in evidence {
        let r = s.rules.rules.get(a.rule as usize);
        lines.push(Line::from(vec![
            Span::raw(format!("  {}  ", hms(a.window_end_ns))),
            Span::styled(
                format!("{:<12}", rule_id(s, a.rule)),
                severity_style(rule_severity(s, a.rule)),
            ),
            Span::raw(format!(
                " {} in {}",
                metrics_text(a),
                r.map_or_else(String::new, |r| fmt_duration(r.window_ns))
            )),
        ]));
    }
    Text::from(lines)
}

/// The head of a rule's or an alert's details: the rule's id (in its severity's colour),
/// sid, severity and category; its description; a blank line.
pub(super) fn rule_heading(r: &Rule) -> Vec<Line<'static>> {
    vec![
        Line::from(vec![
            Span::styled(escape(&r.id).into_owned(), severity_style(r.severity)),
            Span::raw(format!(
                "  sid {}  severity {}  {}",
                r.signature_id,
                r.severity,
                escape(&r.category)
            )),
        ]),
        Line::raw(escape(&r.description).into_owned()),
        Line::raw(""),
    ]
}

pub(super) fn alert_details(s: &DashState, a: &Alert) -> Text<'static> {
    let Some(r) = s.rules.rules.get(a.rule as usize) else {
        return Text::raw(format!("rule #{} is not in the rule set", a.rule));
    };
    let mut lines = rule_heading(r);
    lines.extend([
        kv(&format!("key ({})", a.group_by.name()), a.key.to_string()),
        kv(
            "peer",
            a.peer.map_or_else(|| "several".into(), |p| p.to_string()),
        ),
        kv(
            "protocol",
            a.proto
                .map_or_else(|| "several".into(), |p| proto_name(p).to_string()),
        ),
        kv(
            "window",
            format!(
                "{} .. {} ({}, slides every {})",
                datetime(a.window_start_ns),
                hms(a.window_end_ns),
                fmt_duration(r.window_ns),
                fmt_duration(r.slide_ns)
            ),
        ),
        kv(
            "packets",
            format!("first {}, last {}", datetime(a.first_ns), hms(a.last_ns)),
        ),
        kv("condition", escape(&r.condition_text).into_owned()),
        kv("crossed", metrics_text(a)),
    ]);
    if let Ok(eve) = serde_json::from_str::<serde_json::Value>(&a.to_json(&s.rules)) {
        lines.extend(evidence_lines(&eve));
    }
    lines.push(kv("alert id", a.id(&s.rules)));
    let others = s.alerts_on(&a.key).len().saturating_sub(1);
    if others > 0 {
        lines.push(Line::raw(""));
        lines.push(Line::raw(format!(
            "{others} other alert(s) on {} in the list: the source's details show them.",
            a.key
        )));
    }
    Text::from(lines)
}

/// The evidence of an alert (its window's top destination ports and peers), read from its
/// EVE JSON (`alert.context.evidence.top_dst_ports`, `top_dst_hosts`, `top_src_hosts`, `sketched`), so the
/// view follows the alert format rather than the alert's fields. Nothing when absent.
pub(super) fn evidence_lines(eve: &serde_json::Value) -> Vec<Line<'static>> {
    let ev = &eve["alert"]["context"]["evidence"];
    let list = |key: &str, name: &str| -> Option<String> {
        let items: Vec<String> = ev[key]
            .as_array()?
            .iter()
            .map(|x| {
                let what = match &x[name] {
                    serde_json::Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                match x["packets"].as_f64() {
                    Some(n) => format!("{} ({})", escape(&what), si(n)),
                    None => escape(&what).into_owned(),
                }
            })
            .collect();
        (!items.is_empty()).then(|| items.join(", "))
    };
    let mut lines = Vec::new();
    for (key, name, label) in [
        ("top_dst_ports", "port", "top dst ports"),
        ("top_dst_hosts", "address", "top dst hosts"),
        ("top_src_hosts", "address", "top sources"),
    ] {
        if let Some(t) = list(key, name) {
            lines.push(kv(label, t));
        }
    }
    if ev["sketched"].as_bool() == Some(true) {
        lines.push(kv(
            "",
            "(distinct sets became sketches: counts are estimates)".into(),
        ));
    }
    lines
}

pub(super) fn rule_details(s: &DashState, i: usize) -> Text<'static> {
    let r = &s.rules.rules[i];
    let mut lines = rule_heading(r);
    lines.extend([
        kv("group by", r.group_by.name().into()),
        kv(
            "window",
            format!(
                "{}, slides every {}, cooldown {}",
                fmt_duration(r.window_ns),
                fmt_duration(r.slide_ns),
                fmt_duration(r.cooldown_ns)
            ),
        ),
        kv("condition", escape(&r.condition_text).into_owned()),
        kv("hits", s.hits(i).to_string()),
        kv(
            "defined at",
            format!("{}:{}", escape(&s.rules.source), r.line),
        ),
    ]);
    Text::from(lines)
}
