//! flowsentry: a network-security stream analyzer.
//!
//! Data flows one way: `source` -> `decode` -> `partition` -> `window` (per-shard state) ->
//! `rules` -> `alert` -> `sink`. Threads and channels live only in `pipeline`.

pub mod alert;
pub mod clock;
pub mod conversation;
pub mod dashboard;
pub mod decode;
pub mod flow;
pub mod kafka;
pub mod liveness;
pub mod metrics;
pub mod netflow;
pub mod partition;
pub mod pipeline;
pub mod record;
pub mod rules;
pub mod scrape;
pub mod sflow;
pub mod sink;
pub mod source;
pub mod summary;
pub mod synth;
pub mod telemetry;
pub mod window;
