//! Run: the terminal side of the dashboard.
//!
//! In: the telemetry, the rules, and a job (the pipeline) to run on its own thread. Out:
//! the job's result once the user quits (`q`) and the terminal is restored. Guarantees:
//! the terminal is restored (raw mode off, alternate screen left, cursor shown) on every
//! way out: quit, error, and a panic on any thread (a panic hook restores it before the
//! panic message prints). While the dashboard owns the screen, log lines written through
//! [`log_writer`] are held back and printed after it is restored. Quitting before the job
//! ends sets the job's stop flag and waits for it: a pipeline then flushes its open
//! windows, so the alerts written and the summary stay complete for what was read.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use super::snapshot::Snapshot;
use super::state::{Action, DashState, Key, Options};
use super::view;
use crate::pipeline::{self, PipelineConfig, PipelineError};
use crate::rules::RuleSet;
use crate::sink::AlertSink;
use crate::source::PacketSource;
use crate::summary::Summary;
use crate::telemetry::Telemetry;

/// How often the view copies the telemetry.
const REFRESH: Duration = Duration::from_millis(250);
/// Log bytes held back at most while the dashboard shows (the oldest are kept).
const HELD_MAX: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("the terminal: {0} (run with --no-tui to do without the dashboard)")]
    Terminal(#[source] io::Error),
    #[error("the pipeline thread panicked")]
    Panicked,
}

/// The dashboard owns the terminal (raw mode, alternate screen).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// A thread panicked while the dashboard was up; the event loop ends.
static PANICKED: AtomicBool = AtomicBool::new(false);
static HELD: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// A `tracing` writer (`.with_writer(log_writer)`): stderr, except while the dashboard
/// owns the terminal, when lines are held back and printed after it is restored.
pub fn log_writer() -> LogWriter {
    LogWriter
}

pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if ACTIVE.load(Ordering::Acquire) {
            if let Ok(mut h) = HELD.lock() {
                if h.len() + buf.len() <= HELD_MAX {
                    h.extend_from_slice(buf);
                }
                return Ok(buf.len());
            }
        }
        io::stderr().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

fn held_lines() -> usize {
    HELD.lock()
        .map(|h| h.iter().filter(|b| **b == b'\n').count())
        .unwrap_or(0)
}

/// Leave the dashboard's terminal modes and print the log lines held back. Idempotent.
fn restore() {
    if ACTIVE.swap(false, Ordering::AcqRel) {
        let _ = terminal::disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
        let _ = io::stdout().flush();
        if let Ok(mut h) = HELD.lock() {
            let _ = io::stderr().write_all(&h);
            h.clear();
        }
    }
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ACTIVE.load(Ordering::Acquire) {
                PANICKED.store(true, Ordering::Release);
                restore();
            }
            prev(info);
        }));
    });
}

/// Restores the terminal when dropped (also on an early return or unwinding).
struct Screen {
    term: Terminal<CrosstermBackend<io::Stdout>>,
}

impl Screen {
    fn enter() -> io::Result<Screen> {
        install_panic_hook();
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::Release);
        let setup = || -> io::Result<Screen> {
            execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
            let mut term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
            term.clear()?;
            Ok(Screen { term })
        };
        setup().inspect_err(|_| restore())
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Show the dashboard over `telemetry` while `job` runs on its own thread; return the
/// job's result after the user quits. Quitting before the job ends sets `stop`.
pub fn run<R: Send + 'static>(
    telemetry: Arc<Telemetry>,
    rules: Arc<RuleSet>,
    opts: Options,
    stop: Arc<AtomicBool>,
    job: impl FnOnce() -> R + Send + 'static,
) -> Result<R, DashboardError> {
    PANICKED.store(false, Ordering::Release);
    let mut screen = Screen::enter().map_err(DashboardError::Terminal)?;
    let handle = std::thread::Builder::new()
        .name("pipeline".into())
        .spawn(job)
        .map_err(DashboardError::Terminal)?;
    let shown = event_loop(&mut screen.term, &telemetry, rules, opts, &handle, &stop);
    drop(screen);
    if !handle.is_finished() {
        stop.store(true, Ordering::Relaxed);
        eprintln!("flowsentry: stopping: flushing open windows");
    }
    let r = handle.join().map_err(|_| DashboardError::Panicked)?;
    if PANICKED.load(Ordering::Acquire) {
        return Err(DashboardError::Panicked);
    }
    shown.map_err(DashboardError::Terminal)?;
    Ok(r)
}

