//! Sinks: where rendered alerts go (JSON Lines files or stdout now; Kafka later).
//!
//! In: alerts in their final order with their JSON text. Out: bytes on a file or stream.
//! Guarantees: one line per alert, `\n`-terminated, flushed by `finish`; a write error is
//! returned with the sink's name, never ignored; a file sink asked to reopen (SIGHUP) flushes
//! the old file and appends to a file of its name from the next write or checkpoint on.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::alert::Alert;

#[derive(Debug, thiserror::Error)]
#[error("alert sink {sink}: {source}")]
pub struct SinkError {
    pub sink: String,
    #[source]
    pub source: io::Error,
}

pub trait AlertSink: Send {
    fn write(&mut self, alert: &Alert, json: &str) -> Result<(), SinkError>;
    /// Everything written so far is durable (flushed, or acknowledged by a broker). Called
    /// after each watermark's alerts; the pipeline then lets sources commit their offsets.
    fn checkpoint(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), SinkError>;
    fn describe(&self) -> String;
    /// A gauge the sink keeps at the number of alerts written and not yet durable (a
    /// broker's acknowledgement still to come), also while it waits. Sinks that are durable
    /// once written leave it alone.
    fn share_backlog(&mut self, _gauge: std::sync::Arc<std::sync::atomic::AtomicU64>) {}
}

/// Several sinks, each receiving every alert (e.g. a file and Kafka).
impl AlertSink for Vec<Box<dyn AlertSink>> {
    fn write(&mut self, alert: &Alert, json: &str) -> Result<(), SinkError> {
        self.iter_mut().try_for_each(|s| s.write(alert, json))
    }
    fn checkpoint(&mut self) -> Result<(), SinkError> {
        self.iter_mut().try_for_each(|s| s.checkpoint())
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        // Finish every sink even if one fails; report the first failure.
        let mut first = None;
        for s in self.iter_mut() {
            if let Err(e) = s.finish() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
    fn share_backlog(&mut self, gauge: std::sync::Arc<std::sync::atomic::AtomicU64>) {
        // One sink at most waits for acknowledgements (`--alerts-kafka`).
        self.iter_mut().for_each(|s| s.share_backlog(gauge.clone()))
    }
    fn describe(&self) -> String {
        self.iter()
            .map(|s| s.describe())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// JSON Lines to a file, or to stdout for `-`.
pub struct JsonlSink {
    name: String,
    out: BufWriter<Box<dyn Write + Send>>,
    /// The file, and a flag (SIGHUP) asking to reopen it: logrotate renames the file, then
    /// signals; the next write goes to a new file of the old name.
    reopen: Option<(PathBuf, Arc<AtomicBool>)>,
}

impl JsonlSink {
    pub fn create(path: &Path) -> Result<JsonlSink, SinkError> {
        let name = path.display().to_string();
        let w: Box<dyn Write + Send> = if name == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(File::create(path).map_err(|e| SinkError {
                sink: name.clone(),
                source: e,
            })?)
        };
        Ok(JsonlSink {
            name,
            out: BufWriter::with_capacity(64 * 1024, w),
            reopen: None,
        })
    }

    pub fn from_writer(name: &str, w: Box<dyn Write + Send>) -> JsonlSink {
        JsonlSink {
            name: name.to_string(),
            out: BufWriter::new(w),
            reopen: None,
        }
    }

    /// Reopen the file (appending) whenever `flag` is set, e.g. by SIGHUP. Not for stdout.
    pub fn reopen_when(mut self, path: &Path, flag: Arc<AtomicBool>) -> JsonlSink {
        if self.name != "-" {
            self.reopen = Some((path.to_path_buf(), flag));
        }
        self
    }

    fn reopen_if_asked(&mut self) -> Result<(), SinkError> {
        let Some((path, flag)) = &self.reopen else {
            return Ok(());
        };
        if !flag.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let err = |e| SinkError {
            sink: self.name.clone(),
            source: e,
        };
        self.out.flush().map_err(err)?;
        let f = File::options()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        self.out = BufWriter::with_capacity(64 * 1024, Box::new(f));
        tracing::info!("{}: reopened (SIGHUP)", self.name);
        Ok(())
    }
}

impl AlertSink for JsonlSink {
    fn write(&mut self, _alert: &Alert, json: &str) -> Result<(), SinkError> {
        self.reopen_if_asked()?;
        let r = self
            .out
            .write_all(json.as_bytes())
            .and_then(|_| self.out.write_all(b"\n"));
        // Broken pipe (e.g. `| head`) is the reader's choice, not an error worth a trace.
        r.map_err(|e| SinkError {
            sink: self.name.clone(),
            source: e,
        })
    }
    fn checkpoint(&mut self) -> Result<(), SinkError> {
        self.reopen_if_asked()?;
        self.out.flush().map_err(|e| SinkError {
            sink: self.name.clone(),
            source: e,
        })
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|e| SinkError {
            sink: self.name.clone(),
            source: e,
        })
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// Keeps alerts in memory (tests, the dashboard).
#[derive(Default)]
pub struct MemorySink {
    pub lines: Vec<String>,
    pub alerts: Vec<Alert>,
}

impl AlertSink for MemorySink {
    fn write(&mut self, alert: &Alert, json: &str) -> Result<(), SinkError> {
        self.lines.push(json.to_string());
        self.alerts.push(alert.clone());
        Ok(())
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn describe(&self) -> String {
        "memory".into()
    }
}
