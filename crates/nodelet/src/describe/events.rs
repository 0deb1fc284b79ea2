//! Events the way kubectl shows them: the `Events:` block of describe and
//! the rows of `kubectl events`, both with the aggregated age
//! `4s (x2 over 6s)` for an event seen more than once.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;

use super::duration::since;
use super::tabwriter::TabWriter;

/// Oldest first by last occurrence, as kubectl's `SortableEvents`.
pub fn sort_events(events: &mut [Event]) {
    events.sort_by_key(last_seen);
}

fn last_seen(e: &Event) -> Option<Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| {
            e.series
                .as_ref()
                .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        })
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
}

/// `6s`, or `4s (x2 over 6s)` when the event repeated.
pub fn interval(e: &Event, now: Timestamp) -> String {
    let first = match &e.event_time {
        Some(t) => since(Some(t.0), now),
        None => since(e.first_timestamp.as_ref().map(|t| t.0), now),
    };
    if let Some(series) = &e.series {
        return format!(
            "{} (x{} over {first})",
            since(series.last_observed_time.as_ref().map(|t| t.0), now),
            series.count.unwrap_or(0)
        );
    }
    let count = e.count.unwrap_or(0);
    if count > 1 {
        return format!(
            "{} (x{count} over {first})",
            since(e.last_timestamp.as_ref().map(|t| t.0), now)
        );
    }
    first
}

fn source(e: &Event) -> String {
    e.source
        .as_ref()
        .and_then(|s| s.component.clone())
        .filter(|c| !c.is_empty())
        .or_else(|| e.reporting_component.clone())
        .unwrap_or_default()
}

/// Writes describe's `Events:` section (events already sorted).
pub fn write_events_block(w: &mut TabWriter, events: &[Event], now: Timestamp) {
    if events.is_empty() {
        w.write("Events:\t<none>\n");
        return;
    }
    w.flush();
    w.write("Events:\n  Type\tReason\tAge\tFrom\tMessage\n");
    w.write("  ----\t------\t----\t----\t-------\n");
    for e in events {
        // kubectl 1.37 prefixes the sub-object (`spec.containers{web}: `).
        let message = e.message.as_deref().unwrap_or("").trim();
        let message = match e
            .involved_object
            .field_path
            .as_deref()
            .filter(|f| !f.is_empty())
        {
            Some(f) => format!("{f}: {message}"),
            None => message.to_string(),
        };
        w.write(&format!(
            "  {}\t{}\t{}\t{}\t{message}\n",
            e.type_.as_deref().unwrap_or(""),
            e.reason.as_deref().unwrap_or(""),
            interval(e, now),
            source(e),
        ));
    }
}

/// `kubectl events` header.
pub fn events_header(all_namespaces: bool) -> String {
    let ns = if all_namespaces { "NAMESPACE\t" } else { "" };
    format!("{ns}LAST SEEN\tTYPE\tREASON\tOBJECT\tMESSAGE\n")
}

/// One `kubectl events` row: `6s  Normal  Started  Pod/x  Started container c`.
pub fn events_row(e: &Event, all_namespaces: bool, now: Timestamp) -> String {
    let ns = if all_namespaces {
        format!("{}\t", e.metadata.namespace.as_deref().unwrap_or(""))
    } else {
        String::new()
    };
    format!(
        "{ns}{}\t{}\t{}\t{}/{}\t{}\n",
        interval(e, now),
        e.type_.as_deref().unwrap_or(""),
        e.reason.as_deref().unwrap_or(""),
        e.involved_object.kind.as_deref().unwrap_or(""),
        e.involved_object.name.as_deref().unwrap_or(""),
        e.message.as_deref().unwrap_or("").trim()
    )
}
