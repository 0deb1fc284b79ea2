//! Writes container output as CRI log records (`<time> <stream> <F|P> <text>\n`,
//! the format kubelet and `kubectl logs` read) and rotates the file by size.
//!
//! Lines are split on `\n`; a line longer than [`MAX_LINE`] or left unterminated
//! at end of stream is written as `P` (partial) records so no byte is lost and
//! no record grows without bound.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use crate::timefmt::now_rfc3339_nano;

/// Longest text of one record; longer lines become several `P` records
/// (the same 16 KiB kubelet/containerd use).
pub const MAX_LINE: usize = 16 * 1024;

/// Which stream a record came from, as written in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A size-rotated CRI log file: `log` is current, `log.1` the previous, ...,
/// `log.<max_files-1>` the oldest kept (max_files counts the current file, as
/// kubelet's containerLogMaxFiles does).
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_files: u32,
}

impl LogWriter {
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // 0600: a container's output is for the agent (`kubectl logs`)
        // and root alone; it may hold anything the container printed.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_files: max_files.max(1),
        })
    }

    /// Writes one record; `partial` marks a `P` record.
    pub fn record(&mut self, stream: Stream, partial: bool, text: &[u8]) -> io::Result<()> {
        let mut rec = Vec::with_capacity(text.len() + 48);
        rec.extend_from_slice(now_rfc3339_nano().as_bytes());
        rec.push(b' ');
        rec.extend_from_slice(stream.as_str().as_bytes());
        rec.extend_from_slice(if partial { b" P " } else { b" F " });
        rec.extend_from_slice(text);
        rec.push(b'\n');
        // Rotate before a record that would overflow, never splitting a record
        // across files; an oversized record still lands in a fresh file.
        if self.size > 0 && self.size + rec.len() as u64 > self.max_size {
            self.rotate()?;
        }
        self.file.write_all(&rec)?;
        self.size += rec.len() as u64;
        Ok(())
    }

    /// Writes one whole line from outside the container's streams (hook
    /// output): full records, longer text as partial records first.
    pub fn line(&mut self, stream: Stream, text: &[u8]) -> io::Result<()> {
        let mut chunks = text.chunks(MAX_LINE).peekable();
        if chunks.peek().is_none() {
            return self.record(stream, false, b"");
        }
        while let Some(c) = chunks.next() {
            self.record(stream, chunks.peek().is_some(), c)?;
        }
        Ok(())
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.max_files <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let oldest = self.max_files - 1;
        match std::fs::remove_file(self.numbered(oldest)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        for n in (1..oldest).rev() {
            match std::fs::rename(self.numbered(n), self.numbered(n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, self.numbered(1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Accumulates one stream's bytes and cuts them into records.
pub struct LineSplitter {
    stream: Stream,
    pending: Vec<u8>,
    /// Drop a `\r` before `\n` (terminal output uses CRLF).
    strip_cr: bool,
}

impl LineSplitter {
    pub fn new(stream: Stream, strip_cr: bool) -> Self {
        LineSplitter {
            stream,
            pending: Vec::new(),
            strip_cr,
        }
    }

    /// Which stream this splitter cuts (for the attach fan-out).
    pub fn stream(&self) -> Stream {
        self.stream
    }

    /// Feeds bytes read from the stream, writing every complete record.
    pub fn feed(&mut self, mut data: &[u8], log: &mut LogWriter) -> io::Result<()> {
        while !data.is_empty() {
            match data.iter().position(|&b| b == b'\n') {
                Some(i) if self.pending.len() + i <= MAX_LINE => {
                    self.pending.extend_from_slice(&data[..i]);
                    if self.strip_cr && self.pending.last() == Some(&b'\r') {
                        self.pending.pop();
                    }
                    log.record(self.stream, false, &self.pending)?;
                    self.pending.clear();
                    data = &data[i + 1..];
                }
                _ => {
                    let room = MAX_LINE - self.pending.len();
                    let take = room.min(data.len());
                    self.pending.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.pending.len() == MAX_LINE {
                        log.record(self.stream, true, &self.pending)?;
                        self.pending.clear();
                    }
                }
            }
        }
        Ok(())
    }

    /// End of stream: an unterminated tail becomes a `P` record.
    pub fn finish(&mut self, log: &mut LogWriter) -> io::Result<()> {
        if !self.pending.is_empty() {
            log.record(self.stream, true, &self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn splits_lines_partials_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.log");
        let mut log = LogWriter::open(&p, 200, 3).unwrap();
        let mut out = LineSplitter::new(Stream::Stdout, true);
        out.feed(b"hello\r\nwor", &mut log).unwrap();
        out.feed(b"ld\n", &mut log).unwrap();
        let long = vec![b'x'; MAX_LINE + 10];
        out.feed(&long, &mut log).unwrap();
        out.finish(&mut log).unwrap();
        // Three oversized/normal records with max 200 bytes: rotation kept at most 3 files.
        assert_eq!(read_all(dir.path()), vec!["0.log", "0.log.1", "0.log.2"]);
        let cur = std::fs::read_to_string(&p).unwrap();
        assert!(cur.ends_with(" stdout P xxxxxxxxxx\n"), "{cur}");
        let older = std::fs::read_to_string(dir.path().join("0.log.2")).unwrap();
        assert!(older.contains(" stdout F hello\n"), "{older}");
        assert!(older.contains(" stdout F world\n"), "{older}");
        let mid = std::fs::read_to_string(dir.path().join("0.log.1")).unwrap();
        assert_eq!(mid.len(), 31 + 9 + MAX_LINE + 1, "{}", &mid[..60]);
    }

    #[test]
    fn single_file_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.log");
        let mut log = LogWriter::open(&p, 60, 1).unwrap();
        let mut err = LineSplitter::new(Stream::Stderr, false);
        err.feed(b"first line\nsecond line\n", &mut log).unwrap();
        let cur = std::fs::read_to_string(&p).unwrap();
        assert!(
            cur.ends_with(" stderr F second line\n") && !cur.contains("first"),
            "{cur}"
        );
        assert_eq!(read_all(dir.path()), vec!["0.log"]);
    }
}
