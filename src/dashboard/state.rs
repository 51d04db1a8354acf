//! State: what the dashboard shows and how keys change it. No terminal here.
//!
//! In: [`Snapshot`]s (a few per second, unless paused) and [`Key`]s. Out: a [`DashState`]
//! that [`view`](super::view) draws, and an [`Action`] per key. Guarantees: every list the
//! view draws (sources, alerts, rules) comes from one method here, so what a key selects is
//! what the screen shows; a selection follows its item (a source, an alert) when the list
//! reorders or grows, and falls back to the nearest row when the item is gone.

use std::cmp::Ordering;
use std::sync::Arc;

use super::snapshot::Snapshot;
use crate::alert::Alert;
use crate::record::Addr;
use crate::rules::{Cidr, RuleSet};
use crate::telemetry::SourceView;

/// A key, as the terminal layer reports it (kept free of any terminal library).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    /// A letter with Ctrl held.
    Ctrl(char),
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
}

/// The panels `Tab` moves between (the ones with a selection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Sources,
    Alerts,
    Rules,
}

impl Panel {
    const ORDER: [Panel; 3] = [Panel::Sources, Panel::Alerts, Panel::Rules];
    fn step(self, d: isize) -> Panel {
        let i = Panel::ORDER.iter().position(|p| *p == self).unwrap_or(0) as isize;
        Panel::ORDER[(i + d).rem_euclid(Panel::ORDER.len() as isize) as usize]
    }
}

/// Columns of the top-sources table, in the order `s` cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Address,
    Pps,
    Bps,
    SynPerS,
    Ports,
    Hosts,
    Rules,
}

impl SortColumn {
    pub const ALL: [SortColumn; 7] = [
        SortColumn::Address,
        SortColumn::Pps,
        SortColumn::Bps,
        SortColumn::SynPerS,
        SortColumn::Ports,
        SortColumn::Hosts,
        SortColumn::Rules,
    ];

    pub fn title(self) -> &'static str {
        match self {
            SortColumn::Address => "source",
            SortColumn::Pps => "pkt/s",
            SortColumn::Bps => "bit/s",
            SortColumn::SynPerS => "SYN/s",
            SortColumn::Ports => "ports",
            SortColumn::Hosts => "hosts",
            SortColumn::Rules => "rules fired",
        }
    }

    fn step(self, d: isize) -> SortColumn {
        let all = SortColumn::ALL;
        let i = all.iter().position(|c| *c == self).unwrap_or(0) as isize;
        all[(i + d).rem_euclid(all.len() as isize) as usize]
    }

    /// Addresses sort ascending, numbers descending (busiest first) with the sources seen
    /// in the newest batch (`newest_ns`) before the quiet ones; ties by address.
    fn cmp(self, a: &(Addr, SourceView), b: &(Addr, SourceView), newest_ns: u64) -> Ordering {
        let (x, y) = (&a.1, &b.1);
        let f = |p: f64, q: f64| q.total_cmp(&p);
        let quiet = |v: &SourceView| v.batch_end_ns < newest_ns;
        let by = match self {
            SortColumn::Address => Ordering::Equal,
            _ if quiet(x) != quiet(y) => quiet(x).cmp(&quiet(y)),
            SortColumn::Pps => f(x.pps, y.pps),
            SortColumn::Bps => f(x.bps, y.bps),
            SortColumn::SynPerS => f(x.syn_per_s, y.syn_per_s),
            SortColumn::Ports => y.distinct_ports.cmp(&x.distinct_ports),
            SortColumn::Hosts => y.distinct_hosts.cmp(&x.distinct_hosts),
            SortColumn::Rules => y.rules_fired.len().cmp(&x.rules_fired.len()),
        };
        by.then(a.0.cmp(&b.0))
    }
}

/// An alert's identity: window end, rule, key (its sort key; unique per alert).
pub type AlertId = (u64, u16, Addr, Option<crate::window::FlowKey>);

/// A selected row: its index in the list as drawn, and the item it points at once the
/// user has moved (until then the selection stays on the index, e.g. the newest alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sel<T> {
    pub idx: usize,
    pub id: Option<T>,
}

impl<T: PartialEq + Copy> Sel<T> {
    fn fix(&mut self, ids: &[T]) {
        if ids.is_empty() {
            self.idx = 0;
            return;
        }
        if let Some(id) = self.id {
            if let Some(i) = ids.iter().position(|x| *x == id) {
                self.idx = i;
                return;
            }
        }
        self.idx = self.idx.min(ids.len() - 1);
        if self.id.is_some() {
            self.id = Some(ids[self.idx]);
        }
    }

