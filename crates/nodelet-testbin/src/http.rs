//! A deliberately minimal HTTP/1.1 request parser and the `serve` routes. Pure
//! functions over byte streams so they are unit-tested without sockets; one
//! request per connection (`Connection: close`), which every probe and hook
//! client handles.

use std::io::{self, BufRead, Read, Write};
use std::sync::Mutex;

/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body read (and discarded).
const MAX_BODY: u64 = 1024 * 1024;

/// A parsed request line plus the headers we care about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The decoded value of query parameter `key`. The `to` parameter of
    /// /redirect takes the rest of the query verbatim so targets may contain `?`.
    pub fn query(&self, key: &str) -> Option<String> {
        let (_, q) = self.target.split_once('?')?;
        for pair in q.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if percent_decode(k) == key {
                return Some(percent_decode(v));
            }
        }
        None
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub enum ParseError {
    Io(io::Error),
    /// Connection closed before a request line.
    Closed,
    Bad(&'static str),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Io(e) => write!(f, "reading request: {e}"),
            ParseError::Closed => f.write_str("connection closed"),
            ParseError::Bad(why) => f.write_str(why),
        }
    }
}

impl From<io::Error> for ParseError {
    fn from(e: io::Error) -> Self {
        ParseError::Io(e)
    }
}

/// Reads one request head (and skips its body) from `r`.
pub fn read_request<R: BufRead>(r: &mut R) -> Result<Request, ParseError> {
    let mut total = 0usize;
    let mut line = String::new();
    let mut next_line = |r: &mut R, line: &mut String| -> Result<usize, ParseError> {
        line.clear();
        let n = r
            .by_ref()
            .take((MAX_HEAD - total.min(MAX_HEAD)) as u64)
            .read_line(line)?;
        total += n;
        if total >= MAX_HEAD {
            return Err(ParseError::Bad("request head too large"));
        }
        Ok(n)
    };
    if next_line(r, &mut line)? == 0 {
        return Err(ParseError::Closed);
    }
    let mut parts = line.split_whitespace();
    let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) => (m.to_string(), t.to_string(), v),
        _ => return Err(ParseError::Bad("malformed request line")),
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ParseError::Bad("unsupported HTTP version"));
    }
    let mut headers = Vec::new();
    loop {
        if next_line(r, &mut line)? == 0 {
            return Err(ParseError::Bad("connection closed inside headers"));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .ok_or(ParseError::Bad("malformed header"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let req = Request {
        method,
        target,
        headers,
    };
    if let Some(len) = req.header("content-length") {
        let len: u64 = len
            .parse()
            .map_err(|_| ParseError::Bad("bad content-length"))?;
        if len > MAX_BODY {
            return Err(ParseError::Bad("body too large"));
        }
        io::copy(&mut r.by_ref().take(len), &mut io::sink())?;
    }
    Ok(req)
}

/// Decodes `%XX` escapes and `+` (form encoding); invalid escapes stay as is.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// One request remembered by the server, for tests to ask what hooks and
/// probes did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub msg: Option<String>,
    pub method: String,
    pub path: String,
    pub time: String,
}

/// Every request except reads of the record itself.
#[derive(Default)]
pub struct Recorder {
    entries: Mutex<Vec<Recorded>>,
}

impl Recorder {
    pub fn record(&self, req: &Request) {
        let e = Recorded {
            msg: req.query("msg"),
            method: req.method.clone(),
            path: req.target.clone(),
            time: jiff::Timestamp::now().to_string(),
        };
        if let Ok(mut v) = self.entries.lock() {
            v.push(e);
        }
    }

    /// `[{"msg": ..., "method": ..., "path": ..., "time": ...}]`
    pub fn to_json(&self) -> String {
        let v = self.entries.lock().map(|v| v.clone()).unwrap_or_default();
        let list: Vec<serde_json::Value> = v
            .into_iter()
            .map(|e| {
                serde_json::json!({"msg": e.msg, "method": e.method, "path": e.path, "time": e.time})
            })
            .collect();
        serde_json::Value::Array(list).to_string()
    }
}

/// A response to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub location: Option<String>,
    pub body: String,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            location: None,
            body: body.into(),
        }
    }

    pub fn write_to<W: Write>(&self, w: &mut W, head_only: bool) -> io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        if let Some(l) = &self.location {
            head.push_str(&format!("Location: {l}\r\n"));
        }
        head.push_str("\r\n");
        w.write_all(head.as_bytes())?;
        if !head_only {
            w.write_all(self.body.as_bytes())?;
        }
        w.flush()
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Routes one request (recording it first).
pub fn handle(req: &Request, rec: &Recorder) -> Response {
    let path = req.path();
    if path != "/recorded" {
        rec.record(req);
    }
    match path {
        "/echo" => Response::text(200, req.query("msg").unwrap_or_default()),
        "/healthz" => Response::text(200, "ok"),
        "/recorded" => Response {
            status: 200,
            content_type: "application/json",
            location: None,
            body: rec.to_json(),
        },
        "/redirect" => match redirect_target(&req.target) {
            Some(to) => Response {
                location: Some(to.clone()),
                ..Response::text(302, to)
            },
            None => Response::text(400, "missing to="),
        },
        "/" => Response::text(200, "testbin"),
        p => match p.strip_prefix("/status/").map(str::parse::<u16>) {
            Some(Ok(code)) if (100..=599).contains(&code) => Response::text(code, code.to_string()),
            Some(_) => Response::text(400, "bad status code"),
            None => Response::text(404, "not found"),
        },
    }
}

