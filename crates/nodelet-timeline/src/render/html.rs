//! A self-contained HTML page: the SVG picture and, under it, every mark
//! as a table row (time, container, what, details), for reading exact
//! times and messages.

use std::fmt::Write as _;

use super::{esc, stamp};
use crate::layout::Layout;
use crate::model::{Mark, PodTimeline};

fn details(m: &Mark) -> String {
    let mut parts = Vec::new();
    let mut add = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    };
    add("hook", m.hook.clone());
    add("handler", m.handler.clone());
    add("attempt", m.attempt.map(|a| a.to_string()));
    add("result", m.result.clone());
    add("exitCode", m.exit_code.map(|c| c.to_string()));
    add("signal", m.signal.clone());
    add("grace", m.grace_seconds.map(|g| format!("{g}s")));
    add("until", m.until.map(stamp));
    add("probe", m.probe.clone());
    add("reason", m.reason.clone());
    add("message", m.message.clone());
    add("deliveryID", m.delivery_id.clone());
    add(
        "containerID",
        m.container_id
            .as_ref()
            .map(|c| c.chars().take(12).collect()),
    );
    parts.join(" ")
}

/// The page for `tl` as laid out in `l`.
pub fn html(tl: &PodTimeline, l: &Layout) -> String {
    let mut o = String::with_capacity(32 * 1024);
    let title = format!("Pod {}/{} — lifecycle timeline", l.namespace, l.name);
    let _ = write!(
        o,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>body{{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:16px;color:#212121}}table{{border-collapse:collapse;font-size:12px}}td,th{{border-bottom:1px solid #eee;padding:2px 8px;text-align:left;vertical-align:top}}th{{background:#fafafa}}</style></head><body><h1 style=\"font-size:18px\">{}</h1>",
        esc(&title),
        esc(&title)
    );
    o.push_str(&super::svg(l));
    o.push_str("<h2 style=\"font-size:15px\">Marks</h2><table class=\"marks\"><tr><th>time</th><th>+s</th><th>container</th><th>what</th><th>details</th></tr>");
    let mut marks: Vec<&Mark> = tl.marks.iter().collect();
    marks.sort_by_key(|m| m.time);
    for m in marks {
        let _ = write!(
            o,
            "<tr data-kind=\"{}\"><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            m.kind.as_str(),
            stamp(m.time),
            l.secs(m.time),
            esc(m.container.as_deref().unwrap_or("(pod)")),
            m.kind.as_str(),
            esc(&details(m))
        );
    }
    o.push_str("</table></body></html>");
    o
}
