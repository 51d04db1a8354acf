//! Sinks: where rendered alerts go (JSON Lines files or stdout now; Kafka later).
//!
//! In: alerts in their final order with their JSON text. Out: bytes on a file or stream.
//! Guarantees: one line per alert, `\n`-terminated, flushed by `finish`; a write error is
//! returned with the sink's name, never ignored.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

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
    fn finish(&mut self) -> Result<(), SinkError>;
    fn describe(&self) -> String;
}

/// JSON Lines to a file, or to stdout for `-`.
pub struct JsonlSink {
    name: String,
    out: BufWriter<Box<dyn Write + Send>>,
}

impl JsonlSink {
    pub fn create(path: &Path) -> Result<JsonlSink, SinkError> {
        let name = path.display().to_string();
        let w: Box<dyn Write + Send> = if name == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(File::create(path).map_err(|e| SinkError { sink: name.clone(), source: e })?)
        };
        Ok(JsonlSink { name, out: BufWriter::with_capacity(64 * 1024, w) })
    }

    pub fn from_writer(name: &str, w: Box<dyn Write + Send>) -> JsonlSink {
        JsonlSink { name: name.to_string(), out: BufWriter::new(w) }
    }
}

impl AlertSink for JsonlSink {
    fn write(&mut self, _alert: &Alert, json: &str) -> Result<(), SinkError> {
        let r = self.out.write_all(json.as_bytes()).and_then(|_| self.out.write_all(b"\n"));
        // Broken pipe (e.g. `| head`) is the reader's choice, not an error worth a trace.
        r.map_err(|e| SinkError { sink: self.name.clone(), source: e })
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|e| SinkError { sink: self.name.clone(), source: e })
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