/// `/redirect?to=/echo?msg=x` -> `/echo?msg=x` (everything after `to=`).
fn redirect_target(target: &str) -> Option<String> {
    let (_, q) = target.split_once('?')?;
    let v = q.strip_prefix("to=")?;
    Some(percent_decode(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Request {
        read_request(&mut io::BufReader::new(s.as_bytes())).unwrap()
    }

    #[test]
    fn parses_request_and_query() {
        let r = parse("GET /echo?msg=hello%20w+x&a=b HTTP/1.1\r\nHost: x\r\nX-A:  1 \r\n\r\n");
        assert_eq!(r.method, "GET");
        assert_eq!(r.path(), "/echo");
        assert_eq!(r.query("msg").as_deref(), Some("hello w x"));
        assert_eq!(r.query("a").as_deref(), Some("b"));
        assert_eq!(r.query("zz"), None);
        assert_eq!(r.header("x-a"), Some("1"));
    }

    #[test]
    fn skips_body_and_rejects_garbage() {
        let mut rd = io::BufReader::new(
            "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.0\r\n\r\n".as_bytes(),
        );
        assert_eq!(read_request(&mut rd).unwrap().target, "/a");
        assert_eq!(read_request(&mut rd).unwrap().target, "/b");
        assert!(matches!(read_request(&mut rd), Err(ParseError::Closed)));
        let bad = |s: &str| read_request(&mut io::BufReader::new(s.as_bytes())).is_err();
        assert!(bad("NONSENSE\r\n\r\n"));
        assert!(bad("GET / SPDY/3\r\n\r\n"));
        assert!(bad("GET / HTTP/1.1\r\nnocolon\r\n\r\n"));
        assert!(bad("GET / HTTP/1.1\r\nHost: x\r\n"));
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(bad(&huge));
    }

    #[test]
    fn percent_decoding_edges() {
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(percent_decode("%41%"), "A%");
    }

    #[test]
    fn routes_and_records() {
        let rec = Recorder::default();
        let r = handle(&parse("GET /echo?msg=poststart HTTP/1.1\r\n\r\n"), &rec);
        assert_eq!((r.status, r.body.as_str()), (200, "poststart"));
        assert_eq!(
            handle(&parse("GET /healthz HTTP/1.1\r\n\r\n"), &rec).status,
            200
        );
        assert_eq!(
            handle(&parse("GET /status/503 HTTP/1.1\r\n\r\n"), &rec).status,
            503
        );
        assert_eq!(
            handle(&parse("GET /status/9999 HTTP/1.1\r\n\r\n"), &rec).status,
            400
        );
        assert_eq!(
            handle(&parse("GET /nope HTTP/1.1\r\n\r\n"), &rec).status,
            404
        );
        let r = handle(
            &parse("GET /redirect?to=/echo?msg=x HTTP/1.1\r\n\r\n"),
            &rec,
        );
        assert_eq!(
            (r.status, r.location.as_deref()),
            (302, Some("/echo?msg=x"))
        );
        let r = handle(&parse("GET /recorded HTTP/1.1\r\n\r\n"), &rec);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let list = v.as_array().unwrap();
        assert_eq!(list.len(), 6, "/recorded itself is not recorded: {v}");
        assert_eq!(list[0]["msg"], "poststart");
        assert_eq!(list[0]["path"], "/echo?msg=poststart");
        assert!(list[0]["time"].as_str().unwrap().ends_with('Z'));
        assert!(list[1]["msg"].is_null());
    }

    #[test]
    fn response_wire_format() {
        let mut out = Vec::new();
        let r = Response {
            location: Some("/x".into()),
            ..Response::text(302, "/x")
        };
        r.write_to(&mut out, false).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 302 Found\r\n"), "{s}");
        assert!(s.contains("\r\nLocation: /x\r\n") && s.contains("Content-Length: 2\r\n"));
        assert!(s.ends_with("\r\n\r\n/x"));
    }
}
