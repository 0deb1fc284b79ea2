//! Linux signal names and numbers.
//!
//! `lifecycle.stopSignal` and an image's `STOPSIGNAL` name signals as
//! strings (`SIGTERM`, `TERM`, `15`, `SIGRTMIN+3`); the runtime needs numbers.
//! The table is Linux x86-64/arm64 numbering, which is what the OCI runtime
//! will deliver on this node.

use std::fmt;

/// A Linux signal number.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Signal(pub i32);

impl Signal {
    pub const SIGHUP: Signal = Signal(1);
    pub const SIGINT: Signal = Signal(2);
    pub const SIGQUIT: Signal = Signal(3);
    pub const SIGKILL: Signal = Signal(9);
    pub const SIGUSR1: Signal = Signal(10);
    pub const SIGUSR2: Signal = Signal(12);
    pub const SIGTERM: Signal = Signal(15);

    /// Parses `SIGTERM`, `TERM`, `15`, `SIGRTMIN+1`, `SIGRTMAX-2`.
    pub fn parse(s: &str) -> Option<Signal> {
        let s = s.trim();
        if let Ok(n) = s.parse::<i32>() {
            return (1..=SIGRTMAX).contains(&n).then_some(Signal(n));
        }
        let upper = s.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(off) = name.strip_prefix("RTMIN") {
            return rt_offset(off).and_then(|o| checked(SIGRTMIN + o));
        }
        if let Some(off) = name.strip_prefix("RTMAX") {
            return rt_offset(off).and_then(|o| checked(SIGRTMAX + o));
        }
        NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, num)| Signal(*num))
    }

    /// The canonical `SIGXXX` name, as Kubernetes spells it.
    pub fn name(self) -> String {
        if let Some((n, _)) = NAMES.iter().find(|(_, num)| *num == self.0) {
            return format!("SIG{n}");
        }
        if (SIGRTMIN..=SIGRTMAX).contains(&self.0) {
            let mid = (SIGRTMIN + SIGRTMAX) / 2;
            return if self.0 <= mid {
                format!("SIGRTMIN+{}", self.0 - SIGRTMIN)
            } else {
                format!("SIGRTMAX-{}", SIGRTMAX - self.0)
            };
        }
        format!("{}", self.0)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

const SIGRTMIN: i32 = 34;
const SIGRTMAX: i32 = 64;

fn rt_offset(s: &str) -> Option<i32> {
    if s.is_empty() {
        return Some(0);
    }
    s.parse::<i32>().ok()
}

fn checked(n: i32) -> Option<Signal> {
    (SIGRTMIN..=SIGRTMAX).contains(&n).then_some(Signal(n))
}

const NAMES: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_spellings() {
        assert_eq!(Signal::parse("SIGTERM"), Some(Signal::SIGTERM));
        assert_eq!(Signal::parse("term"), Some(Signal::SIGTERM));
        assert_eq!(Signal::parse("9"), Some(Signal::SIGKILL));
        assert_eq!(Signal::parse("SIGRTMIN+3"), Some(Signal(37)));
        assert_eq!(Signal::parse("SIGRTMAX-1"), Some(Signal(63)));
        assert_eq!(Signal::parse("SIGNOPE"), None);
        assert_eq!(Signal::parse("0"), None);
        assert_eq!(Signal(37).name(), "SIGRTMIN+3");
        assert_eq!(Signal::SIGQUIT.name(), "SIGQUIT");
    }
}