    fn go(&mut self, ids: &[T], to: isize) {
        if ids.is_empty() {
            return;
        }
        self.idx = to.clamp(0, ids.len() as isize - 1) as usize;
        self.id = Some(ids[self.idx]);
    }
}

/// What the header says about where the data comes from and where alerts go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// The input, e.g. the capture files.
    pub input: String,
    /// `replay`, `live` or `consume`.
    pub mode: String,
    /// Where alerts are written, e.g. `alerts.jsonl`, or a note that they are not.
    pub alerts_to: String,
}

/// Rows a page key moves.
const PAGE: isize = 10;
/// Longest filter text accepted.
const FILTER_MAX: usize = 64;

#[derive(Debug, Clone)]
pub struct DashState {
    pub rules: Arc<RuleSet>,
    pub opts: Options,
    pub snap: Snapshot,
    pub focus: Panel,
    pub sort: SortColumn,
    /// The filter in force: its text and the prefix it parsed to.
    pub filter: Option<(String, Cidr)>,
    /// The filter being typed after `/`.
    pub editing: Option<String>,
    /// A one-line message for the footer (e.g. a filter that does not parse).
    pub message: Option<String>,
    pub paused: bool,
    pub help: bool,
    /// The details of the focused panel's selection are open.
    pub details: bool,
    pub sources_sel: Sel<Addr>,
    pub alerts_sel: Sel<AlertId>,
    pub rules_sel: Sel<usize>,
    /// Log lines held back while the dashboard owns the terminal.
    pub held_logs: usize,
}

impl DashState {
    pub fn new(rules: Arc<RuleSet>, opts: Options) -> DashState {
        DashState {
            rules,
            opts,
            snap: Snapshot::default(),
            focus: Panel::Sources,
            sort: SortColumn::Pps,
            filter: None,
            editing: None,
            message: None,
            paused: false,
            help: false,
            details: false,
            sources_sel: Sel::default(),
            alerts_sel: Sel::default(),
            rules_sel: Sel::default(),
            held_logs: 0,
        }
    }

    /// Show a new snapshot, unless the view is paused.
    pub fn update(&mut self, snap: Snapshot) {
        if self.paused {
            return;
        }
        if let Some(r) = snap.reloaded.as_ref().map(|r| &r.0) {
            if !std::sync::Arc::ptr_eq(r, &self.rules) {
                // The rules were reloaded (SIGHUP): the snapshot's indices are the new set's.
                self.rules = r.clone();
            }
        }
        self.snap = snap;
        self.fix_selections();
    }

    fn passes(&self, a: &Addr) -> bool {
        self.filter.as_ref().is_none_or(|(_, c)| c.contains(a))
    }

    /// The sources table as drawn: filtered, sorted by the sort column.
    pub fn sources(&self) -> Vec<&(Addr, SourceView)> {
        let mut v: Vec<&(Addr, SourceView)> = self
            .snap
            .sources
            .iter()
            .filter(|s| self.passes(&s.0))
            .collect();
        let col = self.sort;
        let newest = self.snap.batches.last().map_or(0, |b| b.end_ns);
        v.sort_by(|a, b| col.cmp(a, b, newest));
        v
    }

    /// The alert list as drawn: filtered by key, newest first.
    pub fn alerts(&self) -> Vec<&Alert> {
        self.snap
            .alerts
            .iter()
            .rev()
            .filter(|a| self.passes(&a.key))
            .collect()
    }

    /// Alerts on one key, newest first (the evidence of a source's details).
    pub fn alerts_on(&self, key: &Addr) -> Vec<&Alert> {
        self.snap
            .alerts
            .iter()
            .rev()
            .filter(|a| a.key == *key)
            .collect()
    }

    pub fn hits(&self, rule: usize) -> u64 {
        self.snap.rule_hits.get(rule).copied().unwrap_or(0)
    }

    pub fn selected_source(&self) -> Option<&(Addr, SourceView)> {
        self.sources().get(self.sources_sel.idx).copied()
    }

    pub fn selected_alert(&self) -> Option<&Alert> {
        self.alerts().get(self.alerts_sel.idx).copied()
    }

    pub fn selected_rule(&self) -> Option<usize> {
        (self.rules_sel.idx < self.rules.rules.len()).then_some(self.rules_sel.idx)
    }

