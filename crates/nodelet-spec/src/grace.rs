//! Termination grace arithmetic: how many seconds a container gets between
//! its stop signal and SIGKILL, and how preStop eats into it.
//!
//! Each function is one upstream rule, named in its doc comment, so the
//! engine can compose them the way the kubelet does:
//!
//! * deleting a pod: [`deletion_grace`] (API server) → [`kubelet_grace`]
//!   (pod worker) → per container [`kill_grace`] with the deletion grace →
//!   preStop → [`grace_after_pre_stop`];
//! * killing one container (liveness/startup failure, postStart failure):
//!   [`kill_grace`] without a deletion grace → preStop →
//!   [`grace_after_pre_stop`].

use std::time::Duration;

/// The kubelet never gives a container less than this between the stop
/// signal and SIGKILL (`minimumGracePeriodInSeconds` in kuberuntime).
pub const MINIMUM_GRACE_PERIOD_SECONDS: i64 = 2;

/// `spec.terminationGracePeriodSeconds` after API defaulting.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;

/// The pod worker's floor: even a force delete (0) gives 1 s.
pub const MINIMUM_POD_GRACE_PERIOD_SECONDS: i64 = 1;

/// The grace period the API server records for a pod deletion
/// (`podStrategy.CheckGracefulDelete`): the request's
/// `gracePeriodSeconds`, else the spec's (defaulted to 30 when unset); 0
/// when the pod is already terminal (Succeeded/Failed); a negative value
/// becomes 1.
pub fn deletion_grace(request: Option<i64>, spec: Option<i64>, pod_terminal: bool) -> i64 {
    let period = if pod_terminal {
        0
    } else {
        request
            .or(spec)
            .unwrap_or(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS)
    };
    if period < 0 { 1 } else { period }
}

/// A second delete of a pod that is already terminating
/// (`rest.BeforeDelete`): the recorded grace can only shrink. `existing` is
/// the pod's current `deletionGracePeriodSeconds`, `requested` the new
/// request's already-normalised grace ([`deletion_grace`]).
pub fn redelete_grace(existing: i64, requested: i64) -> i64 {
    existing.min(requested)
}

/// The pod worker's effective grace for a terminating pod
/// (`calculateEffectiveGracePeriod`): starts from the value already in use
/// (`current`, `None` before termination began), takes the API server's
/// `deletion` grace and a kubelet-internal `override_` (eviction) only when
/// they are shorter, falls back to the spec when nothing set it, and is
/// never below 1. Returns the grace and whether deletion/override set it.
pub fn kubelet_grace(
    current: Option<i64>,
    deletion: Option<i64>,
    override_: Option<i64>,
    spec: Option<i64>,
) -> (i64, bool) {
    // Upstream keeps 0 as "not set yet".
    let mut grace = current.unwrap_or(0);
    let mut overridden = false;
    for candidate in [deletion, override_].into_iter().flatten() {
        if grace == 0 || candidate < grace {
            grace = candidate;
            overridden = true;
        }
    }
    if !overridden
        && grace == 0
        && let Some(spec) = spec
    {
        grace = spec;
    }
    (grace.max(MINIMUM_POD_GRACE_PERIOD_SECONDS), overridden)
}

/// The grace `killContainer` starts from (`setTerminationGracePeriod`):
/// the pod's deletion grace if set; else, when the spec has a grace, the
/// failing probe's own `terminationGracePeriodSeconds` (liveness/startup
/// kills only) or else the spec's; else 2. Note the probe's value is only
/// consulted when the spec has one, exactly as upstream (after defaulting
/// the spec always has one).
pub fn kill_grace(deletion: Option<i64>, probe_override: Option<i64>, spec: Option<i64>) -> i64 {
    match (deletion, spec) {
        (Some(deletion), _) => deletion,
        (None, Some(spec)) => probe_override.unwrap_or(spec),
        (None, None) => MINIMUM_GRACE_PERIOD_SECONDS,
    }
}

/// Whether preStop runs at all: it must be defined and the grace positive
/// (`killContainer`).
pub fn runs_pre_stop(has_pre_stop: bool, grace: i64) -> bool {
    has_pre_stop && grace > 0
}

/// How long the kubelet waits for preStop before giving up on it: the
/// whole grace (`executePreStopHook`).
pub fn pre_stop_timeout(grace: i64) -> Duration {
    Duration::from_secs(u64::try_from(grace).unwrap_or(0))
}

/// Grace left after waiting `elapsed` (preStop, or termination ordering
/// for sidecars): whole seconds are subtracted, fractions are not
/// (upstream truncates `Seconds()` to int64). Not clamped, so further
/// waits can be subtracted before [`stop_grace`].
pub fn remaining_grace(grace: i64, elapsed: Duration) -> i64 {
    let used = i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX);
    grace.saturating_sub(used)
}

/// The grace given to the runtime's stop (signal, wait, SIGKILL): never
/// below [`MINIMUM_GRACE_PERIOD_SECONDS`] "to avoid unnecessary SIGKILLs".
pub fn stop_grace(grace: i64) -> i64 {
    grace.max(MINIMUM_GRACE_PERIOD_SECONDS)
}

/// [`remaining_grace`] then [`stop_grace`]: the seconds between the stop
/// signal and SIGKILL after a preStop hook that took `pre_stop_elapsed`.
pub fn grace_after_pre_stop(grace: i64, pre_stop_elapsed: Duration) -> i64 {
    stop_grace(remaining_grace(grace, pre_stop_elapsed))
}
