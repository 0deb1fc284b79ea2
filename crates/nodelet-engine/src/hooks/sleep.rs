//! The `sleep` handler: waits in the agent, on the engine's clock, so grace
//! period arithmetic around a preStop sleep is testable under paused time.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;

use super::message::SLEEP_CANCELLED;

/// Sleeps `seconds` (0 returns at once, negative is treated as 0: validation
/// rejects it before a pod gets here), or fails with the kubelet's error
/// when `cancel` fires first.
pub(super) async fn run(
    clock: &dyn Clock,
    seconds: i64,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let d = Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
    // Like Go's select, a cancelled context wins only if it is already done
    // or fires first; `biased` makes an already-cancelled token deterministic.
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(SLEEP_CANCELLED.to_string()),
        () = clock.sleep(d) => Ok(()),
    }
}
