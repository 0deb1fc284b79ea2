//! Consecutive-result counting (`worker.doProbe`): a result only takes
//! effect once it repeated `successThreshold` / `failureThreshold` times in
//! a row, and keeps taking effect on every further repeat.

#[derive(Debug, Clone)]
pub struct Threshold {
    success: u32,
    failure: u32,
    last: Option<bool>,
    run: u32,
}

impl Threshold {
    pub fn new(success: u32, failure: u32) -> Self {
        Threshold {
            success: success.max(1),
            failure: failure.max(1),
            last: None,
            run: 0,
        }
    }

    /// Counts one result; returns it when it reached its threshold (the
    /// probe state must be set to it), `None` while below.
    pub fn observe(&mut self, ok: bool) -> Option<bool> {
        if self.last == Some(ok) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        let needed = if ok { self.success } else { self.failure };
        (self.run >= needed).then_some(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_take_effect_at_their_threshold() {
        let mut t = Threshold::new(2, 3);
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(true), None, "a success resets the failure run");
        assert_eq!(t.observe(true), Some(true));
        assert_eq!(t.observe(true), Some(true));
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(false), Some(false));
    }
}
