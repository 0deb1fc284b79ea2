//! From marks to what is drawn: per container a lane of consecutive
//! states (waiting, created, postStart running alongside the entrypoint,
//! Running, terminating, back-off, exited), the hook deliveries as bars
//! with their result, grace windows (stop signal → deadline) and point
//! marks (stop signal, SIGKILL, exit with its code, probe failures); for
//! the pod, its deletion and agent restarts. Pure, so the picture's rules
//! are unit-tested without drawing.

use jiff::{SignedDuration, Timestamp};

use crate::model::{Mark, MarkKind, PodTimeline};

/// A container's state over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not created yet (image, sandbox, an earlier container's postStart).
    Waiting,
    /// Created, entrypoint not started.
    Created,
    /// Entrypoint running, postStart not finished: not Running yet.
    Starting,
    Running,
    /// Being killed: preStop, stop signal, grace period.
    Terminating,
    /// Exited, waiting for its CrashLoopBackOff to expire.
    BackOff,
    /// Exited, nothing scheduled (yet).
    Exited,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Created => "created",
            State::Starting => "starting",
            State::Running => "running",
            State::Terminating => "terminating",
            State::BackOff => "backoff",
            State::Exited => "exited",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub state: State,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The container instance during this state, when there is one.
    pub container_id: Option<String>,
}

/// One hook delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct HookBar {
    /// `PostStart` or `PreStop`.
    pub hook: String,
    pub handler: String,
    /// `Succeeded`, `Failed`, `TimedOut`, `Cancelled`, `Interrupted` (the
    /// agent stopped during it; re-delivered) or `Running`.
    pub result: String,
    pub attempt: u32,
    pub start: Timestamp,
    pub end: Timestamp,
    pub message: Option<String>,
}

/// Stop signal sent at `start` with `grace` seconds before SIGKILL; the
/// process ended (or was killed) at `end`.
#[derive(Debug, Clone, PartialEq)]
pub struct GraceWindow {
    pub start: Timestamp,
    pub deadline: Timestamp,
    pub end: Option<Timestamp>,
}

/// A moment worth a symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub t: Timestamp,
    pub kind: MarkKind,
    /// Short text drawn next to it (`SIGTERM`, `exit 1`, `liveness`).
    pub label: String,
    /// Longer text for the tooltip.
    pub detail: String,
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub container: String,
    /// `init`, `sidecar` or `regular`.
    pub kind: String,
    pub segments: Vec<Segment>,
    pub hooks: Vec<HookBar>,
    pub graces: Vec<GraceWindow>,
    pub points: Vec<Point>,
    /// Containers created for this lane beyond the first.
    pub restarts: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub namespace: String,
    pub name: String,
    pub t0: Timestamp,
    pub t1: Timestamp,
    pub lanes: Vec<Lane>,
    /// Pod-wide moments: deletion, agent restarts, gone.
    pub pod_points: Vec<Point>,
}

impl Layout {
    /// Seconds from the start of the picture.
    pub fn secs(&self, t: Timestamp) -> f64 {
        t.duration_since(self.t0).as_secs_f64()
    }
    pub fn span_secs(&self) -> f64 {
        self.secs(self.t1).max(0.001)
    }
}

fn secs_text(d: SignedDuration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1}s")
    } else {
        format!("{s:.0}s")
    }
}

