//! Rule reload: new rules for a running pipeline, checked before they replace the old.
//!
//! In: a reload request (SIGHUP raises `RuleReload::requested`) and a loader. Out: the new
//! rule set rebased against the running one (`rules::rebase`) with its [`Carry`], or why it
//! cannot run. Guarantees: a rejected set changes nothing; an accepted one fits the run's
//! batch interval and memory budget.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::PipelineConfig;
use crate::rules::{Carry, RuleSet};

/// How a running pipeline gets new rules: `requested` is raised (by SIGHUP), and the reader
/// calls `load` between two records. A rule set that does not load or does not fit the run
/// (batch interval, memory) is rejected, logged and counted; the old rules keep running.
#[derive(Clone)]
pub struct RuleReload {
    pub requested: Arc<AtomicBool>,
    pub load: Arc<dyn Fn() -> Result<RuleSet, String> + Send + Sync>,
}

impl std::fmt::Debug for RuleReload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleReload").finish_non_exhaustive()
    }
}

/// Load the rules again and rebase them against the running ones; an error says why the
/// new rules cannot run (they do not load, a window is no whole number of batches, or the
/// conversation table they need would leave no memory for windows).
pub(super) fn reload_rules(
    rl: &RuleReload,
    running: &RuleSet,
    cfg: &PipelineConfig,
    conv_bytes: usize,
    shard_bytes: usize,
) -> Result<(Arc<RuleSet>, Carry), String> {
    let new = (rl.load)()?;
    new.check_batch(cfg.batch_ns)?;
    if new.needs_conversations() && conv_bytes >= shard_bytes {
        return Err(format!(
            "its outcome rules need conversation tables that would take all of --max-state {} MiB",
            cfg.max_state_bytes >> 20
        ));
    }
    let (new, carry) = crate::rules::rebase(running, new);
    tracing::warn!("rules reloaded from {}: {}", new.source, carry.describe());
    Ok((Arc::new(new), carry))
}