fn event_loop<R>(
    term: &mut Terminal<CrosstermBackend<io::Stdout>>,
    tel: &Telemetry,
    rules: Arc<RuleSet>,
    opts: Options,
    job: &JoinHandle<R>,
    stop: &AtomicBool,
) -> io::Result<()> {
    let started = Instant::now();
    // Sources quiet for longer than the longest window (or 10 batches) leave the table.
    let keep_ns = rules.max_window_ns().max(10 * tel.batch_ns);
    let mut state = DashState::new(rules, opts);
    let mut prev: Option<Snapshot> = None;
    let mut next = Instant::now();
    let mut dirty = true;
    loop {
        if PANICKED.load(Ordering::Acquire) {
            return Ok(());
        }
        // Stopped from outside (SIGINT / SIGTERM in live mode, a sink that gave up) and the
        // job has flushed and ended: leave, so the summary prints and the process exits.
        if stop.load(Ordering::Relaxed) && job.is_finished() {
            return Ok(());
        }
        if Instant::now() >= next {
            let mut snap = Snapshot::capture(tel, keep_ns, started.elapsed(), prev.as_ref());
            // `finished` is set just before the job returns; trust the thread, too.
            snap.finished |= job.is_finished();
            prev = Some(Snapshot {
                packets: snap.packets,
                elapsed: snap.elapsed,
                processed_pps: snap.processed_pps,
                ..Default::default()
            });
            state.held_logs = held_lines();
            state.update(snap);
            next = Instant::now() + REFRESH;
            dirty = true;
        }
        if dirty {
            term.draw(|f| view::render(f, &state))?;
            dirty = false;
        }
        let wait = next.saturating_duration_since(Instant::now());
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    if let Some(key) = map_key(k) {
                        if state.on_key(key) == Action::Quit {
                            return Ok(());
                        }
                        dirty = true;
                    }
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
    }
}

fn map_key(k: KeyEvent) -> Option<Key> {
    Some(match k.code {
        KeyCode::Char(c) if k.modifiers.contains(KeyModifiers::CONTROL) => {
            Key::Ctrl(c.to_ascii_lowercase())
        }
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Backspace => Key::Backspace,
        _ => return None,
    })
}

/// Run the pipeline on its own thread with the dashboard on this one: the telemetry is
/// created here, the progress bar is turned off (the screen is the dashboard's), and the
/// stop flag (`cfg.stop`, created when absent) is set when the user quits early.
pub fn run_pipeline<P, S>(
    mut source: P,
    rules: Arc<RuleSet>,
    mut cfg: PipelineConfig,
    sink: S,
    opts: Options,
) -> Result<Result<(Summary, S), PipelineError>, DashboardError>
where
    P: PacketSource + Send + 'static,
    S: AlertSink + 'static,
{
    // `--metrics` may have made the telemetry already: the dashboard shares it.
    let tel = cfg
        .telemetry
        .get_or_insert_with(|| {
            Arc::new(Telemetry::new(
                cfg.shards.max(1),
                rules.rules.iter().map(|r| r.id.clone()).collect(),
                cfg.batch_ns,
            ))
        })
        .clone();
    cfg.progress = false;
    let stop = cfg
        .stop
        .get_or_insert_with(|| Arc::new(AtomicBool::new(false)))
        .clone();
    let job_rules = rules.clone();
    run(tel, rules, opts, stop, move || {
        pipeline::run(&mut source, job_rules, &cfg, sink)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_terminal_keys() {
        let k = |code, m| map_key(KeyEvent::new(code, m));
        assert_eq!(
            k(KeyCode::Char('q'), KeyModifiers::NONE),
            Some(Key::Char('q'))
        );
        assert_eq!(
            k(KeyCode::Char('C'), KeyModifiers::CONTROL),
            Some(Key::Ctrl('c'))
        );
        assert_eq!(
            k(KeyCode::Char('S'), KeyModifiers::SHIFT),
            Some(Key::Char('S'))
        );
        assert_eq!(k(KeyCode::BackTab, KeyModifiers::SHIFT), Some(Key::BackTab));
        assert_eq!(k(KeyCode::F(1), KeyModifiers::NONE), None);
    }

    #[test]
    fn log_lines_pass_through_when_the_dashboard_is_off() {
        assert!(!ACTIVE.load(Ordering::Acquire));
        let mut w = log_writer();
        assert_eq!(w.write(b"").unwrap(), 0);
        assert_eq!(held_lines(), 0);
    }
}
