//! flowsentry: a network-security stream analyzer.
//!
//! Data flows one way: `source` -> `decode` -> `partition` -> `window` (per-shard state) ->
//! `rules` -> `alert` -> `sink`. Threads and channels live only in `pipeline`.

pub mod decode;
pub mod record;
