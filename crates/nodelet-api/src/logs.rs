//! `pods/log`: reads the container's CRI-format log file
//! (`<RFC3339Nano> <stream> <P|F> <text>`), joins partial lines, and
//! applies tailLines / sinceSeconds / limitBytes / timestamps; `follow`
//! keeps reading as the file grows (inotify via `notify`, no busy polling)
//! until the container stops running or the client goes away.

use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use notify::Watcher;
use serde_json::Value;

use crate::error::ApiError;
use crate::query::Query;
use crate::streams::PodStreams;

#[derive(Debug, Clone, Default)]
pub struct LogOpts {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<i64>,
    pub since: Option<Timestamp>,
    pub limit_bytes: Option<i64>,
}

impl LogOpts {
    pub fn from_query(q: &Query) -> Result<Self, ApiError> {
        let since = match (q.int("sinceSeconds")?, q.get("sinceTime")) {
            (Some(s), _) => Some(Timestamp::now() - jiff::SignedDuration::from_secs(s)),
            (None, Some(t)) => Some(
                t.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid sinceTime {t:?}")))?,
            ),
            _ => None,
        };
        Ok(LogOpts {
            container: q
                .get("container")
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            follow: q.flag("follow"),
            previous: q.flag("previous"),
            timestamps: q.flag("timestamps"),
            tail_lines: q.int("tailLines")?,
            since,
            limit_bytes: q.int("limitBytes")?,
        })
    }
}

/// One CRI log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: &'a str,
    pub partial: bool,
    pub text: &'a str,
}

/// Parses one line of a CRI log file (without its newline).
pub fn parse_line(line: &str) -> Option<Record<'_>> {
    let mut it = line.splitn(4, ' ');
    let time = it.next()?;
    let _stream = it.next()?;
    let tag = it.next()?;
    let text = it.next().unwrap_or("");
    Some(Record {
        time,
        partial: tag.split(':').next() == Some("P"),
        text,
    })
}

/// Renders complete CRI lines to the user's view.
pub struct Formatter {
    pub timestamps: bool,
    pub since: Option<Timestamp>,
    /// A partial line has been printed and continues in the next record.
    mid_line: bool,
}

impl Formatter {
    pub fn new(opts: &LogOpts) -> Self {
        Formatter {
            timestamps: opts.timestamps,
            since: opts.since,
            mid_line: false,
        }
    }

    pub fn push(&mut self, raw: &str, out: &mut Vec<u8>) {
        let Some(r) = parse_line(raw) else { return };
        if let (Some(since), Ok(t)) = (self.since, r.time.parse::<Timestamp>())
            && t < since
        {
            return;
        }
        if self.timestamps && !self.mid_line {
            out.extend_from_slice(r.time.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(r.text.as_bytes());
        if r.partial {
            self.mid_line = true;
        } else {
            out.push(b'\n');
            self.mid_line = false;
        }
    }
}

/// The lines of `content` making up the last `n` logical lines.
fn tail(content: &str, n: i64) -> Vec<&str> {
    let lines: Vec<&str> = content.lines().collect();
    if n < 0 {
        return lines;
    }
    let mut count = 0;
    let mut start = lines.len();
    while start > 0 {
        let l = lines[start - 1];
        let complete = parse_line(l).is_some_and(|r| !r.partial);
        if complete {
            if count == n {
                break;
            }
            count += 1;
        }
        start -= 1;
    }
    lines[start..].to_vec()
}

/// Picks the container as the API server does.
pub fn pick_container(pod: &Value, wanted: Option<&str>) -> Result<String, ApiError> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let mut names: Vec<String> = Vec::new();
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in pod["spec"][list].as_array().into_iter().flatten() {
            if let Some(n) = c["name"].as_str() {
                names.push(n.to_string());
            }
        }
    }
    match wanted {
        Some(w) if names.iter().any(|n| n == w) => Ok(w.to_string()),
        Some(w) => Err(ApiError::bad_request(format!(
            "container {w} is not valid for pod {name}"
        ))),
        None => {
            let main: Vec<&str> = pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str())
                .collect();
            if let Some(d) =
                pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"].as_str()
            {
                return Ok(d.to_string());
            }
            match main.as_slice() {
                [one] => Ok(one.to_string()),
                _ => Err(ApiError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    names.join(" ")
                ))),
            }
        }
    }
}

fn container_running(pod: &Value, container: &str) -> bool {
    [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ]
    .iter()
    .flat_map(|l| pod["status"][*l].as_array().into_iter().flatten())
    .any(|c| c["name"].as_str() == Some(container) && c["state"]["running"].is_object())
}

