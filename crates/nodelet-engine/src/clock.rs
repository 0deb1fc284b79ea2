//! The engine's only source of time.
//!
//! Grace periods, back-off and hook sleeps are timing *rules*; reaching time
//! through this trait lets tests run them under tokio's paused clock in
//! milliseconds, while timestamps shown to users stay wall-clock.

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

#[async_trait]
pub trait Clock: Send + Sync + 'static {
    /// Wall-clock now, for status timestamps and events.
    fn now(&self) -> Timestamp;
    /// Monotonic now, for measuring elapsed time.
    fn instant(&self) -> tokio::time::Instant;
    /// Sleeps for `d` on this clock.
    async fn sleep(&self, d: Duration);
}

/// Real time: wall clock from the system, sleeps from tokio.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
    fn instant(&self) -> tokio::time::Instant {
        tokio::time::Instant::now()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
}

/// Time for tests: monotonic time is tokio's (pause it with
/// `tokio::time::pause()` or `#[tokio::test(start_paused = true)]`), and wall
/// time is a fixed origin plus the monotonic time elapsed since creation, so
/// the two never disagree.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin_wall: Timestamp,
    origin: tokio::time::Instant,
}

impl TokioClock {
    pub fn new(origin_wall: Timestamp) -> Self {
        TokioClock {
            origin_wall,
            origin: tokio::time::Instant::now(),
        }
    }
}

#[async_trait]
impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let elapsed = tokio::time::Instant::now().duration_since(self.origin);
        let span = jiff::SignedDuration::try_from(elapsed).unwrap_or(jiff::SignedDuration::MAX);
        self.origin_wall
            .checked_add(span)
            .unwrap_or(self.origin_wall)
    }
    fn instant(&self) -> tokio::time::Instant {
        tokio::time::Instant::now()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paused_clock_moves_wall_time_with_sleeps() {
        let origin: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let c = TokioClock::new(origin);
        c.sleep(Duration::from_secs(30)).await;
        assert_eq!(c.now().to_string(), "2026-01-01T00:00:30Z");
    }
}
