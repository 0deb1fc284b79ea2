//! The `Hooks:` section `nodelet describe pod` adds after `Events:` (a
//! nodelet addition; kubectl has no such section): one row per
//! HookDelivery of the pod (`hookdeliveries.nodelet.dev/v1`), oldest first,
//! with the failure's message under its row.

use jiff::Timestamp;
use serde_json::Value;

use super::duration::since;
use super::tabwriter::TabWriter;

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Writes the section for `deliveries` (HookDelivery objects of one pod).
pub fn write_hooks_block(w: &mut TabWriter, deliveries: &[Value], now: Timestamp) {
    if deliveries.is_empty() {
        w.write("Hooks:\t<none>\n");
        return;
    }
    let mut rows: Vec<&Value> = deliveries.iter().collect();
    rows.sort_by(|a, b| {
        s(a, "/status/startTime")
            .cmp(s(b, "/status/startTime"))
            .then_with(|| s(a, "/metadata/name").cmp(s(b, "/metadata/name")))
    });
    w.flush();
    w.write("Hooks:\n  Container\tHook\tHandler\tAttempt\tResult\tDuration\tExit\tStarted\n");
    w.write("  ---------\t----\t-------\t-------\t------\t--------\t----\t-------\n");
    for d in rows {
        let st = &d["status"];
        let duration = st["durationSeconds"]
            .as_f64()
            .map_or_else(|| "-".to_string(), |x| format!("{x:.3}s"));
        let exit = match (st["exitCode"].as_i64(), st["httpStatus"].as_i64()) {
            (Some(c), _) => c.to_string(),
            (None, Some(h)) => format!("HTTP {h}"),
            _ => "-".to_string(),
        };
        let started = s(d, "/status/startTime")
            .parse::<Timestamp>()
            .ok()
            .map_or_else(|| "<unknown>".to_string(), |t| since(Some(t), now));
        w.write(&format!(
            "  {}\t{}\t{}\t{}\t{}\t{duration}\t{exit}\t{started}\n",
            s(d, "/spec/containerName"),
            s(d, "/spec/hook"),
            s(d, "/spec/handler/type"),
            st["attempt"].as_i64().unwrap_or(1),
            s(d, "/status/phase"),
        ));
        let msg = s(d, "/status/message").trim();
        if !msg.is_empty() {
            w.flush();
            w.write(&format!("    Message: {msg}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_are_oldest_first_with_failures_explained() {
        let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let ok = json!({"metadata": {"name": "p.app.prestop.0"},
            "spec": {"containerName": "app", "hook": "PreStop", "handler": {"type": "HTTPGet"}},
            "status": {"startTime": "2026-01-01T00:00:50Z", "attempt": 1, "phase": "Succeeded",
                       "durationSeconds": 0.25, "httpStatus": 200}});
        let bad = json!({"metadata": {"name": "p.app.poststart.0"},
            "spec": {"containerName": "app", "hook": "PostStart", "handler": {"type": "Exec"}},
            "status": {"startTime": "2026-01-01T00:00:00Z", "attempt": 2, "phase": "TimedOut",
                       "durationSeconds": 2.0, "message": "timed out after 2s"}});
        let mut w = TabWriter::describe();
        write_hooks_block(&mut w, &[ok, bad], now);
        let out = w.take();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "Hooks:");
        assert!(lines[1].contains("Container") && lines[1].contains("Result"));
        assert!(
            lines[3].contains("PostStart")
                && lines[3].contains("TimedOut")
                && lines[3].contains("2.000s"),
            "{out}"
        );
        assert!(lines[3].contains("60s"), "{out}");
        assert_eq!(lines[4].trim(), "Message: timed out after 2s");
        assert!(
            lines[5].contains("PreStop") && lines[5].contains("HTTP 200"),
            "{out}"
        );
        let mut w = TabWriter::describe();
        write_hooks_block(&mut w, &[], now);
        let none = w.take();
        assert!(
            none.starts_with("Hooks:") && none.trim_end().ends_with("<none>"),
            "{none}"
        );
    }
}