/// What the whole lines of a log file render to.
pub struct Rendered {
    /// The bytes for the client.
    pub out: Vec<u8>,
    /// The offset after the last whole line (follow continues there; a
    /// trailing fragment is still being written).
    pub consumed: usize,
    /// What is left of `limitBytes`.
    pub left: Option<i64>,
    /// `limitBytes` is used up: nothing more is sent.
    pub done: bool,
}

/// Renders the whole lines of `content` (a CRI log file as read) with
/// tailLines, sinceTime/timestamps (in `fmt`) and limitBytes applied.
/// Untrusted input: the container writes the text of every line.
pub fn render_file(content: &[u8], opts: &LogOpts, fmt: &mut Formatter) -> Rendered {
    let consumed = content
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let text = String::from_utf8_lossy(&content[..consumed]);
    let mut out = Vec::new();
    for l in tail(&text, opts.tail_lines.unwrap_or(-1)) {
        fmt.push(l, &mut out);
    }
    let mut left = opts.limit_bytes;
    let done = limit(&mut out, &mut left);
    Rendered {
        out,
        consumed,
        left,
        done,
    }
}

/// Renders the whole lines at the front of `pending` (bytes a followed
/// file grew by), leaving a trailing fragment there; returns the bytes
/// for the client and whether `limitBytes` is used up.
pub fn render_more(
    pending: &mut Vec<u8>,
    fmt: &mut Formatter,
    left: &mut Option<i64>,
) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    if let Some(p) = pending.iter().rposition(|b| *b == b'\n') {
        let whole: Vec<u8> = pending.drain(..=p).collect();
        for l in String::from_utf8_lossy(&whole).lines() {
            fmt.push(l, &mut out);
        }
    }
    let done = limit(&mut out, left);
    (out, done)
}

fn limit(out: &mut Vec<u8>, left: &mut Option<i64>) -> bool {
    if let Some(l) = left {
        let keep = usize::try_from((*l).max(0)).unwrap_or(0).min(out.len());
        out.truncate(keep);
        *l -= keep as i64;
        return *l <= 0;
    }
    false
}

