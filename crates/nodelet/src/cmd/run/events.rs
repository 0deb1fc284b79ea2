//! Event lines for `nodelet run`, shaped like `kubectl get events -w -o
//! wide`'s leading columns: LAST SEEN, TYPE, REASON, OBJECT, SUBOBJECT
//! (the container's field path), MESSAGE.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;

/// Column widths, fixed up front from the pods' names so rows line up.
pub struct EventTable {
    object: usize,
    subobject: usize,
}

impl EventTable {
    /// `objects`: `pod/<name>` of every pod shown; `subobjects`: the
    /// longest field path (`spec.containers{<name>}`) among them.
    pub fn new<'a>(
        objects: impl IntoIterator<Item = &'a str>,
        subobjects: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let w = |it: &mut dyn Iterator<Item = &'a str>, min: usize| {
            it.map(str::len).max().unwrap_or(0).max(min)
        };
        EventTable {
            object: w(&mut objects.into_iter(), "OBJECT".len()),
            subobject: w(&mut subobjects.into_iter(), "SUBOBJECT".len()),
        }
    }

    pub fn header(&self) -> String {
        self.row(
            "LAST SEEN",
            "TYPE",
            "REASON",
            "OBJECT",
            "SUBOBJECT",
            "MESSAGE",
        )
    }

    /// One event as a row, its age taken at `now`.
    pub fn line(&self, e: &Event, now: Timestamp) -> String {
        let last = e
            .last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or_else(|| e.first_timestamp.as_ref().map(|t| t.0));
        let mut age = last
            .map(|t| human_age(now, t))
            .unwrap_or_else(|| "<unknown>".into());
        if let Some(n) = e.count.filter(|n| *n > 1) {
            age.push_str(&format!(" (x{n})"));
        }
        let kind = e
            .involved_object
            .kind
            .as_deref()
            .unwrap_or("")
            .to_lowercase();
        let object = format!("{kind}/{}", e.involved_object.name.as_deref().unwrap_or(""));
        self.row(
            &age,
            e.type_.as_deref().unwrap_or(""),
            e.reason.as_deref().unwrap_or(""),
            &object,
            e.involved_object.field_path.as_deref().unwrap_or(""),
            e.message.as_deref().unwrap_or("").trim_end(),
        )
    }

    fn row(&self, age: &str, ty: &str, reason: &str, obj: &str, sub: &str, msg: &str) -> String {
        format!(
            "{age:<10} {ty:<7} {reason:<20} {obj:<ow$} {sub:<sw$} {msg}",
            ow = self.object,
            sw = self.subobject
        )
    }
}

/// kubectl's `duration.HumanDuration`: 45s, 3m10s, 12m, 5h4m, 3d...
pub fn human_age(now: Timestamp, then: Timestamp) -> String {
    let secs = now.as_second() - then.as_second();
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        match s % 60 {
            0 => format!("{m}m"),
            r => format!("{m}m{r}s"),
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        match m % 60 {
            0 => format!("{h}h"),
            r => format!("{h}h{r}m"),
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        match h % 24 {
            0 => format!("{d}d"),
            r => format!("{d}d{r}h"),
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn ages_like_kubectl() {
        let now = at("2026-01-10T00:00:00Z");
        let ago = |s: i64| Timestamp::from_second(now.as_second() - s).unwrap();
        assert_eq!(human_age(now, ago(0)), "0s");
        assert_eq!(human_age(now, ago(119)), "119s");
        assert_eq!(human_age(now, ago(190)), "3m10s");
        assert_eq!(human_age(now, ago(600)), "10m");
        assert_eq!(human_age(now, ago(3600 * 5 + 240)), "5h4m");
        assert_eq!(human_age(now, ago(3600 * 30)), "30h");
        assert_eq!(human_age(now, ago(86400 * 3 + 3600)), "3d1h");
        assert_eq!(human_age(now, ago(-30)), "<invalid>");
    }

    #[test]
    fn row_has_field_path_and_count() {
        let t = EventTable::new(["pod/web"], ["spec.containers{app}"]);
        let e = Event {
            type_: Some("Normal".into()),
            reason: Some("Started".into()),
            message: Some("Started container app".into()),
            count: Some(2),
            last_timestamp: Some(Time(at("2026-01-10T00:00:00Z"))),
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                name: Some("web".into()),
                field_path: Some("spec.containers{app}".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let line = t.line(&e, at("2026-01-10T00:00:03Z"));
        assert!(line.starts_with("3s (x2)"), "{line}");
        assert!(line.contains(" Normal  Started "), "{line}");
        assert!(
            line.ends_with("pod/web spec.containers{app} Started container app"),
            "{line}"
        );
    }
}
