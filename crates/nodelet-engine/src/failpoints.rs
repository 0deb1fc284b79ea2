//! Crash points for the fault-injection suite: places where an agent
//! stopped by `kill -9` leaves the most interesting half-done state
//! (a hook's intent journalled but not delivered, an outcome not yet
//! written, a stop signal sent but the exit not seen...).
//!
//! Compiled in only with the `failpoints` feature (the `fail` crate), so a
//! release build has nothing here. In such a build, `FAILPOINTS` (the
//! `fail` crate's syntax, e.g. `hook-after-intent=1*off->return`) makes the
//! agent SIGKILL itself when it reaches the point, after a line on stderr
//! naming it — deterministic, and as abrupt as a `kill -9` from outside.

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

/// Arms the points named in `FAILPOINTS` (once, at engine start).
pub fn setup() {
    #[cfg(feature = "failpoints")]
    {
        let scenario = fail::FailScenario::setup();
        // Armed for the life of the process.
        std::mem::forget(scenario);
    }
}

/// A crash point: with `failpoints` and the point armed, the agent dies
/// here by SIGKILL; otherwise nothing.
#[inline]
pub fn point(name: &'static str) {
    #[cfg(feature = "failpoints")]
    {
        if fail::eval(name, |_| ()).is_some() {
            eprintln!("nodelet: crash point {name} reached: SIGKILL");
            let me = rustix::process::getpid();
            let _ = rustix::process::kill_process(me, rustix::process::Signal::KILL);
            // SIGKILL cannot be caught; never returns.
            loop {
                std::thread::park();
            }
        }
    }
    let _ = name;
}
