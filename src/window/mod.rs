//! Windows: event time cut into micro-batches, panes of counters, distinct sets.
//!
//! In: records with capture times. Out: batch indices, pane counters and distinct sets
//! that the shard state merges into window metrics.
//! Guarantees: a batch is `[k * batch_ns, (k + 1) * batch_ns)` of capture time, aligned to
//! the Unix epoch, so every shard and every run cuts time the same way.

pub mod distinct;
pub mod key;
pub mod keyed;
pub mod pane;
pub mod skew;
mod state;
pub mod topk;
pub mod watermark;

pub use distinct::DistinctSet;
pub use key::{FlowKey, WindowKey};
pub use keyed::{KeyedConfig, KeyedStats, KeyedWindows, Totals};
pub use pane::{Counters, PaneRing};
pub use skew::SkewGuard;
pub use watermark::WatermarkTracker;
