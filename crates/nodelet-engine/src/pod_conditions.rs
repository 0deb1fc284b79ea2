//! Pod conditions the node agent does not own: those other controllers
//! write through `pods/status` (readiness gates, `DisruptionTarget`, …).
//! As the kubelet's status manager does when it merges statuses, they are
//! kept next to the computed ones, and a readiness gate holds `Ready` at
//! False until its condition is True.

use k8s_openapi::api::core::v1::PodCondition;

use crate::worker::state::PodRecord;

/// Condition types the node agent computes (kubelet's
/// `PodConditionByKubelet`); writes of these by others are overwritten.
pub const OWNED: [&str; 6] = [
    "PodScheduled",
    "Ready",
    "Initialized",
    "ContainersReady",
    "PodReadyToStartContainers",
    "AllContainersRestarting",
];

/// The conditions of `all` that the agent does not compute, last one of a
/// type winning.
pub fn external(all: &[PodCondition]) -> Vec<PodCondition> {
    let mut out: Vec<PodCondition> = Vec::new();
    for c in all.iter().filter(|c| !OWNED.contains(&c.type_.as_str())) {
        out.retain(|o| o.type_ != c.type_);
        out.push(c.clone());
    }
    out
}

/// One computed condition: type, status, reason, message.
pub type Wanted = (&'static str, bool, Option<String>, Option<String>);

/// Turns a True `Ready` False while a readiness gate is not satisfied, with
/// kubelet's reason and message.
pub fn hold_ready_for_gates(rec: &PodRecord, wanted: &mut [Wanted]) {
    let gates = rec
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_deref())
        .unwrap_or(&[]);
    let unmet: Vec<String> = gates
        .iter()
        .filter_map(|g| {
            match rec
                .external_conditions
                .iter()
                .find(|c| c.type_ == g.condition_type)
            {
                None => Some(format!(
                    "corresponding condition of pod readiness gate \"{}\" does not exist.",
                    g.condition_type
                )),
                Some(c) if c.status != "True" => Some(format!(
                    "the status of pod readiness gate \"{}\" is not \"True\", but {}",
                    g.condition_type, c.status
                )),
                Some(_) => None,
            }
        })
        .collect();
    if unmet.is_empty() {
        return;
    }
    for w in wanted.iter_mut().filter(|w| w.0 == "Ready" && w.1) {
        *w = (
            "Ready",
            false,
            Some("ReadinessGatesNotReady".to_owned()),
            Some(unmet.join(", ")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podkey::PodKey;
    use k8s_openapi::api::core::v1::{Pod, PodReadinessGate, PodSpec};

    fn cond(t: &str, s: &str) -> PodCondition {
        PodCondition {
            type_: t.into(),
            status: s.into(),
            ..Default::default()
        }
    }

    fn rec_with_gate() -> PodRecord {
        let pod = Pod {
            spec: Some(PodSpec {
                readiness_gates: Some(vec![PodReadinessGate {
                    condition_type: "example.com/lb".into(),
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        PodRecord::new(PodKey::new("default", "p"), "u".into(), pod, vec![])
    }

    #[test]
    fn external_drops_owned_types_and_keeps_the_last_of_a_type() {
        let got = external(&[
            cond("Ready", "False"),
            cond("example.com/lb", "False"),
            cond("example.com/lb", "True"),
            cond("DisruptionTarget", "True"),
        ]);
        assert_eq!(
            got,
            vec![
                cond("example.com/lb", "True"),
                cond("DisruptionTarget", "True")
            ]
        );
    }

    #[test]
    fn gate_holds_ready_until_its_condition_is_true() {
        let mut rec = rec_with_gate();
        let mut wanted: Vec<Wanted> = vec![
            ("Ready", true, None, None),
            ("ContainersReady", true, None, None),
        ];
        hold_ready_for_gates(&rec, &mut wanted);
        assert!(!wanted[0].1);
        assert_eq!(wanted[0].2.as_deref(), Some("ReadinessGatesNotReady"));
        assert_eq!(
            wanted[0].3.as_deref(),
            Some(
                "corresponding condition of pod readiness gate \"example.com/lb\" does not exist."
            )
        );
        assert!(wanted[1].1, "ContainersReady is not gated");

        rec.external_conditions = vec![cond("example.com/lb", "False")];
        let mut wanted: Vec<Wanted> = vec![("Ready", true, None, None)];
        hold_ready_for_gates(&rec, &mut wanted);
        assert_eq!(
            wanted[0].3.as_deref(),
            Some("the status of pod readiness gate \"example.com/lb\" is not \"True\", but False")
        );

        rec.external_conditions = vec![cond("example.com/lb", "True")];
        let mut wanted: Vec<Wanted> = vec![("Ready", true, None, None)];
        hold_ready_for_gates(&rec, &mut wanted);
        assert!(wanted[0].1);
    }
}
