//! Crash points for the fault-injection suite: places where an agent
//! stopped by `kill -9` leaves the most interesting half-done state
//! (a hook's intent journalled but not delivered, an outcome not yet
//! written, a stop signal sent but the exit not seen...).
//!
//! Compiled into debug builds only (`cfg(debug_assertions)`): the test
//! suite's own build carries them, so no second build with other features
//! is needed, and a release build has nothing here (`point` is empty).
//! `NODELET_CRASH_AT=<point>[@<n>]`, read once at engine start, arms one
//! point: the agent SIGKILLs itself at its n-th hit (default the first),
//! after a line on stderr naming it — deterministic, and as abrupt as a
//! `kill -9` from outside. An unknown point name is an error at start.
//! Written here rather than with the `fail` crate: one point armed by one
//! variable is a few lines, and `fail` only compiles its points in with a
//! feature (hence a second build).

use crate::error::{EngineError, Result};

/// Every crash point, for the suite and the docs.
pub const POINTS: &[&str] = &[
    "after-image-before-create",
    "after-create-before-journal",
    "hook-after-intent",
    "hook-before-outcome",
    "after-poststart-before-running",
    "kill-after-stop-signal",
    "kill-before-prestop",
    "backoff-entered",
    "teardown-between-containers",
    "probe-kill-started",
];

/// The environment variable that arms a crash point.
pub const ENV: &str = "NODELET_CRASH_AT";

/// An armed point: its name and the hit that kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Armed {
    pub point: &'static str,
    pub at: u64,
}

/// Parses `<point>[@<n>]` (n ≥ 1).
pub fn parse(value: &str) -> Result<Armed> {
    let invalid = |reason: String| EngineError::Invalid {
        what: ENV.to_owned(),
        reason,
    };
    let (name, at) = match value.split_once('@') {
        Some((name, n)) => {
            let at = n.parse::<u64>().ok().filter(|&n| n >= 1).ok_or_else(|| {
                invalid(format!(
                    "\"{value}\": the hit count after '@' must be a whole number ≥ 1"
                ))
            })?;
            (name, at)
        }
        None => (value, 1),
    };
    let point = POINTS.iter().find(|p| **p == name).ok_or_else(|| {
        invalid(format!(
            "unknown crash point \"{name}\" (known: {})",
            POINTS.join(", ")
        ))
    })?;
    Ok(Armed { point, at })
}

#[cfg(debug_assertions)]
mod armed {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    pub(super) static ARMED: OnceLock<Option<super::Armed>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);

    /// Counts a hit of the armed point; true at the one that kills.
    pub(super) fn hit(name: &str) -> bool {
        match ARMED.get() {
            Some(Some(a)) if a.point == name => HITS.fetch_add(1, Ordering::SeqCst) + 1 == a.at,
            _ => false,
        }
    }
}

/// Reads [`ENV`] (once per process: a second engine in the same process
/// keeps the first reading) and arms the point it names. An unknown name
/// or a bad count is an error; in a release build a set variable is only
/// warned about, since there are no points to arm.
pub fn setup() -> Result<()> {
    let value = match std::env::var(ENV) {
        Ok(v) if !v.is_empty() => v,
        _ => return Ok(()),
    };
    let armed = parse(&value)?;
    #[cfg(debug_assertions)]
    {
        let armed = *armed::ARMED.get_or_init(|| Some(armed));
        if let Some(a) = armed {
            tracing::warn!(point = a.point, hit = a.at, "crash point armed ({ENV})");
        }
    }
    #[cfg(not(debug_assertions))]
    tracing::warn!(
        point = armed.point,
        "{ENV} is set but this is a release build: no crash points are compiled in"
    );
    Ok(())
}

/// A crash point: in a debug build with this point armed, the agent dies
/// here by SIGKILL at the armed hit; otherwise nothing.
#[inline]
pub fn point(name: &'static str) {
    #[cfg(debug_assertions)]
    if armed::hit(name) {
        eprintln!("nodelet: crash point {name} reached: SIGKILL");
        let me = rustix::process::getpid();
        let _ = rustix::process::kill_process(me, rustix::process::Signal::KILL);
        // SIGKILL cannot be caught; never returns.
        loop {
            std::thread::park();
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_alone_kills_at_its_first_hit() {
        assert_eq!(
            parse("hook-after-intent").unwrap(),
            Armed {
                point: "hook-after-intent",
                at: 1
            }
        );
    }

    #[test]
    fn a_hit_count_after_the_at_sign() {
        assert_eq!(parse("backoff-entered@3").unwrap().at, 3);
    }

    #[test]
    fn an_unknown_point_is_refused_listing_the_known_ones() {
        let e = parse("hook-after-intnet").unwrap_err().to_string();
        assert!(e.contains("NODELET_CRASH_AT"), "{e}");
        assert!(
            e.contains("unknown crash point \"hook-after-intnet\""),
            "{e}"
        );
        for p in POINTS {
            assert!(e.contains(p), "{p} not listed in: {e}");
        }
    }

    #[test]
    fn a_bad_count_is_refused() {
        for v in ["backoff-entered@0", "backoff-entered@", "backoff-entered@x"] {
            let e = parse(v).unwrap_err().to_string();
            assert!(e.contains("whole number"), "{v}: {e}");
        }
    }

    #[test]
    fn unarmed_points_do_nothing() {
        // No engine armed anything in this test binary's process with this
        // point's name: a hit returns.
        for p in POINTS {
            point(p);
        }
    }
}
