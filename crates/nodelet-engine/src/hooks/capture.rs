//! Bounded capture of a hook's output: the first and the last 4 KiB of a
//! stream, and how many bytes there were. What a HookDelivery record shows
//! (and what an opt-in event excerpt is cut from), without holding a
//! chatty hook's whole output in memory.

use serde::Serialize;

/// Bytes kept at each end.
pub const KEEP: usize = 4096;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    head: Vec<u8>,
    /// The last bytes after `head` filled up (a ring kept as a Vec).
    tail: Vec<u8>,
    total: u64,
}

/// A capture as the record shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Excerpt {
    pub head: String,
    /// Present when the output was longer than what `head` holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tail: Option<String>,
    pub bytes: u64,
    pub truncated: bool,
}

impl Capture {
    pub fn push(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.head.len() < KEEP {
            let n = (KEEP - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        if !data.is_empty() {
            self.tail.extend_from_slice(data);
            if self.tail.len() > KEEP {
                let cut = self.tail.len() - KEEP;
                self.tail.drain(..cut);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether bytes between head and tail were dropped.
    pub fn truncated(&self) -> bool {
        self.total > (self.head.len() + self.tail.len()) as u64
    }

    pub fn excerpt(&self) -> Excerpt {
        Excerpt {
            head: String::from_utf8_lossy(&self.head).into_owned(),
            tail: (!self.tail.is_empty()).then(|| String::from_utf8_lossy(&self.tail).into_owned()),
            bytes: self.total,
            truncated: self.truncated(),
        }
    }

    /// At most `max` bytes: all of it if it fits, else the start and the
    /// end around a `…` marker (what an event message can carry).
    pub fn short(&self, max: usize) -> Vec<u8> {
        let mut all = self.head.clone();
        if self.truncated() {
            all.extend_from_slice("\n…\n".as_bytes());
        }
        all.extend_from_slice(&self.tail);
        if all.len() <= max {
            return all;
        }
        let half = max / 2;
        let mut out = all[..half].to_vec();
        out.extend_from_slice("\n…\n".as_bytes());
        out.extend_from_slice(&all[all.len() - half..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_both_ends_and_counts() {
        let mut c = Capture::default();
        c.push(b"hello ");
        c.push(b"world");
        assert_eq!(c.excerpt().head, "hello world");
        assert!(!c.truncated());
        let mut big = Capture::default();
        for i in 0..10_000u32 {
            big.push(format!("{i:05}\n").as_bytes());
        }
        let e = big.excerpt();
        assert_eq!(e.bytes, 60_000);
        assert!(e.truncated);
        assert!(e.head.starts_with("00000\n") && e.head.len() == KEEP);
        assert!(e.tail.as_deref().unwrap().ends_with("09999\n"));
        assert_eq!(e.tail.unwrap().len(), KEEP);
        let s = big.short(100);
        assert!(s.len() <= 100 + 5 && s.starts_with(b"00000") && s.ends_with(b"09999\n"));
    }
}
