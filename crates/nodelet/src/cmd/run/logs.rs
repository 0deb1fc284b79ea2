//! Following one container's CRI log file for `nodelet run`: every line as
//! `[pod/container] text`, the CRI prefix stripped and partial lines
//! joined. inotify on the log directory wakes the reader (rotation renames
//! show up there too); the file stays open so the last words are still
//! readable after the pod's log directory was removed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::Watcher;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Without inotify, how often the file is re-read.
const FALLBACK_POLL: Duration = Duration::from_millis(500);

/// A running follower of one container (one attempt).
pub struct Follower {
    finish: CancellationToken,
    task: JoinHandle<()>,
}

impl Follower {
    /// Starts printing `path` from its beginning with `prefix`.
    pub fn spawn(prefix: String, path: PathBuf) -> Follower {
        let finish = CancellationToken::new();
        let task = tokio::spawn(follow(prefix, path, finish.clone()));
        Follower { finish, task }
    }

    /// The container exited: print what is left, then stop.
    pub fn finish(&self) {
        self.finish.cancel();
    }

    /// Finishes and waits until everything was printed (bounded, so a
    /// stuck read cannot hold up the exit).
    pub async fn done(self) {
        self.finish.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

async fn follow(prefix: String, path: PathBuf, finish: CancellationToken) {
    let (wake_tx, mut wake) = tokio::sync::mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        let _ = wake_tx.try_send(());
    })
    .ok();
    if let (Some(w), Some(dir)) = (watcher.as_mut(), path.parent())
        && let Err(e) = w.watch(dir, notify::RecursiveMode::NonRecursive)
    {
        tracing::debug!("log follow: watching {}: {e}", dir.display());
        watcher = None;
    }
    let mut reader = LogReader::new(prefix, path);
    loop {
        reader.poll();
        if finish.is_cancelled() {
            reader.poll();
            reader.flush();
            return;
        }
        if watcher.is_some() {
            tokio::select! {
                _ = wake.recv() => {}
                _ = finish.cancelled() => {}
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(FALLBACK_POLL) => {}
                _ = finish.cancelled() => {}
            }
        }
    }
}

/// The read side: an open file, the offset read so far, and the CRI
/// decoding state.
struct LogReader {
    prefix: String,
    path: PathBuf,
    file: Option<(File, u64)>,
    offset: u64,
    /// Bytes after the last newline (a line still being written).
    pending: Vec<u8>,
    /// Text of `P` (partial) records waiting for their `F`.
    partial: String,
}

impl LogReader {
    fn new(prefix: String, path: PathBuf) -> Self {
        LogReader {
            prefix,
            path,
            file: None,
            offset: 0,
            pending: Vec::new(),
            partial: String::new(),
        }
    }

    /// Reads and prints what is new, following a rotation to the new file.
    fn poll(&mut self) {
        if self.file.is_none() {
            self.file = open(&self.path);
            self.offset = 0;
        }
        self.read_current();
        // Rotated (log -> log.1, new log): finish the old file, then
        // continue with the new one from its start.
        let current = inode(&self.path);
        if let (Some((_, ino)), Some(cur)) = (&self.file, current)
            && *ino != cur
        {
            self.read_current();
            self.file = open(&self.path);
            self.offset = 0;
            self.read_current();
        }
    }

    fn read_current(&mut self) {
        let Some((f, _)) = self.file.as_mut() else {
            return;
        };
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(self.offset)).is_ok() && f.read_to_end(&mut buf).is_ok() {
            self.offset += buf.len() as u64;
        }
        self.pending.extend_from_slice(&buf);
        if let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') {
            let whole: Vec<u8> = self.pending.drain(..=end).collect();
            for line in String::from_utf8_lossy(&whole).lines() {
                self.record(line);
            }
        }
    }

    fn record(&mut self, raw: &str) {
        match parse_cri(raw) {
            Some((false, text)) => self.partial.push_str(text),
            Some((true, text)) => {
                let line = std::mem::take(&mut self.partial) + text;
                outln!("{} {line}", self.prefix);
            }
            // Not CRI-shaped: show it as it is rather than lose it.
            None => outln!("{} {raw}", self.prefix),
        }
    }

    /// Prints a partial line left at the end.
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
            self.record(&rest);
        }
        if !self.partial.is_empty() {
            outln!("{} {}", self.prefix, std::mem::take(&mut self.partial));
        }
    }
}

fn open(path: &Path) -> Option<(File, u64)> {
    let f = File::open(path).ok()?;
    let ino = f.metadata().ok()?.ino();
    Some((f, ino))
}

fn inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// `<RFC3339Nano> <stdout|stderr> <F|P> <text>` → (full line?, text).
pub fn parse_cri(line: &str) -> Option<(bool, &str)> {
    let mut parts = line.splitn(4, ' ');
    let _ts = parts.next()?;
    let stream = parts.next()?;
    if stream != "stdout" && stream != "stderr" {
        return None;
    }
    let tag = parts.next()?;
    let text = parts.next().unwrap_or("");
    match tag {
        "F" => Some((true, text)),
        "P" => Some((false, text)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_records() {
        assert_eq!(
            parse_cri("2026-01-01T00:00:00.1Z stdout F hello world"),
            Some((true, "hello world"))
        );
        assert_eq!(
            parse_cri("2026-01-01T00:00:00.1Z stderr P par"),
            Some((false, "par"))
        );
        assert_eq!(
            parse_cri("2026-01-01T00:00:00.1Z stdout F"),
            Some((true, ""))
        );
        assert_eq!(parse_cri("garbage"), None);
        assert_eq!(parse_cri("ts other F x"), None);
    }
}
