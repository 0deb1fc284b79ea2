//! core/v1 Event → events.k8s.io/v1 Event, for the events API group (the
//! backend stores the core shape only).

use serde_json::{Map, Value, json};

pub fn from_core(ev: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    out.insert("kind".into(), json!("Event"));
    out.insert("metadata".into(), ev["metadata"].clone());
    let mut put = |k: &str, v: &Value| {
        if !v.is_null() {
            out.insert(k.into(), v.clone());
        }
    };
    put("regarding", &ev["involvedObject"]);
    put("related", &ev["related"]);
    put("note", &ev["message"]);
    put("reason", &ev["reason"]);
    put("type", &ev["type"]);
    put("action", &ev["action"]);
    put("series", &ev["series"]);
    put("deprecatedCount", &ev["count"]);
    put("deprecatedFirstTimestamp", &ev["firstTimestamp"]);
    put("deprecatedLastTimestamp", &ev["lastTimestamp"]);
    put("deprecatedSource", &ev["source"]);
    let controller = if ev["reportingComponent"]
        .as_str()
        .is_some_and(|s| !s.is_empty())
    {
        ev["reportingComponent"].clone()
    } else {
        ev["source"]["component"].clone()
    };
    put("reportingController", &controller);
    let instance = if ev["reportingInstance"]
        .as_str()
        .is_some_and(|s| !s.is_empty())
    {
        ev["reportingInstance"].clone()
    } else {
        ev["source"]["host"].clone()
    };
    put("reportingInstance", &instance);
    let time = if ev["eventTime"].is_null() {
        // events.k8s.io requires eventTime; the first occurrence is closest.
        ev["firstTimestamp"]
            .as_str()
            .map(|t| json!(t.replace('Z', ".000000Z")))
            .unwrap_or(Value::Null)
    } else {
        ev["eventTime"].clone()
    };
    put("eventTime", &time);
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_fields() {
        let e = json!({"metadata": {"name": "x.1"}, "involvedObject": {"kind": "Pod", "name": "x"},
            "message": "m", "reason": "Started", "type": "Normal", "count": 2,
            "firstTimestamp": "2026-01-01T00:00:00Z", "source": {"component": "kubelet", "host": "h"}});
        let v = from_core(&e);
        assert_eq!(v["regarding"]["name"], "x");
        assert_eq!(v["note"], "m");
        assert_eq!(v["deprecatedCount"], 2);
        assert_eq!(v["reportingController"], "kubelet");
        assert_eq!(v["eventTime"], "2026-01-01T00:00:00.000000Z");
    }
}
