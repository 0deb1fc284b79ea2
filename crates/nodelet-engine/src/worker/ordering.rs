//! Termination ordering for sidecars (kubelet `terminationOrdering`):
//! regular containers stop together; each sidecar (restartable init
//! container) waits for the regular containers and for the sidecars after
//! it to exit before getting its stop signal, so sidecars stop in reverse
//! order. Their preStop hooks still start together with everyone's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;

pub struct TermOrdering {
    clock: Arc<dyn Clock>,
    done: HashMap<String, watch::Sender<bool>>,
    prereqs: HashMap<String, Vec<String>>,
}

impl TermOrdering {
    /// `regular`: containers being killed that wait for nobody; `sidecars`:
    /// sidecars being killed, in spec order.
    pub fn new(clock: Arc<dyn Clock>, regular: &[String], sidecars: &[String]) -> Self {
        let mut done = HashMap::new();
        for n in regular.iter().chain(sidecars) {
            done.insert(n.clone(), watch::channel(false).0);
        }
        let mut prereqs = HashMap::new();
        for (k, s) in sidecars.iter().enumerate() {
            let mut before: Vec<String> = regular.to_vec();
            before.extend(sidecars[k + 1..].iter().cloned());
            prereqs.insert(s.clone(), before);
        }
        TermOrdering {
            clock,
            done,
            prereqs,
        }
    }

    /// Waits until every container that must stop before `name` has, or
    /// `grace` seconds passed; returns the time waited.
    pub async fn wait_for_turn(&self, name: &str, grace: i64) -> Duration {
        let start = self.clock.instant();
        let receivers: Vec<watch::Receiver<bool>> = self
            .prereqs
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|p| self.done.get(p).map(|tx| tx.subscribe()))
            .collect();
        let all = async {
            for mut rx in receivers {
                let _ = rx.wait_for(|d| *d).await;
            }
        };
        let limit = Duration::from_secs(u64::try_from(grace).unwrap_or(0));
        tokio::select! {
            () = all => {}
            () = self.clock.sleep(limit) => {}
        }
        self.clock.instant().saturating_duration_since(start)
    }

    pub fn terminated(&self, name: &str) {
        if let Some(tx) = self.done.get(name) {
            tx.send_replace(true);
        }
    }
}
