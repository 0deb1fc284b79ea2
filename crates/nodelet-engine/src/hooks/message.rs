//! The kubelet's hook failure messages, byte for byte.
//!
//! Users and tools grep pod status and events for these strings, so they are
//! built here exactly as `pkg/kubelet/lifecycle/handlers.go` builds them with
//! Go's `fmt` verbs: `%v` of a `[]string` is `[a b c]`, `%q` is Go's quoted
//! string (see [`go_quote`]), and a pod is `format.Pod`: `name_ns(uid)`.

use std::fmt::Write as _;

/// The error of a sleep hook cut short (handlers.go `runSleepHandler`).
pub const SLEEP_CANCELLED: &str = "container terminated before sleep hook finished";

/// What Go's `context.Canceled` prints: the error of an exec hook whose
/// context was cancelled (container died, pod force-deleted).
pub const CONTEXT_CANCELED: &str = "context canceled";

/// The error of a hook stopped by its nodelet timeout (an opt-in: the
/// kubelet has no hook timeout), in the `%v` place of the kubelet's message.
pub fn timed_out(limit: std::time::Duration) -> String {
    format!("timed out after {}", crate::godur::go_duration(limit))
}

/// Reason of the Warning event for an HTTPS hook answered over plain HTTP.
pub const HTTP_FALLBACK_REASON: &str = "LifecycleHTTPFallback";

/// `format.Pod`: `<name>_<namespace>(<uid>)`.
pub fn pod_desc(name: &str, namespace: &str, uid: &str) -> String {
    format!("{name}_{namespace}({uid})")
}

/// Go's `%v` of a `[]string`: `[sh -c echo hi]`.
pub fn go_string_slice(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `%q` (`strconv.Quote`) of bytes that may not be valid UTF-8.
///
/// Printable characters are kept, `\a \b \f \n \r \t \v \\ \"` use their
/// short escapes, other ASCII controls and invalid bytes become `\xNN`, other
/// non-printable characters `\uNNNN` / `\UNNNNNNNN`. Go's `unicode.IsPrint`
/// is approximated as "not a control character and not whitespace other
/// than the ASCII space", which agrees with it on everything a shell prints.
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        ' ' => out.push(' '),
        c if c.is_control() || c.is_whitespace() || is_format_char(c) => {
            if (c as u32) < 0x10000 {
                let _ = write!(out, "\\u{:04x}", c as u32);
            } else {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
        c => out.push(c),
    }
}

/// The common invisible format characters (Unicode category Cf) Go escapes.
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// The error of an exec that exited non-zero (the CRI client's `ExecSync`):
/// `command '<cmd joined by spaces>' exited with <code>: <stderr>`.
pub fn exec_exit_error(command: &[String], code: i32, stderr: &[u8]) -> String {
    format!(
        "command '{}' exited with {code}: {}",
        command.join(" "),
        String::from_utf8_lossy(stderr)
    )
}

/// `Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q`
/// where the message is stdout followed by stderr.
pub fn exec_failed(
    command: &[String],
    container: &str,
    pod: &str,
    err: &str,
    output: &[u8],
) -> String {
    format!(
        "Exec lifecycle hook ({}) for Container {} in Pod {} failed - error: {err}, message: {}",
        go_string_slice(command),
        go_quote(container.as_bytes()),
        go_quote(pod.as_bytes()),
        go_quote(output)
    )
}

/// `HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v`.
pub fn http_failed(path: &str, container: &str, pod: &str, err: &str) -> String {
    format!(
        "HTTP lifecycle hook ({path}) for Container {} in Pod {} failed - error: {err}",
        go_quote(container.as_bytes()),
        go_quote(pod.as_bytes())
    )
}

/// `Sleep lifecycle hook (%d) for Container %q in Pod %q failed - error: %v`.
pub fn sleep_failed(seconds: i64, container: &str, pod: &str, err: &str) -> String {
    format!(
        "Sleep lifecycle hook ({seconds}) for Container {} in Pod {} failed - error: {err}",
        go_quote(container.as_bytes()),
        go_quote(pod.as_bytes())
    )
}

/// `Cannot run handler: invalid handler: %v`, for a handler with no exec,
/// httpGet or sleep (a tcpSocket one, or an empty one). `described` is the
/// handler as [`describe_handler`] prints it.
pub fn invalid_handler(described: &str) -> String {
    format!("Cannot run handler: invalid handler: {described}")
}

/// The Warning event message after a successful HTTP retry of an HTTPS hook;
/// `host` is the request URL's `host:port` (Go's `req.URL.Host`).
pub fn http_fallback_event(host: &str) -> String {
    format!("request to HTTPS lifecycle hook {host} got HTTP response, retry with HTTP succeeded")
}

/// A handler as the (gogo-protobuf generated) `String()` of
/// `*v1.LifecycleHandler` printed it, which is what `%v` gives in
/// `invalid handler: %v`: `&LifecycleHandler{Exec:nil,HTTPGet:nil,
/// TCPSocket:&TCPSocketAction{Port:{0 8080 },Host:,},Sleep:nil,}`.
/// Only called for handlers without exec/httpGet/sleep, so those print `nil`.
pub fn describe_handler(handler: &k8s_openapi::api::core::v1::LifecycleHandler) -> String {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let tcp = match &handler.tcp_socket {
        None => "nil".to_string(),
        Some(t) => {
            // `%v` of intstr.IntOrString{Type, IntVal, StrVal}.
            let port = match &t.port {
                IntOrString::Int(i) => format!("{{0 {i} }}"),
                IntOrString::String(s) => format!("{{1 0 {s}}}"),
            };
            format!(
                "&TCPSocketAction{{Port:{port},Host:{},}}",
                t.host.as_deref().unwrap_or("")
            )
        }
    };
    format!("&LifecycleHandler{{Exec:nil,HTTPGet:nil,TCPSocket:{tcp},Sleep:nil,}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_matches_strconv_quote() {
        assert_eq!(go_quote(b"hi\n"), r#""hi\n""#);
        assert_eq!(
            go_quote(b"a \"b\" \\ \t\x1b\x7f"),
            r#""a \"b\" \\ \t\x1b\x7f""#
        );
        assert_eq!(go_quote("é ü 日本".as_bytes()), "\"é ü 日本\"");
        assert_eq!(go_quote(b"\xff\xfeok"), r#""\xff\xfeok""#);
        assert_eq!(go_quote("\u{a0}\u{200b}".as_bytes()), r#""\u00a0\u200b""#);
        assert_eq!(go_quote(b""), r#""""#);
    }

    #[test]
    fn exec_messages() {
        let cmd: Vec<String> = ["sh", "-c", "echo out; echo err >&2; exit 3"]
            .map(String::from)
            .to_vec();
        let err = exec_exit_error(&cmd, 3, b"err\n");
        assert_eq!(
            err,
            "command 'sh -c echo out; echo err >&2; exit 3' exited with 3: err\n"
        );
        let pod = pod_desc("web", "default", "1234");
        assert_eq!(
            exec_failed(&cmd, "app", &pod, &err, b"out\nerr\n"),
            "Exec lifecycle hook ([sh -c echo out; echo err >&2; exit 3]) for Container \"app\" in Pod \
             \"web_default(1234)\" failed - error: command 'sh -c echo out; echo err >&2; exit 3' exited \
             with 3: err\n, message: \"out\\nerr\\n\""
        );
    }
}