/// Lays out `tl`; `now` ends what is still going on (a running container,
/// a hook in flight) unless the pod is gone.
pub fn layout(tl: &PodTimeline, now: Timestamp) -> Layout {
    let causal = in_causal_order(&tl.marks);
    let marks: Vec<&Mark> = causal.iter().collect();
    let t0 = marks.first().map_or(now, |m| m.time);
    let gone = marks
        .iter()
        .find(|m| m.kind == MarkKind::PodGone)
        .map(|m| m.time);
    let last = marks.last().map_or(now, |m| m.time);
    let t1 = gone.unwrap_or_else(|| last.max(now)).max(t0);
    let restarts: Vec<Timestamp> = marks
        .iter()
        .filter(|m| m.kind == MarkKind::AgentRestarted)
        .map(|m| m.time)
        .collect();

    let mut names: Vec<(String, String)> = tl
        .spec
        .containers
        .iter()
        .map(|c| (c.name.clone(), c.kind.clone()))
        .collect();
    for m in &marks {
        if let Some(c) = &m.container
            && !names.iter().any(|(n, _)| n == c)
        {
            names.push((c.clone(), "regular".to_owned()));
        }
    }
    let lanes = names
        .into_iter()
        .map(|(name, kind)| {
            let mine: Vec<&Mark> = marks
                .iter()
                .copied()
                .filter(|m| m.container.as_deref() == Some(name.as_str()))
                .collect();
            lane(name, kind, &mine, t0, t1, &restarts)
        })
        .collect();

    let pod_points = marks
        .iter()
        .filter_map(|m| {
            let (label, detail) = match m.kind {
                MarkKind::PodDeleted => {
                    let g = m
                        .grace_seconds
                        .map(|g| format!(", grace {g}s"))
                        .unwrap_or_default();
                    ("deleted".to_owned(), format!("deletion requested{g}"))
                }
                MarkKind::AgentRestarted => (
                    "agent restart".to_owned(),
                    "nodelet restarted and took the pod over again".to_owned(),
                ),
                MarkKind::PodGone => (
                    "gone".to_owned(),
                    "pod removed: every container stopped".to_owned(),
                ),
                _ => return None,
            };
            Some(Point {
                t: m.time,
                kind: m.kind,
                label,
                detail,
                exit_code: None,
            })
        })
        .collect();

    Layout {
        namespace: tl.metadata.namespace.clone().unwrap_or_default(),
        name: tl.metadata.name.clone().unwrap_or_default(),
        t0,
        t1,
        lanes,
        pod_points,
    }
}

/// The marks by time, with a container's exit never before its own
/// creation, start or Running mark. Those are stamped by different clocks
/// at different moments: a process that exits at once (`exit 7`) has
/// finished, by the runtime's exit time, a few milliseconds before the
/// runtime's start handshake returned and before the agent marked it
/// Running; drawn by raw times the lane would go exited → running.
fn in_causal_order(marks: &[Mark]) -> Vec<Mark> {
    use std::collections::HashMap;
    let mut latest: HashMap<&str, Timestamp> = HashMap::new();
    for m in marks {
        if let (MarkKind::Created | MarkKind::Started | MarkKind::Running, Some(id)) =
            (m.kind, m.container_id.as_deref())
        {
            let t = latest.entry(id).or_insert(m.time);
            *t = (*t).max(m.time);
        }
    }
    let mut out: Vec<Mark> = marks.to_vec();
    for m in &mut out {
        if m.kind == MarkKind::Exited
            && let Some(t) = m.container_id.as_deref().and_then(|id| latest.get(id))
        {
            m.time = m.time.max(*t);
        }
    }
    // Within one moment, a container's life in its order (the clamped exit
    // shares its time with the Running mark that was recorded after it);
    // otherwise, stable, the order they were recorded in.
    out.sort_by_key(|m| (m.time, same_moment_rank(m.kind)));
    out
}

fn same_moment_rank(kind: MarkKind) -> u8 {
    match kind {
        MarkKind::Created => 0,
        MarkKind::Started => 1,
        MarkKind::Running => 2,
        MarkKind::Exited => 4,
        MarkKind::BackOff => 5,
        MarkKind::PodGone => 6,
        _ => 3,
    }
}

