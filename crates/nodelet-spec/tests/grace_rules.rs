//! Table tests for the termination grace rules (reference §3; upstream
//! CheckGracefulDelete, calculateEffectiveGracePeriod,
//! setTerminationGracePeriod and killContainer).

use std::time::Duration;

use nodelet_spec::grace::*;

#[test]
fn deletion_grace_table() {
    // (request, spec, terminal) -> grace
    let table = [
        (None, None, false, 30),
        (None, Some(45), false, 45),
        (Some(5), Some(45), false, 5),
        (Some(0), Some(45), false, 0),
        (Some(-1), Some(45), false, 1),
        (None, Some(-7), false, 1),
        (Some(60), Some(45), false, 60),
        (Some(5), Some(45), true, 0),
        (None, None, true, 0),
        (Some(-1), None, true, 0),
    ];
    for (request, spec, terminal, want) in table {
        assert_eq!(
            deletion_grace(request, spec, terminal),
            want,
            "{request:?} {spec:?} {terminal}"
        );
    }
}

#[test]
fn redelete_only_shrinks() {
    assert_eq!(redelete_grace(30, 10), 10);
    assert_eq!(redelete_grace(10, 30), 10);
    assert_eq!(redelete_grace(10, 0), 0);
}

#[test]
fn kubelet_grace_table() {
    // (current, deletion, override, spec) -> (grace, overridden)
    let table = [
        // Deleted with the spec's grace.
        (None, Some(30), None, Some(30), (30, true)),
        // Force delete (0) still gets 1 s at the kubelet.
        (None, Some(0), None, Some(30), (1, true)),
        // A later, shorter deletion shrinks the grace in use.
        (Some(30), Some(10), None, Some(30), (10, true)),
        // A longer one does not extend it.
        (Some(10), Some(30), None, Some(30), (10, false)),
        // Eviction override shorter than deletion wins.
        (None, Some(30), Some(5), Some(30), (5, true)),
        (None, Some(3), Some(5), Some(30), (3, true)),
        // Terminated without deletion (e.g. restartPolicy Never pod done): spec.
        (None, None, None, Some(45), (45, false)),
        (None, None, None, Some(0), (1, false)),
        (None, None, None, None, (1, false)),
        (Some(12), None, None, Some(45), (12, false)),
    ];
    for (current, deletion, override_, spec, want) in table {
        assert_eq!(
            kubelet_grace(current, deletion, override_, spec),
            want,
            "{current:?} {deletion:?} {override_:?} {spec:?}"
        );
    }
}

#[test]
fn kill_grace_table() {
    // (deletion, probe override, spec) -> grace
    let table = [
        (Some(7), Some(3), Some(30), 7),
        (Some(0), Some(3), Some(30), 0),
        (None, Some(3), Some(30), 3),
        (None, None, Some(30), 30),
        (None, None, Some(0), 0),
        // Upstream only looks at the probe's value when the spec has one.
        (None, Some(3), None, 2),
        (None, None, None, 2),
    ];
    for (deletion, probe, spec, want) in table {
        assert_eq!(
            kill_grace(deletion, probe, spec),
            want,
            "{deletion:?} {probe:?} {spec:?}"
        );
    }
}

#[test]
fn pre_stop_runs_only_with_positive_grace() {
    assert!(runs_pre_stop(true, 1));
    assert!(!runs_pre_stop(true, 0));
    assert!(!runs_pre_stop(false, 30));
    assert_eq!(pre_stop_timeout(30), Duration::from_secs(30));
    assert_eq!(pre_stop_timeout(-1), Duration::ZERO);
}

#[test]
fn grace_after_pre_stop_table() {
    // (grace, preStop elapsed) -> grace left for the stop signal
    let table = [
        (30, Duration::ZERO, 30),
        (30, Duration::from_millis(999), 30),
        (30, Duration::from_millis(10_999), 20),
        (30, Duration::from_secs(27), 3),
        (30, Duration::from_secs(28), 2),
        (30, Duration::from_secs(29), 2),
        (30, Duration::from_secs(31), 2),
        (1, Duration::from_secs(1), 2),
        (0, Duration::ZERO, 2),
        (100, Duration::from_secs(50), 50),
        (i64::MAX, Duration::from_secs(u64::MAX), 2),
    ];
    for (grace, elapsed, want) in table {
        assert_eq!(
            grace_after_pre_stop(grace, elapsed),
            want,
            "{grace} {elapsed:?}"
        );
    }
}

#[test]
fn remaining_then_stop_grace_compose() {
    // preStop took 10.5 s, then sidecar ordering waited 15.2 s.
    let left = remaining_grace(
        remaining_grace(30, Duration::from_millis(10_500)),
        Duration::from_millis(15_200),
    );
    assert_eq!(left, 5);
    assert_eq!(stop_grace(left), 5);
    assert_eq!(
        stop_grace(remaining_grace(5, Duration::from_secs(9))),
        MINIMUM_GRACE_PERIOD_SECONDS
    );
}

#[test]
fn force_delete_end_to_end() {
    // `kubectl delete --grace-period=0 --force` on a running pod with preStop:
    let api = deletion_grace(Some(0), Some(30), false);
    let (pod_grace, _) = kubelet_grace(None, Some(api), None, Some(30));
    let kill = kill_grace(Some(pod_grace), None, Some(30));
    assert_eq!(kill, 1);
    assert!(runs_pre_stop(true, kill));
    assert_eq!(grace_after_pre_stop(kill, Duration::from_secs(1)), 2);
}
