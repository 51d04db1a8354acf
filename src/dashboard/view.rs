//! View: draw a [`DashState`] into a ratatui frame.
//!
//! In: a state (plain data). Out: cells of any backend; the terminal layer passes a
//! crossterm backend, the tests a `TestBackend` whose text is compared with snapshots.
//! Guarantees: drawing reads the state only (no clock, no telemetry), so a state always
//! draws the same screen; every text from outside the program (rule ids, descriptions,
//! conditions, categories, the filter as typed) passes through [`escape`]; the layout
//! works from 80x24 up, dropping table columns (in a fixed order of importance) and
//! shrinking the charts when space runs out.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Clear, Paragraph, Row, Sparkline, Table, Wrap};
use ratatui::Frame;

use super::escape;
use super::state::{DashState, Panel, SortColumn};
use crate::alert::Alert;
use crate::metrics::Metric;
use crate::record::{proto_name, Addr};
use crate::rules::{fmt_duration, GroupBy, Rule};
use crate::telemetry::SourceView;

mod cells;
mod details;
use cells::{
    datetime, draw_panel, elapsed, first_metric, fit_columns, hms, kept_widths, metrics_text,
    panel_block, rule_id, rule_id_width, rule_severity, severity_style, si, visible_rows,
};
use details::{draw_details, draw_help};

