//! The timeline as SVG: a time axis across, one lane per container.
//!
//! Each lane is a bar of states (grey waiting, light grey created, amber
//! "starting" while postStart runs alongside the entrypoint, green Running,
//! red terminating, hatched back-off) with the hook deliveries as thin bars
//! under it (colour = result), the grace window as a bracket from the stop
//! signal to its deadline, and symbols for the stop signal (▼), SIGKILL (✕),
//! the exit (a circle with the code, green for 0), probe failures (!) and
//! kills. Pod-wide moments (deletion, agent restarts) are dashed lines
//! across every lane. Every element carries `data-*` attributes (container,
//! state or kind, RFC 3339 times) for tests and the web page.

use std::fmt::Write as _;

use jiff::Timestamp;

use super::{esc, stamp};
use crate::layout::{Layout, State};
use crate::model::MarkKind;

/// The label column's width: at least this, wider for long container
/// names up to [`LEFT_MAX`], past which a name is cut with "…" (the whole
/// name stays in its tooltip).
const LEFT: f64 = 170.0;
const LEFT_MAX: f64 = 360.0;
/// A bold 12 px DejaVu Sans character, generously.
const LABEL_CHAR_W: f64 = 8.0;
const PLOT: f64 = 880.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 58.0;
const LANE: f64 = 64.0;
const BAR_Y: f64 = 16.0;
const BAR_H: f64 = 22.0;
const HOOK_Y: f64 = 42.0;
const HOOK_H: f64 = 9.0;

fn state_fill(s: State) -> &'static str {
    match s {
        State::Waiting => "#e0e0e0",
        State::Created => "#bdbdbd",
        State::Starting => "#f6c85f",
        State::Running => "#66bb6a",
        State::Terminating => "#ef9a9a",
        State::BackOff => "url(#hatch)",
        State::Exited => "#f5f5f5",
    }
}

fn result_fill(r: &str) -> &'static str {
    match r {
        "Succeeded" => "#2e7d32",
        "Failed" => "#c62828",
        "TimedOut" => "#ef6c00",
        "Cancelled" => "#757575",
        "Interrupted" => "#6a1b9a",
        _ => "#1565c0",
    }
}

fn result_symbol(r: &str) -> &'static str {
    match r {
        "Succeeded" => "✓",
        "Failed" => "✗",
        // A clock face in DejaVu Sans (the web page's and the renderer's
        // font; ⏱ is not in it and was drawn as an empty box).
        "TimedOut" => "◷",
        "Cancelled" => "⊘",
        "Interrupted" => "↻",
        _ => "…",
    }
}

/// A readable tick step for a span, at most ~10 ticks.
fn tick_step(span: f64) -> f64 {
    const STEPS: [f64; 16] = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
        7200.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 10.0)
        .unwrap_or(14400.0)
}

fn rel(secs: f64) -> String {
    if secs >= 120.0 {
        let m = (secs / 60.0).floor();
        let s = secs - m * 60.0;
        if s < 0.05 {
            format!("+{m:.0}m")
        } else {
            format!("+{m:.0}m{s:.0}s")
        }
    } else if (secs - secs.round()).abs() < 1e-6 {
        format!("+{secs:.0}s")
    } else {
        format!("+{secs:.1}s")
    }
}

fn dur(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.0}ms", secs * 1000.0)
    } else if secs < 120.0 {
        format!("{secs:.1}s")
    } else {
        format!("{:.0}m{:.0}s", (secs / 60.0).floor(), secs % 60.0)
    }
}

struct Scale<'a> {
    l: &'a Layout,
    /// Where the plot begins (the label column's width).
    left: f64,
}

impl Scale<'_> {
    fn x(&self, t: Timestamp) -> f64 {
        let f = (self.l.secs(t) / self.l.span_secs()).clamp(0.0, 1.0);
        self.left + f * PLOT
    }
}

