//! Cells: numbers, times and metric values as short text, and the fitting of table
//! columns and rows to the space a panel has.
//!
//! In: values from a [`DashState`]. Out: strings, widths and row ranges. Guarantees: pure
//! functions of their arguments (the snapshots depend on it); rule ids pass through
//! [`escape`].

use super::*;

/// 1234 -> "1.2k", 5_600_000 -> "5.6M"; below 10 one decimal when not whole.
pub(super) fn si(v: f64) -> String {
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

pub(super) fn clock(ns: u64, fmt: &str) -> String {
    if ns == 0 {
        return "-".into();
    }
    chrono::DateTime::from_timestamp((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
        .map(|t| t.format(fmt).to_string())
        .unwrap_or_else(|| "-".into())
}

/// Capture time of day, UTC.
pub(super) fn hms(ns: u64) -> String {
    clock(ns, "%H:%M:%S")
}

pub(super) fn datetime(ns: u64) -> String {
    clock(ns, "%Y-%m-%d %H:%M:%SZ")
}

pub(super) fn elapsed(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A metric value as alerts print it: whole numbers without a fraction.
pub(super) fn metric_value(m: Metric, v: f64) -> String {
    let n = if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    };
    format!("{}={n}", m.name())
}

pub(super) fn metrics_text(a: &Alert) -> String {
    a.values
        .iter()
        .map(|(m, v)| metric_value(*m, *v))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first value the condition read (the one that crossed, for a simple condition),
/// with a mark when there are more.
pub(super) fn first_metric(a: &Alert, width: usize) -> String {
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
pub(super) fn ellipsis(t: String, width: usize) -> String {
    if t.chars().count() <= width {
        return t;
    }
    let mut c: String = t.chars().take(width.saturating_sub(1)).collect();
    c.push('…');
    c
}

/// Colour of a severity (1 high .. 3 low, as in Suricata).
pub(super) fn severity_style(sev: u8) -> Style {
    match sev {
        0 | 1 => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        2 => Style::new().fg(Color::Yellow),
        _ => Style::new().fg(Color::Cyan),
    }
}

pub(super) fn rule_id(s: &DashState, i: u16) -> String {
    s.rules
        .rules
        .get(i as usize)
        .map_or_else(|| format!("#{i}"), |r| escape(&r.id).into_owned())
}

pub(super) fn rule_severity(s: &DashState, i: u16) -> u8 {
    s.rules.rules.get(i as usize).map_or(3, |r| r.severity)
}

pub(super) fn panel_block(title: String, focused: bool) -> Block<'static> {
    let b = Block::bordered().title(Line::from(format!(" {title} ")).bold());
    if focused {
        b.border_style(Style::new().fg(Color::LightBlue))
    } else {
        b.border_style(Style::new().fg(Color::DarkGray))
    }
}

/// Draw an empty panel (border and title) over `area`; returns the area inside it.
pub(super) fn draw_panel(f: &mut Frame, area: Rect, title: String, focused: bool) -> Rect {
    let block = panel_block(title, focused);
    let inner = block.inner(area);
    f.render_widget(block, area);
    inner
}

/// The first row to draw so that row `sel` of `len` is visible in `rows` rows.
pub(super) fn scroll(sel: usize, rows: usize) -> usize {
    if rows == 0 {
        0
    } else {
        sel.saturating_sub(rows - 1)
    }
}

/// Pick columns that fit `width`: `cols` are (width, priority), lower priority first;
/// the result keeps table order. One space separates columns.
pub(super) fn fit_columns(cols: &[(u16, u8)], width: u16) -> Vec<usize> {
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
pub(super) fn kept_widths(widths: &[u16], keep: &[usize]) -> Vec<Constraint> {
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
pub(super) fn visible_rows<'a, T>(
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
pub(super) fn rule_id_width(s: &DashState) -> u16 {
    s.rules
        .rules
        .iter()
        .map(|r| escape(&r.id).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 20) as u16
}