    fn ids(&self) -> (Vec<Addr>, Vec<AlertId>, Vec<usize>) {
        (
            self.sources().iter().map(|s| s.0).collect(),
            self.alerts().iter().map(|a| a.sort_key()).collect(),
            (0..self.rules.rules.len()).collect(),
        )
    }

    fn fix_selections(&mut self) {
        let (s, a, r) = self.ids();
        self.sources_sel.fix(&s);
        self.alerts_sel.fix(&a);
        self.rules_sel.fix(&r);
    }

    /// Move the focused panel's selection by `d` rows (or to an end).
    fn move_sel(&mut self, d: isize, to_end: Option<bool>) {
        let (s, a, r) = self.ids();
        fn target<T>(sel: &Sel<T>, len: usize, d: isize, to_end: Option<bool>) -> isize {
            match to_end {
                Some(false) => 0,
                Some(true) => len as isize - 1,
                None => sel.idx as isize + d,
            }
        }
        match self.focus {
            Panel::Sources => {
                let t = target(&self.sources_sel, s.len(), d, to_end);
                self.sources_sel.go(&s, t)
            }
            Panel::Alerts => {
                let t = target(&self.alerts_sel, a.len(), d, to_end);
                self.alerts_sel.go(&a, t)
            }
            Panel::Rules => {
                let t = target(&self.rules_sel, r.len(), d, to_end);
                self.rules_sel.go(&r, t)
            }
        }
    }

    fn has_selection(&self) -> bool {
        match self.focus {
            Panel::Sources => self.selected_source().is_some(),
            Panel::Alerts => self.selected_alert().is_some(),
            Panel::Rules => self.selected_rule().is_some(),
        }
    }

    /// Handle one key.
    pub fn on_key(&mut self, k: Key) -> Action {
        if k == Key::Ctrl('c') {
            return Action::Quit;
        }
        if let Some(buf) = self.editing.as_mut() {
            match k {
                Key::Enter => {
                    let text = buf.trim().to_string();
                    self.editing = None;
                    self.apply_filter(&text);
                }
                Key::Esc => self.editing = None,
                Key::Backspace => {
                    buf.pop();
                }
                Key::Ctrl('u') => buf.clear(),
                Key::Char(c) if !c.is_control() && buf.len() < FILTER_MAX => buf.push(c),
                _ => {}
            }
            return Action::None;
        }
        self.message = None;
        if self.help {
            // Any key closes the help; `q` still quits.
            self.help = false;
            return if k == Key::Char('q') {
                Action::Quit
            } else {
                Action::None
            };
        }
        match k {
            Key::Char('q') => return Action::Quit,
            Key::Char('?') | Key::Char('h') => self.help = true,
            Key::Char('p') | Key::Char(' ') => {
                self.paused = !self.paused;
            }
            Key::Char('s') | Key::Char('S') => {
                self.sort = self.sort.step(if k == Key::Char('s') { 1 } else { -1 });
                self.fix_selections();
            }
            Key::Char('/') => {
                self.editing = Some(
                    self.filter
                        .as_ref()
                        .map(|(t, _)| t.clone())
                        .unwrap_or_default(),
                )
            }
            Key::Tab => self.focus = self.focus.step(1),
            Key::BackTab => self.focus = self.focus.step(-1),
            Key::Up | Key::Char('k') => self.move_sel(-1, None),
            Key::Down | Key::Char('j') => self.move_sel(1, None),
            Key::PageUp => self.move_sel(-PAGE, None),
            Key::PageDown => self.move_sel(PAGE, None),
            Key::Home => self.move_sel(0, Some(false)),
            Key::End => self.move_sel(0, Some(true)),
            Key::Enter => {
                self.details = !self.details && self.has_selection();
            }
            Key::Esc => {
                if self.details {
                    self.details = false;
                } else if self.filter.is_some() {
                    self.apply_filter("");
                }
            }
            _ => {}
        }
        Action::None
    }