fn lane(
    container: String,
    kind: String,
    marks: &[&Mark],
    t0: Timestamp,
    t1: Timestamp,
    restarts: &[Timestamp],
) -> Lane {
    let mut segments = Vec::new();
    let mut hooks: Vec<HookBar> = Vec::new();
    let mut open_hooks: Vec<HookBar> = Vec::new();
    let mut graces: Vec<GraceWindow> = Vec::new();
    let mut points = Vec::new();
    let mut state = State::Waiting;
    let mut since = t0;
    let mut cid: Option<String> = None;
    let mut created = 0u32;

    let close = |segments: &mut Vec<Segment>,
                 state: State,
                 since: Timestamp,
                 at: Timestamp,
                 cid: &Option<String>| {
        if at > since || (at == since && state != State::Waiting) {
            segments.push(Segment {
                state,
                start: since,
                end: at.max(since),
                container_id: cid.clone(),
            });
        }
    };

    for m in marks {
        let t = m.time;
        match m.kind {
            MarkKind::Created => {
                close(&mut segments, state, since, t, &cid);
                created += 1;
                cid = m.container_id.clone();
                state = State::Created;
                since = t;
            }
            MarkKind::Started => {
                close(&mut segments, state, since, t, &cid);
                state = State::Starting;
                since = t;
            }
            MarkKind::Running => {
                close(&mut segments, state, since, t, &cid);
                state = State::Running;
                since = t;
            }
            MarkKind::Killing => {
                if !matches!(state, State::Exited | State::BackOff | State::Waiting) {
                    close(&mut segments, state, since, t, &cid);
                    state = State::Terminating;
                    since = t;
                }
                points.push(Point {
                    t,
                    kind: m.kind,
                    label: "kill".to_owned(),
                    detail: m
                        .message
                        .clone()
                        .or(m.reason.clone())
                        .unwrap_or_else(|| "Killing".to_owned()),
                    exit_code: None,
                });
            }
            MarkKind::StopSignal => {
                let sig = m.signal.clone().unwrap_or_else(|| "SIGTERM".to_owned());
                let grace = m.grace_seconds.unwrap_or(0);
                graces.push(GraceWindow {
                    start: t,
                    deadline: t.checked_add(SignedDuration::from_secs(grace)).unwrap_or(t),
                    end: None,
                });
                points.push(Point {
                    t,
                    kind: m.kind,
                    label: sig.clone(),
                    detail: format!("{sig} sent, {grace}s before SIGKILL"),
                    exit_code: None,
                });
            }
            MarkKind::Killed => {
                points.push(Point {
                    t,
                    kind: m.kind,
                    label: "SIGKILL".to_owned(),
                    detail: "grace period over: SIGKILL".to_owned(),
                    exit_code: None,
                });
            }
            MarkKind::Exited => {
                close(&mut segments, state, since, t, &cid);
                state = State::Exited;
                since = t;
                for g in graces.iter_mut().filter(|g| g.end.is_none()) {
                    g.end = Some(t);
                }
                // A hook still open when its container died ends with it.
                let id = m.container_id.clone();
                let mut keep = Vec::new();
                for mut h in open_hooks.drain(..) {
                    if id.is_none() || cid == id {
                        h.end = t;
                        h.result = "Cancelled".to_owned();
                        hooks.push(h);
                    } else {
                        keep.push(h);
                    }
                }
                open_hooks = keep;
                let code = m.exit_code.unwrap_or(-1);
                let reason = m.reason.clone().unwrap_or_default();
                points.push(Point {
                    t,
                    kind: m.kind,
                    label: format!("exit {code}"),
                    detail: format!("exited with code {code} {reason}")
                        .trim_end()
                        .to_owned(),
                    exit_code: m.exit_code,
                });
            }
            MarkKind::BackOff => {
                if state == State::Exited {
                    state = State::BackOff;
                }
                let delay = match (m.until, m.grace_seconds) {
                    (Some(u), _) => secs_text(u.duration_since(t).max(SignedDuration::ZERO)),
                    _ => String::new(),
                };
                points.push(Point {
                    t,
                    kind: m.kind,
                    label: format!("back-off {delay}").trim_end().to_owned(),
                    detail: m
                        .message
                        .clone()
                        .unwrap_or_else(|| "CrashLoopBackOff".to_owned()),
                    exit_code: None,
                });
            }
            MarkKind::ProbeFailed => {
                let probe = m.probe.clone().unwrap_or_else(|| "probe".to_owned());
                points.push(Point {
                    t,
                    kind: m.kind,
                    label: probe.clone(),
                    detail: format!(
                        "{probe} probe failed: {}",
                        m.message.clone().unwrap_or_default()
                    ),
                    exit_code: None,
                });
            }
            MarkKind::HookStarted => {
                let hook = m.hook.clone().unwrap_or_default();
                // An earlier attempt of the same delivery still open was
                // cut short by an agent restart.
                if let Some(pos) = open_hooks.iter().position(|h| h.hook == hook) {
                    let mut h = open_hooks.remove(pos);
                    h.end = restarts
                        .iter()
                        .copied()
                        .rfind(|r| *r >= h.start && *r <= t)
                        .unwrap_or(t);
                    h.result = "Interrupted".to_owned();
                    hooks.push(h);
                }
                open_hooks.push(HookBar {
                    hook,
                    handler: m.handler.clone().unwrap_or_default(),
                    result: "Running".to_owned(),
                    attempt: m.attempt.unwrap_or(1),
                    start: t,
                    end: t,
                    message: None,
                });
            }
            MarkKind::HookFinished => {
                let hook = m.hook.clone().unwrap_or_default();
                if let Some(pos) = open_hooks.iter().rposition(|h| h.hook == hook) {
                    let mut h = open_hooks.remove(pos);
                    h.end = t;
                    h.result = m.result.clone().unwrap_or_else(|| "Succeeded".to_owned());
                    h.message = m.message.clone();
                    hooks.push(h);
                }
            }
            _ => {}
        }
    }
    close(&mut segments, state, since, t1, &cid);
    for mut h in open_hooks {
        let cut = restarts.iter().copied().find(|r| *r >= h.start);
        match cut {
            Some(r) => {
                h.end = r;
                h.result = "Interrupted".to_owned();
            }
            None => h.end = t1,
        }
        hooks.push(h);
    }
    hooks.sort_by_key(|h| h.start);
    for g in graces.iter_mut().filter(|g| g.end.is_none()) {
        g.end = Some(t1.min(g.deadline.max(g.start)));
    }
    Lane {
        container,
        kind,
        segments,
        hooks,
        graces,
        points,
        restarts: created.saturating_sub(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContainerRef, TimelineSpec};

    fn t(s: f64) -> Timestamp {
        Timestamp::from_millisecond(1_767_225_600_000 + (s * 1000.0) as i64).unwrap()
    }

    fn m(kind: MarkKind, s: f64) -> Mark {
        Mark::new(kind, t(s)).container("c", Some("id1"))
    }

    fn timeline(marks: Vec<Mark>) -> PodTimeline {
        let mut tl = PodTimeline::new(
            "default",
            "p",
            TimelineSpec {
                pod_uid: "u".into(),
                containers: vec![ContainerRef {
                    name: "c".into(),
                    kind: "regular".into(),
                }],
            },
        );
        tl.push(Mark::new(MarkKind::PodCreated, t(0.0)));
        for mk in marks {
            tl.push(mk);
        }
        tl
    }

    #[test]
    fn a_seed_pod_start_and_deletion() {
        let mut hs = m(MarkKind::HookStarted, 1.1);
        hs.hook = Some("PostStart".into());
        let mut hf = m(MarkKind::HookFinished, 1.4);
        hf.hook = Some("PostStart".into());
        hf.result = Some("Succeeded".into());
        let mut ps = m(MarkKind::HookStarted, 10.0);
        ps.hook = Some("PreStop".into());
        let mut pf = m(MarkKind::HookFinished, 12.0);
        pf.hook = Some("PreStop".into());
        pf.result = Some("Succeeded".into());
        let mut sig = m(MarkKind::StopSignal, 12.0);
        sig.grace_seconds = Some(28);
        let mut ex = m(MarkKind::Exited, 12.5);
        ex.exit_code = Some(0);
        let mut del = Mark::new(MarkKind::PodDeleted, t(10.0));
        del.grace_seconds = Some(30);
        let tl = timeline(vec![
            m(MarkKind::Created, 1.0),
            m(MarkKind::Started, 1.05),
            hs,
            hf,
            m(MarkKind::Running, 1.4),
            del,
            m(MarkKind::Killing, 10.0),
            ps,
            pf,
            sig,
            ex,
            Mark::new(MarkKind::PodGone, t(12.6)),
        ]);
        let l = layout(&tl, t(100.0));
        assert_eq!(l.t1, t(12.6), "a gone pod ends the picture");
        let lane = &l.lanes[0];
        let states: Vec<&str> = lane.segments.iter().map(|s| s.state.as_str()).collect();
        assert_eq!(
            states,
            [
                "waiting",
                "created",
                "starting",
                "running",
                "terminating",
                "exited"
            ]
        );
        for w in lane.segments.windows(2) {
            assert_eq!(w[0].end, w[1].start, "segments are contiguous");
        }
        let hooks: Vec<(&str, &str)> = lane
            .hooks
            .iter()
            .map(|h| (h.hook.as_str(), h.result.as_str()))
            .collect();
        assert_eq!(
            hooks,
            [("PostStart", "Succeeded"), ("PreStop", "Succeeded")]
        );
        assert_eq!(lane.graces.len(), 1);
        assert_eq!(lane.graces[0].deadline, t(40.0));
        assert_eq!(lane.graces[0].end, Some(t(12.5)));
        assert!(lane.points.iter().any(|p| p.label == "exit 0"));
        assert_eq!(l.pod_points.len(), 2);
        assert_eq!(lane.restarts, 0);
    }

    #[test]
    fn an_exit_stamped_before_its_start_handshake_follows_it() {
        // `exit 7`: the runtime saw the exit 3 ms before its start
        // handshake returned, and the agent marked Running after that.
        // The waiter recorded the exit before the Running mark.
        let mut ex = m(MarkKind::Exited, 1.097);
        ex.exit_code = Some(7);
        let marks = vec![
            m(MarkKind::Created, 1.0),
            m(MarkKind::Started, 1.1),
            ex,
            m(MarkKind::Running, 1.101),
        ];
        let l = layout(&timeline(marks), t(2.0));
        let states: Vec<State> = l.lanes[0].segments.iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            [
                State::Waiting,
                State::Created,
                State::Starting,
                State::Running,
                State::Exited
            ]
        );
        let exit = l.lanes[0]
            .points
            .iter()
            .find(|p| p.kind == MarkKind::Exited);
        assert_eq!(exit.map(|p| p.t), Some(t(1.101)));
    }

    #[test]
    fn a_crash_loop_shows_back_off_gaps_and_restarts() {
        let mut marks = Vec::new();
        let mut at = 1.0;
        for i in 0..3 {
            let mut c = m(MarkKind::Created, at);
            c.container_id = Some(format!("id{i}"));
            marks.push(c);
            for kind in [MarkKind::Started, MarkKind::Running] {
                let mut s = m(kind, at + 0.1);
                s.container_id = Some(format!("id{i}"));
                marks.push(s);
            }
            let mut ex = m(MarkKind::Exited, at + 1.0);
            ex.exit_code = Some(1);
            ex.container_id = Some(format!("id{i}"));
            marks.push(ex);
            let delay = 10.0 * f64::from(1 << i);
            let mut b = m(MarkKind::BackOff, at + 1.0);
            b.until = Some(t(at + 1.0 + delay));
            marks.push(b);
            at += 1.0 + delay;
        }
        let l = layout(&timeline(marks), t(at));
        let lane = &l.lanes[0];
        assert_eq!(lane.restarts, 2);
        let backoffs: Vec<f64> = lane
            .segments
            .iter()
            .filter(|s| s.state == State::BackOff)
            .map(|s| s.end.duration_since(s.start).as_secs_f64())
            .collect();
        assert_eq!(backoffs.len(), 3);
        assert!((backoffs[0] - 10.0).abs() < 0.01 && (backoffs[1] - 20.0).abs() < 0.01);
        assert_eq!(
            lane.points
                .iter()
                .filter(|p| p.kind == MarkKind::Exited)
                .count(),
            3
        );
    }

    #[test]
    fn an_interrupted_hook_is_shown_as_such_and_its_redelivery_after() {
        let mut a1 = m(MarkKind::HookStarted, 1.0);
        a1.hook = Some("PostStart".into());
        a1.attempt = Some(1);
        let restart = Mark::new(MarkKind::AgentRestarted, t(3.0));
        let mut a2 = m(MarkKind::HookStarted, 3.2);
        a2.hook = Some("PostStart".into());
        a2.attempt = Some(2);
        let mut f2 = m(MarkKind::HookFinished, 3.5);
        f2.hook = Some("PostStart".into());
        f2.result = Some("Succeeded".into());
        let l = layout(
            &timeline(vec![
                m(MarkKind::Created, 0.5),
                m(MarkKind::Started, 0.6),
                a1,
                restart,
                a2,
                f2,
            ]),
            t(5.0),
        );
        let hooks = &l.lanes[0].hooks;
        assert_eq!(hooks.len(), 2);
        assert_eq!(
            (hooks[0].result.as_str(), hooks[0].end),
            ("Interrupted", t(3.0))
        );
        assert_eq!(
            (hooks[1].result.as_str(), hooks[1].attempt),
            ("Succeeded", 2)
        );
    }
}