/// A lane's label: the container's name and its kind.
fn lane_label(container: &str, kind: &str) -> String {
    let kind = match kind {
        "init" => " (init)",
        "sidecar" => " (sidecar)",
        _ => "",
    };
    format!("{container}{kind}")
}

/// The label column's width for these lanes.
fn left_margin(l: &Layout) -> f64 {
    let longest = l
        .lanes
        .iter()
        .map(|lane| lane_label(&lane.container, &lane.kind).chars().count())
        .max()
        .unwrap_or(0);
    (12.0 + LABEL_CHAR_W * longest as f64 + 12.0).clamp(LEFT, LEFT_MAX)
}

/// `label` cut to fit the label column, with "…" when cut.
fn fit_label(label: &str, left: f64) -> String {
    let room = ((left - 24.0) / LABEL_CHAR_W).floor().max(1.0) as usize;
    if label.chars().count() <= room {
        label.to_owned()
    } else {
        let mut cut: String = label.chars().take(room.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// Renders the layout as a standalone SVG document.
pub fn svg(l: &Layout) -> String {
    let left = left_margin(l);
    let sc = Scale { l, left };
    let lanes_h = LANE * l.lanes.len().max(1) as f64;
    let axis_y = TOP + lanes_h + 8.0;
    let legend_y = axis_y + 40.0;
    let height = legend_y + 58.0;
    let width = left + PLOT + RIGHT;
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="nodelet-timeline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12" data-pod="{}/{}" data-t0="{}" data-t1="{}">"#,
        esc(&l.namespace),
        esc(&l.name),
        stamp(l.t0),
        stamp(l.t1)
    );
    o.push_str(
        r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eeeeee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#9e9e9e" stroke-width="2"/></pattern></defs>"##,
    );
    let _ = write!(
        o,
        r##"<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/><text class="title" x="12" y="22" font-size="15" font-weight="bold">Pod {}/{}</text><text x="12" y="40" fill="#555">from {} UTC, {} shown</text>"##,
        esc(&l.namespace),
        esc(&l.name),
        esc(&l.t0.strftime("%Y-%m-%d %H:%M:%S").to_string()),
        dur(l.span_secs())
    );
    // Grid and axis.
    let step = tick_step(l.span_secs());
    let mut k = 0.0;
    let _ = write!(o, r#"<g class="axis" data-step="{step}">"#);
    while k <= l.span_secs() + 1e-9 {
        let x = left + k / l.span_secs() * PLOT;
        let _ = write!(
            o,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{axis_y}" stroke="#eeeeee"/><line x1="{x:.1}" y1="{axis_y}" x2="{x:.1}" y2="{:.1}" stroke="#444"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#444">{}</text>"##,
            axis_y + 5.0,
            axis_y + 18.0,
            rel(k)
        );
        k += step;
    }
    let _ = write!(
        o,
        r##"<line x1="{left}" y1="{axis_y}" x2="{:.1}" y2="{axis_y}" stroke="#444"/></g>"##,
        left + PLOT
    );
    for (i, lane) in l.lanes.iter().enumerate() {
        let y = TOP + LANE * i as f64;
        let _ = write!(
            o,
            r#"<g class="lane" data-container="{}" data-kind="{}" data-restarts="{}">"#,
            esc(&lane.container),
            esc(&lane.kind),
            lane.restarts
        );
        let label = lane_label(&lane.container, &lane.kind);
        let _ = write!(
            o,
            r##"<text class="lane-label" x="12" y="{:.1}" font-weight="bold">{}<title>{}</title></text><text x="12" y="{:.1}" fill="#666" font-size="11">restarts: {}</text>"##,
            y + BAR_Y + 15.0,
            esc(&fit_label(&label, left)),
            esc(&label),
            y + BAR_Y + 30.0,
            lane.restarts
        );
        for s in &lane.segments {
            let x0 = sc.x(s.start);
            let w = (sc.x(s.end) - x0).max(0.8);
            let _ = write!(
                o,
                r##"<rect class="seg seg-{st}" data-state="{st}" data-container="{c}" data-start="{}" data-end="{}" x="{x0:.1}" y="{:.1}" width="{w:.1}" height="{BAR_H}" fill="{}" stroke="#ffffff" stroke-width="0.5"><title>{c}: {st} {} → {} ({})</title></rect>"##,
                stamp(s.start),
                stamp(s.end),
                y + BAR_Y,
                state_fill(s.state),
                stamp(s.start),
                stamp(s.end),
                dur(s.end.duration_since(s.start).as_secs_f64()),
                st = s.state.as_str(),
                c = esc(&lane.container),
            );
            if s.state == State::BackOff && w > 70.0 {
                let _ = write!(
                    o,
                    r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#424242">back-off {}</text>"##,
                    x0 + 4.0,
                    y + BAR_Y + 15.0,
                    dur(s.end.duration_since(s.start).as_secs_f64())
                );
            }
        }
        for g in &lane.graces {
            let x0 = sc.x(g.start);
            let xd = sc.x(g.deadline);
            let xe = sc.x(g.end.unwrap_or(g.deadline));
            let gy = y + BAR_Y + BAR_H + 1.5;
            let _ = write!(
                o,
                r##"<g class="grace" data-container="{}" data-start="{}" data-deadline="{}"><line x1="{x0:.1}" y1="{gy:.1}" x2="{xd:.1}" y2="{gy:.1}" stroke="#b71c1c" stroke-dasharray="3,2"/><line x1="{x0:.1}" y1="{gy:.1}" x2="{xe:.1}" y2="{gy:.1}" stroke="#b71c1c" stroke-width="2"/><line x1="{xd:.1}" y1="{:.1}" x2="{xd:.1}" y2="{:.1}" stroke="#b71c1c"/><title>grace window: stop signal at {}, SIGKILL due at {}</title></g>"##,
                esc(&lane.container),
                stamp(g.start),
                stamp(g.deadline),
                gy - 3.0,
                gy + 3.0,
                stamp(g.start),
                stamp(g.deadline)
            );
        }
        for h in &lane.hooks {
            let x0 = sc.x(h.start);
            let w = (sc.x(h.end) - x0).max(2.0);
            let hy = y + HOOK_Y;
            let name = if h.hook == "PostStart" {
                "postStart"
            } else {
                "preStop"
            };
            let secs = h.end.duration_since(h.start).as_secs_f64();
            let tip = format!(
                "{name} ({}) attempt {}: {} in {}{}",
                h.handler,
                h.attempt,
                h.result,
                dur(secs),
                h.message
                    .as_deref()
                    .map(|m| format!(" — {m}"))
                    .unwrap_or_default()
            );
            let _ = write!(
                o,
                r##"<rect class="hook hook-{} result-{}" data-hook="{}" data-result="{}" data-attempt="{}" data-container="{}" data-start="{}" data-end="{}" x="{x0:.1}" y="{hy:.1}" width="{w:.1}" height="{HOOK_H}" rx="2" fill="{}"><title>{}</title></rect><text class="hook-label" x="{:.1}" y="{:.1}" font-size="10" fill="{}">{name} {} {}</text>"##,
                name.to_lowercase(),
                h.result.to_lowercase(),
                esc(&h.hook),
                esc(&h.result),
                h.attempt,
                esc(&lane.container),
                stamp(h.start),
                stamp(h.end),
                result_fill(&h.result),
                esc(&tip),
                x0 + w + 3.0,
                hy + HOOK_H - 1.0,
                result_fill(&h.result),
                result_symbol(&h.result),
                dur(secs)
            );
        }
        for p in &lane.points {
            let x = sc.x(p.t);
            let by = y + BAR_Y;
            let common = format!(
                r#"class="mark mark-{}" data-kind="{}" data-container="{}" data-t="{}""#,
                p.kind.as_str().to_lowercase(),
                p.kind.as_str(),
                esc(&lane.container),
                stamp(p.t)
            );
            let tip = format!("<title>{} at {}</title>", esc(&p.detail), stamp(p.t));
            match p.kind {
                MarkKind::StopSignal => {
                    let _ = write!(
                        o,
                        r##"<g {common}><path d="M{:.1},{:.1} l-5,-8 l10,0 z" fill="#ef6c00"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#ef6c00">{}</text>{tip}</g>"##,
                        x,
                        by - 1.0,
                        x + 6.0,
                        by - 3.0,
                        esc(&p.label)
                    );
                }
                MarkKind::Killed => {
                    let _ = write!(
                        o,
                        r##"<g {common}><path d="M{:.1},{:.1} l8,8 m0,-8 l-8,8" stroke="#b71c1c" stroke-width="2.5"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#b71c1c">SIGKILL</text>{tip}</g>"##,
                        x - 4.0,
                        by - 10.0,
                        x + 6.0,
                        by - 3.0
                    );
                }
                MarkKind::Exited => {
                    let ok = p.exit_code == Some(0);
                    let fill = if ok { "#2e7d32" } else { "#c62828" };
                    let _ = write!(
                        o,
                        r##"<g {common} data-exit-code="{}"><circle cx="{x:.1}" cy="{:.1}" r="5" fill="{fill}" stroke="#ffffff"/><text x="{:.1}" y="{:.1}" font-size="10" fill="{fill}">{}</text>{tip}</g>"##,
                        p.exit_code.unwrap_or(-1),
                        by + BAR_H / 2.0,
                        x + 7.0,
                        by + BAR_H / 2.0 - 6.0,
                        esc(&p.label)
                    );
                }
                MarkKind::ProbeFailed => {
                    let _ = write!(
                        o,
                        r##"<g {common}><line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#d50000" stroke-width="2"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#d50000">! {}</text>{tip}</g>"##,
                        by - 8.0,
                        by + BAR_H,
                        x + 2.0,
                        by - 2.0,
                        esc(&p.label)
                    );
                }
                MarkKind::Killing => {
                    let _ = write!(
                        o,
                        r##"<g {common}><line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#4a148c" stroke-width="2"/>{tip}</g>"##,
                        by - 4.0,
                        by + BAR_H + 4.0
                    );
                }
                MarkKind::BackOff => {
                    let _ = write!(o, r#"<g {common}>{tip}</g>"#);
                }
                _ => {}
            }
        }
        o.push_str("</g>");
    }
    for p in &l.pod_points {
        let x = sc.x(p.t);
        let color = match p.kind {
            MarkKind::PodDeleted => "#b71c1c",
            MarkKind::AgentRestarted => "#6a1b9a",
            _ => "#424242",
        };
        let _ = write!(
            o,
            r##"<g class="pod-mark pod-mark-{}" data-kind="{}" data-t="{}"><line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{axis_y}" stroke="{color}" stroke-width="1.5" stroke-dasharray="6,3"/><text x="{:.1}" y="{:.1}" font-size="11" fill="{color}">{}</text><title>{} at {}</title></g>"##,
            p.kind.as_str().to_lowercase(),
            p.kind.as_str(),
            stamp(p.t),
            TOP - 6.0,
            x + 3.0,
            TOP - 8.0,
            esc(&p.label),
            esc(&p.detail),
            stamp(p.t)
        );
    }
    legend(&mut o, left, legend_y);
    o.push_str("</svg>");
    o
}

fn legend(o: &mut String, left: f64, y: f64) {
    let _ = write!(o, r#"<g class="legend" transform="translate({left},{y})">"#);
    let states = [
        State::Waiting,
        State::Created,
        State::Starting,
        State::Running,
        State::Terminating,
        State::BackOff,
    ];
    let names = [
        "waiting",
        "created",
        "postStart running",
        "Running",
        "terminating",
        "back-off",
    ];
    let mut x = 0.0;
    for (s, n) in states.iter().zip(names) {
        let _ = write!(
            o,
            r##"<rect x="{x}" y="0" width="14" height="10" fill="{}" stroke="#9e9e9e" stroke-width="0.5"/><text x="{:.1}" y="9" font-size="11">{n}</text>"##,
            state_fill(*s),
            x + 18.0
        );
        x += 18.0 + 7.0 * n.len() as f64 + 16.0;
    }
    let mut x = 0.0;
    for r in [
        "Succeeded",
        "Failed",
        "TimedOut",
        "Cancelled",
        "Interrupted",
        "Running",
    ] {
        let _ = write!(
            o,
            r##"<rect x="{x}" y="20" width="14" height="7" rx="2" fill="{}"/><text x="{:.1}" y="28" font-size="11">hook {} {}</text>"##,
            result_fill(r),
            x + 18.0,
            result_symbol(r),
            r.to_lowercase()
        );
        x += 18.0 + 7.0 * (r.len() + 7) as f64 + 10.0;
    }
    let _ = write!(
        o,
        r##"<path d="M4,48 l-5,-8 l10,0 z" fill="#ef6c00"/><text x="12" y="47" font-size="11">stop signal</text><line x1="90" y1="44" x2="150" y2="44" stroke="#b71c1c" stroke-dasharray="3,2"/><text x="156" y="47" font-size="11">grace window</text><path d="M250,40 l8,8 m0,-8 l-8,8" stroke="#b71c1c" stroke-width="2.5"/><text x="262" y="47" font-size="11">SIGKILL</text><circle cx="330" cy="44" r="5" fill="#2e7d32"/><text x="339" y="47" font-size="11">exit (code)</text><line x1="420" y1="38" x2="420" y2="50" stroke="#d50000" stroke-width="2"/><text x="425" y="47" font-size="11">probe failed</text><line x1="520" y1="38" x2="520" y2="50" stroke="#b71c1c" stroke-dasharray="6,3"/><text x="525" y="47" font-size="11">pod deleted</text><line x1="610" y1="38" x2="610" y2="50" stroke="#6a1b9a" stroke-dasharray="6,3"/><text x="615" y="47" font-size="11">agent restart</text></g>"##
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_readable() {
        assert_eq!(tick_step(3.0), 0.5);
        assert_eq!(tick_step(45.0), 5.0);
        assert_eq!(tick_step(600.0), 60.0);
        assert_eq!(rel(5.0), "+5s");
        assert_eq!(rel(0.5), "+0.5s");
        assert_eq!(rel(300.0), "+5m");
        assert_eq!(dur(0.25), "250ms");
    }

    #[test]
    fn long_container_names_widen_the_label_column_then_are_cut() {
        let layout = |name: &str| Layout {
            namespace: "default".into(),
            name: "p".into(),
            t0: Timestamp::UNIX_EPOCH,
            t1: Timestamp::UNIX_EPOCH,
            lanes: vec![crate::layout::Lane {
                container: name.into(),
                kind: "regular".into(),
                segments: vec![],
                hooks: vec![],
                graces: vec![],
                points: vec![],
                restarts: 0,
            }],
            pod_points: vec![],
        };
        assert_eq!(left_margin(&layout("app")), LEFT);
        let name = "lifecycle-demo-container";
        let left = left_margin(&layout(name));
        assert!(left > LEFT, "a 24-character name needs more than {LEFT} px");
        assert_eq!(fit_label(name, left), name);
        let long = "a".repeat(63);
        let left = left_margin(&layout(&long));
        assert_eq!(left, LEFT_MAX);
        let cut = fit_label(&long, left);
        assert!(cut.ends_with('…') && cut.chars().count() < 63, "{cut}");
        assert!(24.0 + LABEL_CHAR_W * cut.chars().count() as f64 <= LEFT_MAX);
        let svg = svg(&layout(&long));
        assert!(
            svg.contains(&format!("<title>{long}</title>")),
            "the whole name is in the tooltip"
        );
    }
}