    /// Filter sources and alerts by an address or CIDR prefix; empty text clears it.
    fn apply_filter(&mut self, text: &str) {
        if text.is_empty() {
            self.filter = None;
        } else {
            match Cidr::parse(text) {
                Some(c) => self.filter = Some((text.to_string(), c)),
                None => {
                    self.message = Some(format!(
                        "`{}` is not an address or CIDR prefix (e.g. 192.0.2.10, 10.0.0.0/8, 2001:db8::/32)",
                        super::escape(text)
                    ));
                    return;
                }
            }
        }
        self.fix_selections();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::default_rules;

    fn src(o: [u8; 4], pps: f64, syn: f64, ports: u64) -> (Addr, SourceView) {
        (
            Addr::v4(o),
            SourceView {
                batch_end_ns: 10_000_000_000,
                pps,
                bps: pps * 800.0,
                syn_per_s: syn,
                distinct_ports: ports,
                distinct_hosts: 1,
                rules_fired: vec![],
            },
        )
    }

    fn alert(rule: u16, key: [u8; 4], end_s: u64) -> Alert {
        crate::dashboard::test_alert(rule, Addr::v4(key), end_s * 1_000_000_000, vec![])
    }

    fn state() -> DashState {
        let mut s = DashState::new(Arc::new(default_rules()), Options::default());
        s.update(Snapshot {
            sources: vec![
                src([10, 0, 0, 1], 50.0, 0.0, 3),
                src([192, 0, 2, 10], 900.0, 900.0, 700),
                src([192, 0, 2, 30], 300.0, 300.0, 1),
            ],
            alerts: vec![alert(0, [192, 0, 2, 10], 5), alert(2, [192, 0, 2, 30], 6)],
            ..Default::default()
        });
        s
    }

    fn addrs(s: &DashState) -> Vec<String> {
        s.sources().iter().map(|x| x.0.to_string()).collect()
    }

    #[test]
    fn q_and_ctrl_c_quit() {
        let mut s = state();
        assert_eq!(s.on_key(Key::Char('x')), Action::None);
        assert_eq!(s.on_key(Key::Char('q')), Action::Quit);
        assert_eq!(s.on_key(Key::Ctrl('c')), Action::Quit);
        s.on_key(Key::Char('/'));
        assert_eq!(
            s.on_key(Key::Char('q')),
            Action::None,
            "typed into the filter"
        );
        assert_eq!(s.on_key(Key::Ctrl('c')), Action::Quit);
    }

    #[test]
    fn s_cycles_the_sort_column() {
        let mut s = state();
        assert_eq!(s.sort, SortColumn::Pps);
        assert_eq!(addrs(&s), ["192.0.2.10", "192.0.2.30", "10.0.0.1"]);
        s.on_key(Key::Char('s'));
        assert_eq!(s.sort, SortColumn::Bps);
        s.on_key(Key::Char('s'));
        s.on_key(Key::Char('s'));
        assert_eq!(s.sort, SortColumn::Ports);
        assert_eq!(addrs(&s), ["192.0.2.10", "10.0.0.1", "192.0.2.30"]);
        for _ in 0..3 {
            s.on_key(Key::Char('s'));
        }
        assert_eq!(s.sort, SortColumn::Address);
        assert_eq!(addrs(&s), ["10.0.0.1", "192.0.2.10", "192.0.2.30"]);
        s.on_key(Key::Char('S'));
        assert_eq!(s.sort, SortColumn::Rules);
    }

    #[test]
    fn sources_quiet_in_the_newest_batch_sort_after_the_active_ones() {
        let mut s = state();
        let mut snap = s.snap.clone();
        snap.batches.push(crate::telemetry::BatchPoint {
            end_ns: 10_000_000_000,
            ..Default::default()
        });
        snap.sources[1].1.batch_end_ns = 9_000_000_000; // 192.0.2.10 went quiet
        s.update(snap);
        assert_eq!(addrs(&s), ["192.0.2.30", "10.0.0.1", "192.0.2.10"]);
        s.sort = SortColumn::Address;
        assert_eq!(addrs(&s), ["10.0.0.1", "192.0.2.10", "192.0.2.30"]);
    }

    #[test]
    fn p_pauses_the_view_not_the_data_source() {
        let mut s = state();
        s.on_key(Key::Char('p'));
        assert!(s.paused);
        s.update(Snapshot::default());
        assert_eq!(s.snap.sources.len(), 3, "frozen while paused");
        s.on_key(Key::Char('p'));
        s.update(Snapshot::default());
        assert!(s.snap.sources.is_empty());
    }

    #[test]
    fn slash_filters_by_address_or_cidr() {
        let mut s = state();
        s.on_key(Key::Char('/'));
        for c in "192.0.2.0/24".chars() {
            s.on_key(Key::Char(c));
        }
        assert_eq!(s.editing.as_deref(), Some("192.0.2.0/24"));
        s.on_key(Key::Enter);
        assert_eq!(s.editing, None);
        assert_eq!(addrs(&s), ["192.0.2.10", "192.0.2.30"]);
        assert_eq!(s.alerts().len(), 2);

        // A single address; editing starts from the current text.
        s.on_key(Key::Char('/'));
        for _ in 0..4 {
            s.on_key(Key::Backspace);
        }
        s.on_key(Key::Char('3'));
        s.on_key(Key::Char('0'));
        s.on_key(Key::Enter);
        assert_eq!(s.filter.as_ref().unwrap().0, "192.0.2.30");
        assert_eq!(addrs(&s), ["192.0.2.30"]);
        assert_eq!(s.alerts().len(), 1);

        // Garbage keeps the old filter and says why.
        s.on_key(Key::Char('/'));
        s.on_key(Key::Ctrl('u'));
        for c in "evil\x1b[2J".chars() {
            s.on_key(Key::Char(c));
        }
        assert_eq!(
            s.editing.as_deref(),
            Some("evil[2J"),
            "control keys are not typed"
        );
        s.on_key(Key::Enter);
        assert_eq!(s.filter.as_ref().unwrap().0, "192.0.2.30");
        assert!(s.message.as_ref().unwrap().contains("not an address"));

        // Esc clears the filter; an empty filter does too.
        s.on_key(Key::Esc);
        assert!(s.filter.is_none());
        assert_eq!(s.sources().len(), 3);
        s.on_key(Key::Char('/'));
        s.on_key(Key::Char('1'));
        s.on_key(Key::Esc);
        assert!(s.filter.is_none(), "Esc while typing cancels");
    }

    #[test]
    fn tab_moves_between_panels_and_arrows_select() {
        let mut s = state();
        assert_eq!(s.focus, Panel::Sources);
        s.on_key(Key::Down);
        assert_eq!(s.selected_source().unwrap().0.to_string(), "192.0.2.30");
        s.on_key(Key::Down);
        s.on_key(Key::Down);
        assert_eq!(s.sources_sel.idx, 2, "stops at the last row");
        s.on_key(Key::Home);
        assert_eq!(s.sources_sel.idx, 0);
        s.on_key(Key::Tab);
        assert_eq!(s.focus, Panel::Alerts);
        assert_eq!(s.selected_alert().unwrap().rule, 2, "newest first");
        s.on_key(Key::End);
        assert_eq!(s.selected_alert().unwrap().rule, 0);
        s.on_key(Key::Tab);
        assert_eq!(s.focus, Panel::Rules);
        s.on_key(Key::PageDown);
        assert!(s.selected_rule() > Some(0), "a page down");
        s.on_key(Key::End);
        assert_eq!(s.selected_rule(), Some(s.rules.rules.len() - 1));
        s.on_key(Key::Tab);
        assert_eq!(s.focus, Panel::Sources);
        s.on_key(Key::BackTab);
        assert_eq!(s.focus, Panel::Rules);
    }

    #[test]
    fn selection_follows_its_item_when_the_list_changes() {
        let mut s = state();
        s.on_key(Key::Down); // 192.0.2.30, second by pps
        let mut next = s.snap.clone();
        next.sources[2].1.pps = 5000.0; // 192.0.2.30 becomes the busiest
        next.alerts.push(alert(3, [192, 0, 2, 40], 7));
        s.update(next);
        assert_eq!(s.sources_sel.idx, 0);
        assert_eq!(s.selected_source().unwrap().0.to_string(), "192.0.2.30");
        // Alerts: not moved yet, so the selection stays on the newest.
        assert_eq!(s.selected_alert().unwrap().rule, 3);
        // Gone: the nearest row is selected.
        let mut next = s.snap.clone();
        next.sources.retain(|x| x.0.to_string() != "192.0.2.30");
        s.update(next);
        assert_eq!(s.sources_sel.idx, 0);
        assert_eq!(s.selected_source().unwrap().0.to_string(), "192.0.2.10");
    }

    #[test]
    fn enter_opens_details_esc_closes_and_help_toggles() {
        let mut s = state();
        s.on_key(Key::Enter);
        assert!(s.details);
        s.on_key(Key::Esc);
        assert!(!s.details);
        s.on_key(Key::Enter);
        s.on_key(Key::Enter);
        assert!(!s.details, "Enter toggles");
        s.on_key(Key::Char('?'));
        assert!(s.help);
        assert_eq!(s.on_key(Key::Char('p')), Action::None);
        assert!(
            !s.help && !s.paused,
            "a key closes the help and does nothing else"
        );
        // Nothing to open on an empty list.
        let mut e = DashState::new(Arc::new(default_rules()), Options::default());
        e.on_key(Key::Enter);
        assert!(!e.details);
    }
}