/// Serves `pods/log`.
pub async fn logs(
    backend: Arc<dyn PodStreams>,
    ns: String,
    pod_name: String,
    opts: LogOpts,
) -> Result<Response, ApiError> {
    let pod = backend.pod(&ns, &pod_name).await?;
    let container = pick_container(&pod, opts.container.as_deref())?;
    let path = backend
        .log_path(&ns, &pod_name, &container, opts.previous)
        .await?;
    let content = match std::fs::read(&path) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(ApiError::internal(format!(
                "reading log {}: {e}",
                path.display()
            )));
        }
    };
    let mut fmt = Formatter::new(&opts);
    let Rendered {
        out,
        consumed: whole,
        left,
        done,
    } = render_file(&content, &opts, &mut fmt);
    let follow = opts.follow && !opts.previous && !done && container_running(&pod, &container);
    if !follow {
        return Ok(([("content-type", "text/plain")], whole_log_body(out)).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(16);
    let _ = tx.try_send(Ok(Bytes::from(out)));
    tokio::spawn(follow_file(
        backend,
        ns,
        pod_name,
        container,
        path,
        whole as u64,
        fmt,
        left,
        tx,
    ));
    let body = Body::from_stream(crate::watch::receiver_stream(rx));
    Ok(([("content-type", "text/plain")], body).into_response())
}

/// A finished log as the kubelet sends it: chunked, the data flushed before
/// the end of the body. The API server's WebSocket log reader
/// (`wsstream.messageCopy`) drops the bytes of a read that also returns
/// EOF, which Go's HTTP client does when the body's end is already there:
/// with a Content-Length, or with the last chunk in the same TLS record. So
/// the stream stops once (hyper flushes the data) before it ends.
fn whole_log_body(out: Vec<u8>) -> Body {
    enum Step {
        Data(Vec<u8>),
        Pause,
    }
    let stream = futures::stream::unfold(Step::Data(out), |step| async move {
        match step {
            Step::Data(d) if !d.is_empty() => {
                Some((Ok::<_, Infallible>(Bytes::from(d)), Step::Pause))
            }
            Step::Data(_) => None,
            Step::Pause => {
                tokio::task::yield_now().await;
                None
            }
        }
    });
    Body::from_stream(stream)
}

/// How often follow re-checks that the container still runs (the file
/// itself is watched by inotify).
const RUNNING_CHECK: Duration = Duration::from_secs(1);

#[allow(clippy::too_many_arguments)]
async fn follow_file(
    backend: Arc<dyn PodStreams>,
    ns: String,
    pod_name: String,
    container: String,
    path: PathBuf,
    mut offset: u64,
    mut fmt: Formatter,
    mut left: Option<i64>,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, Infallible>>,
) {
    let (wtx, mut wrx) = tokio::sync::mpsc::channel::<()>(4);
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Opens and reads (our own, each round) are access events: waking
        // on them would spin this loop forever.
        if res.is_ok_and(|e| e.kind.is_access()) {
            return;
        }
        let _ = wtx.try_send(());
    });
    let mut watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("log follow: inotify unavailable ({e}); checking once a second");
            None
        }
    };
    if let (Some(w), Some(dir)) = (watcher.as_mut(), path.parent()) {
        // The directory, so rotation (rename + new file) is seen too.
        if let Err(e) = w.watch(dir, notify::RecursiveMode::NonRecursive) {
            tracing::warn!("log follow: watching {}: {e}", dir.display());
        }
    }
    let mut ino = inode(&path);
    let mut pending = Vec::new();
    let mut last_round = false;
    // One timer for the whole stream, so a file that keeps changing cannot
    // starve the running check (a sleep re-armed each round never fired).
    let mut running_check = tokio::time::interval(RUNNING_CHECK);
    running_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    running_check.tick().await;
    loop {
        // Read whatever is new.
        let mut buf = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&path) {
            let cur = inode(&path);
            if cur != ino {
                // Rotated: the new file starts from the beginning.
                ino = cur;
                offset = 0;
            }
            if f.seek(SeekFrom::Start(offset)).is_ok()
                && f.take(FOLLOW_READ_MAX).read_to_end(&mut buf).is_ok()
            {
                offset += buf.len() as u64;
            }
        }
        let more = buf.len() as u64 == FOLLOW_READ_MAX;
        pending.extend_from_slice(&buf);
        let (out, done) = render_more(&mut pending, &mut fmt, &mut left);
        if !out.is_empty() && tx.send(Ok(Bytes::from(out))).await.is_err() {
            return;
        }
        if done || (last_round && !more) {
            return;
        }
        if more {
            // A writer ahead of us: read on at once (the send above waited
            // for the client), without holding more than one chunk.
            continue;
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = wrx.recv() => {}
            _ = running_check.tick() => {
                let running = match backend.pod(&ns, &pod_name).await {
                    Ok(pod) => container_running(&pod, &container),
                    Err(_) => false,
                };
                // One more read after the container stopped, for its last words.
                last_round = !running;
            }
        }
    }
}

/// The most a follow reads from the log file per round: a container
/// writing flat out is streamed in chunks (the channel to the client holds
/// 16), so a follower's memory is bounded by this, not by the file.
const FOLLOW_READ_MAX: u64 = 1 << 20;

fn inode(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2026-01-01T00:00:00.000000001Z stdout F one\n\
2026-01-01T00:00:01.000000001Z stdout P tw\n\
2026-01-01T00:00:01.500000001Z stdout F o\n\
2026-01-01T00:00:02.000000001Z stderr F three\n";

    fn render(opts: &LogOpts) -> String {
        let mut f = Formatter::new(opts);
        let mut out = Vec::new();
        for l in tail(LOG, opts.tail_lines.unwrap_or(-1)) {
            f.push(l, &mut out);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strips_prefix_and_joins_partials() {
        assert_eq!(render(&LogOpts::default()), "one\ntwo\nthree\n");
    }

    #[test]
    fn tail_counts_logical_lines() {
        let o = LogOpts {
            tail_lines: Some(2),
            ..Default::default()
        };
        assert_eq!(render(&o), "two\nthree\n");
        let o = LogOpts {
            tail_lines: Some(0),
            ..Default::default()
        };
        assert_eq!(render(&o), "");
    }

    #[test]
    fn timestamps_prefix_each_line_once() {
        let o = LogOpts {
            timestamps: true,
            tail_lines: Some(2),
            ..Default::default()
        };
        assert_eq!(
            render(&o),
            "2026-01-01T00:00:01.000000001Z two\n2026-01-01T00:00:02.000000001Z three\n"
        );
    }

    #[test]
    fn container_choice() {
        let p = serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(pick_container(&p, Some("b")).unwrap(), "b");
        assert_eq!(
            pick_container(&p, None).unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [a b]"
        );
        assert_eq!(
            pick_container(&p, Some("z")).unwrap_err().message,
            "container z is not valid for pod p"
        );
    }
}
