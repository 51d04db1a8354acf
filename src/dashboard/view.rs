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
// Formatting

/// 1234 -> "1.2k", 5_600_000 -> "5.6M"; below 10 one decimal when not whole.
pub fn si(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a < 10.0 && v.fract() != 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn clock(ns: u64, fmt: &str) -> String {
    if ns == 0 {
        return "-".into();
    }
    chrono::DateTime::from_timestamp((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
        .map(|t| t.format(fmt).to_string())
        .unwrap_or_else(|| "-".into())
}

/// Capture time of day, UTC.
pub fn hms(ns: u64) -> String {
    clock(ns, "%H:%M:%S")
}

fn datetime(ns: u64) -> String {
    clock(ns, "%Y-%m-%d %H:%M:%SZ")
}

fn elapsed(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A metric value as alerts print it: whole numbers without a fraction.
fn metric_value(m: Metric, v: f64) -> String {
    let n = if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    };
    format!("{}={n}", m.name())
}

fn metrics_text(a: &Alert) -> String {
    a.values
        .iter()
        .map(|(m, v)| metric_value(*m, *v))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first value the condition read (the one that crossed, for a simple condition),
/// with a mark when there are more.
fn first_metric(a: &Alert, width: usize) -> String {
    let t = match a.values.split_first() {
        None => String::new(),
        Some(((m, v), rest)) => {
            let t = metric_value(*m, *v);
            let t = t.strip_prefix("distinct_").unwrap_or(&t).to_string();
            if rest.is_empty() {
                t
            } else {
                format!("{t} …")
            }
        }
    };
    ellipsis(t, width)
}

/// Cut `t` to `width` columns, marking the cut (a cut number must not look whole).
fn ellipsis(t: String, width: usize) -> String {
    if t.chars().count() <= width {
        return t;
    }
    let mut c: String = t.chars().take(width.saturating_sub(1)).collect();
    c.push('…');
    c
}

/// Colour of a severity (1 high .. 3 low, as in Suricata).
pub fn severity_style(sev: u8) -> Style {
    match sev {
        0 | 1 => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        2 => Style::new().fg(Color::Yellow),
        _ => Style::new().fg(Color::Cyan),
    }
}

fn rule_id(s: &DashState, i: u16) -> String {
    s.rules
        .rules
        .get(i as usize)
        .map_or_else(|| format!("#{i}"), |r| escape(&r.id).into_owned())
}

fn rule_severity(s: &DashState, i: u16) -> u8 {
    s.rules.rules.get(i as usize).map_or(3, |r| r.severity)
}

fn panel_block(title: String, focused: bool) -> Block<'static> {
    let b = Block::bordered().title(Line::from(format!(" {title} ")).bold());
    if focused {
        b.border_style(Style::new().fg(Color::LightBlue))
    } else {
        b.border_style(Style::new().fg(Color::DarkGray))
    }
}

/// Draw an empty panel (border and title) over `area`; returns the area inside it.
fn draw_panel(f: &mut Frame, area: Rect, title: String, focused: bool) -> Rect {
    let block = panel_block(title, focused);
    let inner = block.inner(area);
    f.render_widget(block, area);
    inner
}

/// The first row to draw so that row `sel` of `len` is visible in `rows` rows.
fn scroll(sel: usize, rows: usize) -> usize {
    if rows == 0 {
        0
    } else {
        sel.saturating_sub(rows - 1)
    }
}

/// Pick columns that fit `width`: `cols` are (width, priority), lower priority first;
/// the result keeps table order. One space separates columns.
fn fit_columns(cols: &[(u16, u8)], width: u16) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by_key(|&i| cols[i].1);
    let mut used = 0u16;
    let mut keep = Vec::new();
    for i in order {
        let w = cols[i].0 + u16::from(!keep.is_empty());
        if used + w <= width {
            used += w;
            keep.push(i);
        }
    }
    keep.sort_unstable();
    keep
}

/// Widths of the columns `keep` (from [`fit_columns`]) of a table whose columns are
/// `widths` wide; the table's last column takes the width left over.
fn kept_widths(widths: &[u16], keep: &[usize]) -> Vec<Constraint> {
    keep.iter()
        .map(|&i| {
            if i + 1 == widths.len() {
                Constraint::Min(widths[i])
            } else {
                Constraint::Length(widths[i])
            }
        })
        .collect()
}

/// The rows of a selectable list that fit in `rows` lines, scrolled so that row `sel`
/// shows: `row` makes an entry's row and style from its index and value; the selected
/// row is reversed when its panel has the focus.
fn visible_rows<'a, T>(
    list: &[T],
    sel: usize,
    focused: bool,
    rows: usize,
    row: impl Fn(usize, &T) -> (Row<'a>, Style),
) -> Vec<Row<'a>> {
    list.iter()
        .enumerate()
        .skip(scroll(sel, rows))
        .take(rows)
        .map(|(i, x)| {
            let (r, mut style) = row(i, x);
            if focused && i == sel {
                style = style.add_modifier(Modifier::REVERSED);
            }
            r.style(style)
        })
        .collect()
}

/// Width of a rule-id column: the longest (escaped) id, 4 to 20 columns.
fn rule_id_width(s: &DashState) -> u16 {
    s.rules
        .rules
        .iter()
        .map(|r| escape(&r.id).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 20) as u16
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

// ---------------------------------------------------------------------------------------
// Pop-ups

/// Rows `text` takes in `width` columns (character wrap; word wrap may take a row more).
fn rows_of(text: &Text, width: u16) -> u16 {
    let w = width.max(1) as usize;
    text.lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(w) as u16)
        .sum()
}

/// A bordered pop-up sized to `text` (at most `max_w` wide), centred in `area`.
fn draw_popup(f: &mut Frame, area: Rect, title: String, text: Text<'static>, max_w: u16) {
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

fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn draw_help(f: &mut Frame, area: Rect) {
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

fn draw_details(f: &mut Frame, area: Rect, s: &DashState) {
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

fn kv(k: &str, v: String) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{k:<14}"), Style::new().fg(Color::Gray)),
        Span::raw(v),
    ])
}

fn source_details(s: &DashState, addr: &Addr, v: &SourceView) -> Text<'static> {
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
fn rule_heading(r: &Rule) -> Vec<Line<'static>> {
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

fn alert_details(s: &DashState, a: &Alert) -> Text<'static> {
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
fn evidence_lines(eve: &serde_json::Value) -> Vec<Line<'static>> {
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

fn rule_details(s: &DashState, i: usize) -> Text<'static> {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use insta::assert_snapshot;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::*;
    use crate::dashboard::snapshot::{ShardLoad, Snapshot};
    use crate::dashboard::state::{Key, Options};
    use crate::rules::{parse_rules, RuleSet};
    use crate::telemetry::BatchPoint;

    /// The rules the snapshots are drawn with (fixed here, so a change to the default
    /// pack does not change the screens).
    const TEST_RULES: &str = r#"
[[rule]]
id = "port_scan"
sid = 1000001
description = "TCP SYN port scan: one source probing many destination ports"
severity = 2
category = "Attempted Information Leak"
window = "60s"
slide = "5s"
cooldown = "5m"
filter = { proto = "tcp", tcp_flags = "S", tcp_flags_not = "A" }
condition = "distinct_dst_ports >= 100"

[[rule]]
id = "host_sweep"
sid = 1000002
description = "Host sweep: one source probing many addresses with TCP SYNs or pings"
severity = 2
category = "Network Scan"
window = "60s"
slide = "5s"
cooldown = "5m"
filter = { proto = ["tcp", "icmp"], tcp_flags = "S", tcp_flags_not = "A", icmp_type = "echo-request" }
condition = "distinct_dst_hosts >= 64"

[[rule]]
id = "syn_flood"
sid = 1000003
description = "SYN flood from one source against few ports"
severity = 1
category = "Attempted Denial of Service"
window = "1s"
slide = "1s"
cooldown = "30s"
filter = { proto = "tcp", tcp_flags = "S", tcp_flags_not = "A" }
condition = "syn >= 100 and distinct_dst_ports <= 10"

[[rule]]
id = "icmp_flood"
sid = 1000004
description = "ICMP echo flood from one source"
severity = 1
category = "Attempted Denial of Service"
window = "1s"
slide = "1s"
cooldown = "30s"
filter = { proto = "icmp", icmp_type = "echo-request" }
condition = "icmp_echo >= 200"

[[rule]]
id = "brute_force"
sid = 1000006
description = "Repeated connections to an authentication service (password guessing)"
severity = 2
category = "Attempted User Privilege Gain"
window = "120s"
slide = "10s"
cooldown = "10m"
filter = { proto = "tcp", tcp_flags = "S", tcp_flags_not = "A", dst_ports = [22, 3389] }
condition = "conn_attempts >= 10 and conn_attempts / distinct_dst_pairs >= 5"

[[rule]]
id = "dst_flood"
sid = 1000101
description = "Many packets towards one destination"
severity = 3
category = "Attempted Denial of Service"
group_by = "dst"
window = "5s"
slide = "1s"
cooldown = "1m"
filter = { proto = "tcp" }
condition = "pps >= 500"
"#;

    fn test_rules() -> RuleSet {
        parse_rules(TEST_RULES, "test-rules.toml").expect("the test rules compile")
    }

    const S: u64 = 1_000_000_000;
    /// 2024-03-01 12:00:00 UTC.
    const T0: u64 = 1_709_294_400 * S;

    fn v4(o: [u8; 4]) -> Addr {
        Addr::v4(o)
    }

    fn view(pps: f64, bps: f64, syn: f64, ports: u64, hosts: u64, fired: &[u16]) -> SourceView {
        SourceView {
            batch_end_ns: T0 + 60 * S,
            pps,
            bps,
            syn_per_s: syn,
            distinct_ports: ports,
            distinct_hosts: hosts,
            rules_fired: fired.to_vec(),
        }
    }

    fn alert(
        rules: &RuleSet,
        id: &str,
        key: [u8; 4],
        end_s: u64,
        values: Vec<(Metric, f64)>,
    ) -> Alert {
        let rule = rules.rules.iter().position(|r| r.id == id).unwrap();
        let w = rules.rules[rule].window_ns;
        Alert {
            window_start_ns: T0 + end_s * S - w,
            first_ns: T0 + end_s * S - w,
            peer: Some(v4([203, 0, 113, 10])),
            ..crate::dashboard::test_alert(rule as u16, v4(key), T0 + end_s * S, values)
        }
    }

    /// A state in the middle of the demo: a port scan, a SYN flood, a sweep, background.
    fn demo_state(rules: RuleSet) -> DashState {
        let batches: Vec<BatchPoint> = (1..=60u64)
            .map(|i| {
                let burst = if (20..26).contains(&i) { 1800 } else { 0 };
                let p = 400 + (i * 37 % 90) + burst;
                BatchPoint {
                    end_ns: T0 + i * S,
                    packets: p,
                    bytes: p * 610,
                    tcp: p - 60 - (i % 7) - burst / 3,
                    udp: 50 + (i % 7),
                    icmp: 10 + burst / 3,
                    other: 0,
                }
            })
            .collect();
        let alerts = vec![
            alert(
                &rules,
                "port_scan",
                [192, 0, 2, 10],
                15,
                vec![(Metric::DistinctDstPorts, 104.0)],
            ),
            alert(
                &rules,
                "host_sweep",
                [192, 0, 2, 20],
                25,
                vec![(Metric::DistinctDstHosts, 64.0)],
            ),
            alert(
                &rules,
                "icmp_flood",
                [192, 0, 2, 40],
                26,
                vec![(Metric::IcmpEcho, 600.0)],
            ),
            alert(
                &rules,
                "syn_flood",
                [192, 0, 2, 30],
                41,
                vec![(Metric::Syn, 300.0), (Metric::DistinctDstPorts, 1.0)],
            ),
            alert(
                &rules,
                "brute_force",
                [192, 0, 2, 60],
                50,
                vec![
                    (Metric::ConnAttempts, 24.0),
                    (Metric::DistinctDstPairs, 1.0),
                ],
            ),
            Alert {
                group_by: GroupBy::Dst,
                key: v4([203, 0, 113, 11]),
                peer: None,
                ..alert(
                    &rules,
                    "dst_flood",
                    [0, 0, 0, 0],
                    55,
                    vec![(Metric::Pps, 812.4)],
                )
            },
        ];
        let mut quiet = view(3.0, 2400.0, 0.0, 0, 0, &[1]);
        quiet.batch_end_ns = T0 + 40 * S;
        let sources = vec![
            (
                v4([192, 0, 2, 10]),
                view(98.0, 47_000.0, 98.0, 1000, 1, &[0]),
            ),
            (
                v4([192, 0, 2, 30]),
                view(300.0, 144_000.0, 300.0, 1, 1, &[2]),
            ),
            (v4([192, 0, 2, 60]), view(2.0, 1_200.0, 2.0, 1, 1, &[4])),
            (v4([10, 20, 30, 11]), view(41.0, 280_500.0, 1.0, 3, 2, &[])),
            (v4([10, 20, 30, 12]), view(17.5, 90_000.0, 0.5, 2, 2, &[])),
            (v4([10, 20, 30, 10]), view(12.0, 61_000.0, 0.0, 1, 1, &[])),
            (v4([192, 0, 2, 20]), quiet),
            (
                Addr::v6([
                    0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x0b,
                ]),
                view(6.0, 30_000.0, 0.2, 2, 1, &[]),
            ),
        ];
        let mut s = DashState::new(
            Arc::new(rules),
            Options {
                input: "captures/demo.pcap".into(),
                mode: "replay".into(),
                alerts_to: "alerts.jsonl".into(),
            },
        );
        s.update(Snapshot {
            packets: 61_234,
            bytes: 39_876_543,
            decode_errors: 0,
            late: 3,
            queue_drops: 0,
            kernel_drops: 0,
            alerts_total: alerts.len() as u64,
            capture_ns: T0 + 60 * S + 400_000_000,
            batch_ns: S,
            finished: false,
            elapsed: Duration::from_secs(12),
            processed_pps: 5_102.0,
            batches,
            sources,
            rule_hits: vec![1, 1, 1, 1, 1, 1],
            reloaded: None,
            alerts,
            shards: vec![
                ShardLoad {
                    records: 31_000,
                    keys: 61,
                    queue_depth: 0,
                },
                ShardLoad {
                    records: 30_234,
                    keys: 58,
                    queue_depth: 2,
                },
            ],
        });
        s
    }

    fn draw(s: &DashState, w: u16, h: u16) -> Terminal<TestBackend> {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| render(f, s)).unwrap();
        t
    }

    fn screen(s: &DashState, w: u16, h: u16) -> String {
        draw(s, w, h).backend().to_string()
    }

    #[test]
    fn dashboard_120x40() {
        assert_snapshot!(screen(&demo_state(test_rules()), 120, 40));
    }

    #[test]
    fn dashboard_80x24() {
        assert_snapshot!(screen(&demo_state(test_rules()), 80, 24));
    }

    #[test]
    fn startup_before_any_batch_80x24() {
        let s = DashState::new(
            Arc::new(test_rules()),
            Options {
                input: "eth0".into(),
                mode: "live".into(),
                alerts_to: "stdout held back while the dashboard shows".into(),
            },
        );
        assert_snapshot!(screen(&s, 80, 24));
    }

    #[test]
    fn alert_details_120x40() {
        let mut s = demo_state(test_rules());
        s.on_key(Key::Tab);
        s.on_key(Key::Down);
        s.on_key(Key::Down);
        s.on_key(Key::Enter);
        assert_eq!(s.selected_alert().unwrap().key, v4([192, 0, 2, 30]));
        assert_snapshot!(screen(&s, 120, 40));
    }

    #[test]
    fn source_details_sorted_by_ports_filtered_80x24() {
        let mut s = demo_state(test_rules());
        for k in [
            Key::Char('s'),
            Key::Char('s'),
            Key::Char('s'),
            Key::Char('/'),
        ] {
            s.on_key(k);
        }
        for c in "192.0.2.0/24".chars() {
            s.on_key(Key::Char(c));
        }
        s.on_key(Key::Enter);
        s.on_key(Key::Enter);
        assert_eq!(s.selected_source().unwrap().0, v4([192, 0, 2, 10]));
        assert_snapshot!(screen(&s, 80, 24));
    }

    #[test]
    fn paused_finished_filter_prompt_and_rules_focus_100x30() {
        let mut s = demo_state(test_rules());
        s.snap.finished = true;
        s.on_key(Key::Char('p'));
        s.on_key(Key::BackTab);
        s.on_key(Key::Char('/'));
        s.on_key(Key::Char('1'));
        s.on_key(Key::Char('0'));
        assert_snapshot!(screen(&s, 100, 30));
    }

    #[test]
    fn help_80x24() {
        let mut s = demo_state(test_rules());
        s.on_key(Key::Char('?'));
        assert_snapshot!(screen(&s, 80, 24));
    }

    #[test]
    fn rule_details_escape_hostile_text() {
        let mut rules = test_rules();
        rules.rules[0].description = "scan\x1b[2J\x1b]0;pwned\x07 \u{202e}txt.exe".into();
        rules.rules[0].category = "cat\x1b[31m".into();
        let mut s = demo_state(rules);
        s.on_key(Key::BackTab); // rules panel, first rule
        s.on_key(Key::Enter);
        for (w, h) in [(120, 40), (80, 24)] {
            let t = draw(&s, w, h);
            let buf = t.backend().buffer();
            let text: String = buf.content().iter().map(|c| c.symbol()).collect();
            assert!(
                !text.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "a control character reached the screen"
            );
            assert!(text.contains("scan\\x1b[2J\\x1b]0;pwned\\x07"), "{text}");
            assert!(text.contains("cat\\x1b[31m"));
        }
    }

    #[test]
    fn alerts_are_coloured_by_severity() {
        let s = demo_state(test_rules());
        let t = draw(&s, 120, 40);
        let buf = t.backend().buffer();
        let find = |needle: &str| {
            let w = buf.area.width;
            for y in 0..buf.area.height {
                let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
                if let Some(col) = line.find(needle) {
                    // Column in cells: the text before `needle` is ASCII on these rows.
                    let x = line[..col].chars().count() as u16;
                    if x > w / 2 {
                        return buf[(x, y)].fg;
                    }
                }
            }
            panic!("{needle} not in the alert list");
        };
        assert_eq!(find("syn_flood"), Color::Red);
        assert_eq!(find("port_scan"), Color::Yellow);
    }

    #[test]
    fn evidence_comes_from_the_alert_json() {
        let eve: serde_json::Value = serde_json::from_str(
            r#"{"alert": {"context": {"evidence": {
                "top_dst_ports": [{"port": 80, "packets": 1301, "since": "x"},
                {"port": 443, "packets": 2, "since": "x"}],
                "top_dst_hosts": [{"address": "203.0.113.10\u001b[2J", "packets": 7, "since": "x"}],
                "sketched": true}}}}"#,
        )
        .unwrap();
        let text: Vec<String> = evidence_lines(&eve)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert_eq!(
            text,
            [
                "top dst ports 80 (1.3k), 443 (2)",
                "top dst hosts 203.0.113.10\\x1b[2J (7)",
                "              (distinct sets became sketches: counts are estimates)",
            ]
        );
        assert!(evidence_lines(&serde_json::json!({"alert": {"context": {"id": "x"}}})).is_empty());
    }

    #[test]
    fn numbers_format_compactly() {
        assert_eq!(si(0.0), "0");
        assert_eq!(si(2.5), "2.5");
        assert_eq!(si(999.0), "999");
        assert_eq!(si(1234.0), "1.2k");
        assert_eq!(si(5_600_000.0), "5.6M");
        assert_eq!(si(f64::NAN), "-");
        assert_eq!(ellipsis("distinct=1000".into(), 10), "distinct=…");
        assert_eq!(ellipsis("ports=1000".into(), 10), "ports=1000");
        assert_eq!(elapsed(Duration::from_secs(3725)), "1:02:05");
        assert_eq!(hms(T0 + 61 * S), "12:01:01");
        assert_eq!(fit_columns(&[(10, 0), (5, 2), (5, 1)], 16), vec![0, 2]);
    }
}
