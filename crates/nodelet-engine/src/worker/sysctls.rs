//! The kubelet's sysctl admission (`patternAllowlist.Admit`) where every
//! pod enters the engine, whichever front door sent it: a pod asking for
//! a sysctl that is neither safe on this kernel nor allowed by
//! `--allowed-unsafe-sysctls` (or one of a namespace it shares with the
//! host) is never started. It ends `Failed` with reason `SysctlForbidden`,
//! the `Pod was rejected: ` message and a Warning event, as `rejectPod`.

use super::Worker;
use crate::events::EventType;
use nodelet_spec::sysctl::FORBIDDEN_REASON;

impl Worker {
    /// `false` (and the pod ended) when its sysctls are refused.
    pub(crate) fn admit_sysctls(&mut self) -> bool {
        let shared = self.shared.clone();
        let refused = {
            let rec = shared.lock();
            shared.ctx.config.sysctls.admit(&rec.pod)
        };
        let Err(message) = refused else {
            return true;
        };
        shared.lock().terminal = Some((
            FORBIDDEN_REASON.to_owned(),
            format!("Pod was rejected: {message}"),
        ));
        shared.event(None, EventType::Warning, FORBIDDEN_REASON, &message);
        shared.publish();
        self.completed = true;
        false
    }
}
