//! A probe's timing and thresholds with the API server's defaults
//! (`SetDefaults_Probe`): period 10 s, timeout 1 s, thresholds 1 and 3; a
//! zero (unset) value takes the default, so a worker never spins.

use std::time::Duration;

use k8s_openapi::api::core::v1::Probe;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

fn secs_or(v: Option<i32>, default: u64) -> Duration {
    match v.and_then(|v| u64::try_from(v).ok()) {
        Some(0) | None => Duration::from_secs(default),
        Some(s) => Duration::from_secs(s),
    }
}

fn count_or(v: Option<i32>, default: u32) -> u32 {
    match v.and_then(|v| u32::try_from(v).ok()) {
        Some(0) | None => default,
        Some(n) => n,
    }
}

impl Timing {
    pub fn of(p: &Probe) -> Self {
        let delay = p
            .initial_delay_seconds
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0);
        Timing {
            initial_delay: Duration::from_secs(delay),
            period: secs_or(p.period_seconds, 10),
            timeout: secs_or(p.timeout_seconds, 1),
            success_threshold: count_or(p.success_threshold, 1),
            failure_threshold: count_or(p.failure_threshold, 3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_unset_and_zero_values() {
        let t = Timing::of(&Probe::default());
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(1));
        assert_eq!((t.success_threshold, t.failure_threshold), (1, 3));
        let t = Timing::of(&Probe {
            initial_delay_seconds: Some(5),
            period_seconds: Some(0),
            timeout_seconds: Some(3),
            failure_threshold: Some(1),
            ..Default::default()
        });
        assert_eq!(t.initial_delay, Duration::from_secs(5));
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(3));
        assert_eq!(t.failure_threshold, 1);
    }
}