/// Draw the whole dashboard.
pub fn render(f: &mut Frame, s: &DashState) {
    let area = f.area();
    let (top_h, bottom_h) = if area.height >= 34 {
        (
            7,
            (s.rules.rules.len().max(s.snap.shards.len()) as u16 + 3).clamp(5, 10),
        )
    } else if area.height >= 28 {
        (5, 6)
    } else {
        (4, 5)
    };
    let [header, top, middle, bottom, footer] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(top_h),
        Constraint::Min(4),
        Constraint::Length(bottom_h),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, header, s);
    let [spark, mix] = Layout::horizontal([Constraint::Min(20), Constraint::Length(34)]).areas(top);
    draw_throughput(f, spark, s);
    draw_protocols(f, mix, s);
    // The sources table gets the width all its columns need when the alerts keep 50.
    let src_w = sources_width(s);
    let split = if middle.width >= src_w + 50 {
        Constraint::Length(src_w)
    } else {
        Constraint::Percentage(55)
    };
    let [sources, alerts] = Layout::horizontal([split, Constraint::Min(0)]).areas(middle);
    draw_sources(f, sources, s);
    draw_alerts(f, alerts, s);
    let [shards, rules] =
        Layout::horizontal([Constraint::Percentage(35), Constraint::Percentage(65)]).areas(bottom);
    draw_shards(f, shards, s);
    draw_rules(f, rules, s);
    draw_footer(f, footer, s);
    if area.width < 60 || area.height < 16 {
        f.render_widget(Clear, area);
        f.render_widget(
            Paragraph::new(format!(
                "The dashboard needs 80x24 (this terminal is {}x{}); q quits.",
                area.width, area.height
            ))
            .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    if s.details {
        draw_details(f, area, s);
    }
    if s.help {
        draw_help(f, area);
    }
}

// ---------------------------------------------------------------------------------------
// Panels

fn draw_header(f: &mut Frame, area: Rect, s: &DashState) {
    let snap = &s.snap;
    let status = if s.paused {
        Span::styled(" PAUSED ", Style::new().black().on_yellow().bold())
    } else if snap.finished {
        Span::styled(
            " FINISHED: q quits ",
            Style::new().black().on_green().bold(),
        )
    } else {
        Span::styled(" RUNNING ", Style::new().black().on_cyan().bold())
    };
    let title = Line::from(vec![
        Span::styled(" flowsentry ", Style::new().bold().reversed()),
        Span::raw(" "),
        status,
        Span::raw(format!(
            " {} {}  ·  alerts: {}",
            escape(&s.opts.mode),
            escape(&s.opts.input),
            escape(&s.opts.alerts_to)
        )),
    ]);
    let (pps, bps) = snap.rate_now();
    let mut rates = Line::from(vec![
        Span::raw("capture "),
        Span::raw(datetime(snap.capture_ns)).bold(),
        Span::raw("  elapsed "),
        Span::raw(elapsed(snap.elapsed)).bold(),
        Span::raw("  now "),
        Span::raw(format!("{} pkt/s {} bit/s", si(pps), si(bps))).bold(),
    ]);
    let processing = Span::raw(format!("  processing {} pkt/s", si(snap.processed_pps)));
    if rates.width() + processing.width() <= area.width as usize {
        rates.push_span(processing);
    }
    let warn = |n: u64| {
        if n > 0 {
            Style::new().fg(Color::Yellow).bold()
        } else {
            Style::new()
        }
    };
    let totals = Line::from(vec![
        Span::raw("total "),
        Span::raw(format!(
            "{} pkts {}B",
            si(snap.packets as f64),
            si(snap.bytes as f64)
        ))
        .bold(),
        Span::raw("  alerts "),
        Span::styled(snap.alerts_total.to_string(), warn(snap.alerts_total)),
        Span::raw("  decode err "),
        Span::styled(snap.decode_errors.to_string(), warn(snap.decode_errors)),
        Span::raw("  late "),
        Span::styled(snap.late.to_string(), warn(snap.late)),
        Span::raw("  drops: queue "),
        Span::styled(snap.queue_drops.to_string(), warn(snap.queue_drops)),
        Span::raw(" kernel "),
        Span::styled(snap.kernel_drops.to_string(), warn(snap.kernel_drops)),
    ]);
    f.render_widget(Paragraph::new(vec![title, rates, totals]), area);
}

fn draw_throughput(f: &mut Frame, area: Rect, s: &DashState) {
    let inner_w = area.width.saturating_sub(2) as usize;
    let pts = &s.snap.batches;
    let shown = &pts[pts.len().saturating_sub(inner_w)..];
    let data: Vec<u64> = shown.iter().map(|b| b.packets).collect();
    let peak = data.iter().copied().max().unwrap_or(0);
    let per = if s.snap.batch_ns > 0 {
        fmt_duration(s.snap.batch_ns)
    } else {
        "batch".into()
    };
    let title = format!(
        "packets per {per}, last {}, peak {}",
        shown.len(),
        si(peak as f64)
    );
    f.render_widget(
        Sparkline::default()
            .block(panel_block(title, false))
            .data(&data)
            .style(Style::new().fg(Color::Green)),
        area,
    );
}

fn draw_protocols(f: &mut Frame, area: Rect, s: &DashState) {
    let mix = s.snap.protocol_mix();
    let total: u64 = mix.iter().sum();
    let names = ["TCP", "UDP", "ICMP", "other"];
    let colors = [Color::Blue, Color::Magenta, Color::Yellow, Color::Gray];
    let inner = draw_panel(
        f,
        area,
        format!("protocols, last {} batches", s.snap.batches.len()),
        false,
    );
    let pct = |n: u64| {
        if total == 0 {
            0.0
        } else {
            n as f64 * 100.0 / total as f64
        }
    };
    let lines: Vec<Line> = if inner.height >= 4 {
        let bar_w = inner.width.saturating_sub(13) as f64;
        (0..4)
            .map(|i| {
                let w = (pct(mix[i]) / 100.0 * bar_w).round() as usize;
                Line::from(vec![
                    Span::raw(format!("{:<5} {:>5.1}% ", names[i], pct(mix[i]))),
                    Span::styled("█".repeat(w), Style::new().fg(colors[i])),
                ])
            })
            .collect()
    } else {
        // One stacked bar and a legend.
        let w = inner.width as f64;
        let mut bar = Vec::new();
        for i in 0..4 {
            let n = (pct(mix[i]) / 100.0 * w).round() as usize;
            bar.push(Span::styled("█".repeat(n), Style::new().fg(colors[i])));
        }
        let legend: Vec<Span> = (0..4)
            .filter(|&i| mix[i] > 0 || i < 2)
            .map(|i| {
                Span::styled(
                    format!("{} {:.0}% ", names[i], pct(mix[i])),
                    Style::new().fg(colors[i]),
                )
            })
            .collect();
        vec![Line::from(legend), Line::from(bar)]
    };
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_sources(f: &mut Frame, area: Rect, s: &DashState) {
    let list = s.sources();
    let focused = s.focus == Panel::Sources;
    let arrow = if s.sort == SortColumn::Address {
        "▲"
    } else {
        "▼"
    };
    let mut title = format!(
        "top sources ({}), sort {} {arrow}",
        list.len(),
        s.sort.title()
    );
    if let Some((t, _)) = &s.filter {
        title.push_str(&format!(", filter {}", escape(t)));
    }
    let inner = draw_panel(f, area, title, focused);

    let mut cols = source_columns(s, &list);
    cols[0].1 = cols[0].1.min(inner.width.saturating_sub(8));
    let prio: Vec<(u16, u8)> = cols
        .iter()
        .map(|(c, w, p)| (*w, if *c == s.sort { 0 } else { *p }))
        .collect();
    let keep = fit_columns(&prio, inner.width);
    let header = Row::new(keep.iter().map(|&i| {
        let (c, _, _) = cols[i];
        let t = if c == s.sort {
            Span::styled(
                format!("{}{arrow}", c.title()),
                Style::new().bold().underlined(),
            )
        } else {
            Span::raw(c.title())
        };
        Line::from(t).alignment(if i == 0 || i == 6 {
            ratatui::layout::Alignment::Left
        } else {
            ratatui::layout::Alignment::Right
        })
    }))
    .style(Style::new().fg(Color::Gray).bold());
    let newest = s.snap.batches.last().map_or(0, |b| b.end_ns);
    let rows_avail = inner.height.saturating_sub(1) as usize;
    let rows = visible_rows(
        &list,
        s.sources_sel.idx,
        focused,
        rows_avail,
        |_, (addr, v)| {
            let cells = keep.iter().map(|&c| source_cell(s, c, addr, v));
            let mut style = Style::new();
            if v.batch_end_ns < newest {
                style = style.fg(Color::DarkGray); // quiet in the newest batch
            } else if let Some(sev) = v.rules_fired.iter().map(|r| rule_severity(s, *r)).min() {
                style = severity_style(sev);
            }
            (Row::new(cells), style)
        },
    );
    let widths = kept_widths(&cols.map(|c| c.1), &keep);
    f.render_widget(Table::new(rows, widths).header(header), inner);
    if list.is_empty() {
        let msg = if s.filter.is_some() {
            "no source matches the filter"
        } else {
            "no closed batch yet"
        };
        draw_placeholder(f, inner, msg);
    }
}

/// Columns of the sources table in table order: (column, width, priority); lower
/// priorities stay longer when the panel is narrow, and the sort column always stays.
fn source_columns(s: &DashState, list: &[&(Addr, SourceView)]) -> [(SortColumn, u16, u8); 7] {
    let addr_w = list
        .iter()
        .map(|x| x.0.to_string().len())
        .max()
        .unwrap_or(6)
        .clamp(6, 39) as u16;
    let rules_w = list
        .iter()
        .map(|x| {
            x.1.rules_fired
                .iter()
                .map(|r| rule_id(s, *r).chars().count() + 1)
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0)
        .clamp(11, 30) as u16;
    [
        (SortColumn::Address, addr_w, 0),
        (SortColumn::Pps, 6, 1),
        (SortColumn::Bps, 6, 2),
        (SortColumn::SynPerS, 6, 3),
        (SortColumn::Ports, 5, 4),
        (SortColumn::Hosts, 5, 6),
        (SortColumn::Rules, rules_w, 5),
    ]
}

/// Width of the sources panel with every column.
fn sources_width(s: &DashState) -> u16 {
    let list = s.sources();
    let cols = source_columns(s, &list);
    cols.iter().map(|c| c.1).sum::<u16>() + cols.len() as u16 - 1 + 2
}

fn source_cell<'a>(s: &DashState, col: usize, addr: &Addr, v: &SourceView) -> Line<'a> {
    let right = |t: String| Line::from(t).alignment(ratatui::layout::Alignment::Right);
    match col {
        0 => Line::from(addr.to_string()),
        1 => right(si(v.pps)),
        2 => right(si(v.bps)),
        3 => right(si(v.syn_per_s)),
        4 => right(v.distinct_ports.to_string()),
        5 => right(v.distinct_hosts.to_string()),
        _ => Line::from(
            v.rules_fired
                .iter()
                .map(|r| rule_id(s, *r))
                .collect::<Vec<_>>()
                .join(","),
        ),
    }
}

fn draw_placeholder(f: &mut Frame, inner: Rect, msg: &str) {
    if inner.height >= 2 {
        let r = Rect {
            y: inner.y + 1,
            height: 1,
            ..inner
        };
        f.render_widget(
            Paragraph::new(Span::styled(
                msg.to_string(),
                Style::new().fg(Color::DarkGray),
            ))
            .centered(),
            r,
        );
    }
}

fn draw_alerts(f: &mut Frame, area: Rect, s: &DashState) {
    let list = s.alerts();
    let focused = s.focus == Panel::Alerts;
    let mut title = format!("alerts ({}), newest first", s.snap.alerts_total);
    if s.filter.is_some() {
        title.push_str(&format!(", {} match", list.len()));
    }
    let inner = draw_panel(f, area, title, focused);
    let key_w = list
        .iter()
        .map(|a| a.key.to_string().len() + usize::from(a.group_by == GroupBy::Dst))
        .max()
        .unwrap_or(10)
        .clamp(10, 39) as u16;
    let rule_w = rule_id_width(s);
    // time, rule, key, metric
    let cols = [(8u16, 2u8), (rule_w, 0), (key_w, 1), (14, 3)];
    let keep = fit_columns(&cols, inner.width);
    let metric_w = (inner.width as usize + 1).saturating_sub(
        keep.iter()
            .filter(|&&i| i != 3)
            .map(|&i| cols[i].0 as usize + 1)
            .sum(),
    );
    let titles = ["time", "rule", "key", "metric"];
    let header =
        Row::new(keep.iter().map(|&i| titles[i])).style(Style::new().fg(Color::Gray).bold());
    let rows_avail = inner.height.saturating_sub(1) as usize;
    let rows = visible_rows(&list, s.alerts_sel.idx, focused, rows_avail, |_, a| {
        let cells = keep.iter().map(|&c| match c {
            0 => hms(a.window_end_ns),
            1 => rule_id(s, a.rule),
            2 if a.group_by == GroupBy::Dst => format!("→{}", a.key),
            2 => a.key.to_string(),
            _ => first_metric(a, metric_w),
        });
        (Row::new(cells), severity_style(rule_severity(s, a.rule)))
    });
    let widths = kept_widths(&cols.map(|c| c.0), &keep);
    f.render_widget(Table::new(rows, widths).header(header), inner);
    if list.is_empty() {
        let msg = if s.filter.is_some() && s.snap.alerts_total > 0 {
            "no alert matches the filter"
        } else {
            "no alerts yet"
        };
        draw_placeholder(f, inner, msg);
    }
}

fn draw_shards(f: &mut Frame, area: Rect, s: &DashState) {
    let inner = draw_panel(f, area, "shards".into(), false);
    let shards = &s.snap.shards;
    if shards.is_empty() || inner.height == 0 {
        return;
    }
    // Flow into as many columns as needed to show every shard.
    let per_col = inner.height as usize;
    let ncols = shards.len().div_ceil(per_col);
    let col_w = (inner.width as usize / ncols).max(1) as u16;
    for (c, chunk) in shards.chunks(per_col).enumerate() {
        let lines: Vec<Line> = chunk
            .iter()
            .enumerate()
            .map(|(j, g)| {
                let i = c * per_col + j;
                let q = if g.queue_depth > 0 {
                    Style::new().fg(Color::Yellow).bold()
                } else {
                    Style::new()
                };
                Line::from(vec![
                    Span::raw(format!(
                        "#{i:<2} rec {:>6} keys {:>5} ",
                        si(g.records as f64),
                        si(g.keys as f64)
                    )),
                    Span::styled(format!("queue {}", g.queue_depth), q),
                ])
            })
            .collect();
        let r = Rect {
            x: inner.x + c as u16 * col_w,
            width: col_w.min(inner.width - c as u16 * col_w),
            ..inner
        };
        f.render_widget(Paragraph::new(lines), r);
    }
}

fn draw_rules(f: &mut Frame, area: Rect, s: &DashState) {
    let focused = s.focus == Panel::Rules;
    let inner = draw_panel(f, area, "rule hits".into(), focused);
    let id_w = rule_id_width(s);
    let rows_avail = inner.height as usize;
    let rows = visible_rows(
        &s.rules.rules,
        s.rules_sel.idx,
        focused,
        rows_avail,
        |i, r| {
            let hits = s.hits(i);
            let style = if hits > 0 {
                severity_style(r.severity)
            } else {
                Style::new().fg(Color::Gray)
            };
            let cells = vec![
                Line::from(hits.to_string()).alignment(ratatui::layout::Alignment::Right),
                Line::from(format!("sev {}", r.severity)),
                Line::from(escape(&r.id).into_owned()),
                Line::from(escape(&r.description).into_owned()),
            ];
            (Row::new(cells), style)
        },
    );
    let widths = [
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(id_w),
        Constraint::Min(10),
    ];
    f.render_widget(Table::new(rows, widths), inner);
}

fn draw_footer(f: &mut Frame, area: Rect, s: &DashState) {
    let line = if let Some(buf) = &s.editing {
        Line::from(vec![
            Span::styled(
                " filter (address or CIDR; Enter applies, empty clears, Esc cancels): ",
                Style::new().black().on_cyan(),
            ),
            Span::raw(" "),
            Span::raw(escape(buf).into_owned()),
            Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
        ])
    } else if let Some(m) = &s.message {
        Line::from(Span::styled(
            m.clone(),
            Style::new().fg(Color::Yellow).bold(),
        ))
    } else {
        let mut spans = Vec::new();
        for (k, what) in [
            ("q", "quit"),
            ("p", if s.paused { "resume" } else { "pause" }),
            ("s", "sort"),
            ("/", "filter"),
            ("Tab", "panel"),
            ("↑↓", "select"),
            ("Enter", "details"),
            ("?", "help"),
        ] {
            spans.push(Span::styled(
                format!(" {k} "),
                Style::new().black().on_gray(),
            ));
            spans.push(Span::raw(format!(" {what} ")));
        }
        if s.held_logs > 0 {
            spans.push(Span::styled(
                format!(" {} log lines print on exit", s.held_logs),
                Style::new().fg(Color::Yellow),
            ));
        }
        Line::from(spans)
    };
    f.render_widget(Paragraph::new(line), area);
}

#[cfg(test)]
mod tests;
