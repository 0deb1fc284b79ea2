//! Command-line parsing for the monitor. Hand-rolled instead of clap because the
//! interface is fixed by the runtime contract and every dependency costs resident
//! memory in a process that lives as long as each container.

use std::path::PathBuf;

/// Parsed command line (see the runtime contract for the meaning of each flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: PathBuf,
    pub runtime_root: PathBuf,
    pub log_path: PathBuf,
    pub log_max_size: u64,
    pub log_max_files: u32,
    pub exit_file: PathBuf,
    pub sync_fd: i32,
    pub tty: bool,
    pub cgroup_path: Option<String>,
    /// Serve attach clients here (see `attach.rs`).
    pub attach_socket: Option<PathBuf>,
    /// Keep the container's stdin open for attach clients (`stdin: true`).
    pub stdin: bool,
    /// Close it when the first attached client leaves (`stdinOnce: true`).
    pub stdin_once: bool,
    /// Start the container too (`<runtime> run --detach` instead of
    /// `create`): the agent always starts right after creating, and this
    /// saves it a `<runtime> start` process.
    pub start: bool,
}

pub const USAGE: &str = "usage: nodelet-monitor --id ID --bundle DIR --runtime PATH --runtime-root DIR \
--log-path FILE [--log-max-size BYTES] [--log-max-files N] --exit-file FILE --sync-fd FD [--tty] \
[--cgroup-path REL] [--attach-socket PATH] [--stdin] [--stdin-once] [--start]";

/// Parses `argv[1..]`. Accepts both `--flag value` and `--flag=value`.
pub fn parse<I: IntoIterator<Item = String>>(argv: I) -> Result<Args, String> {
    let mut id = None;
    let mut bundle = None;
    let mut runtime = None;
    let mut runtime_root = None;
    let mut log_path = None;
    let mut log_max_size: u64 = 10 * 1024 * 1024;
    let mut log_max_files: u32 = 5;
    let mut exit_file = None;
    let mut sync_fd = None;
    let mut tty = false;
    let mut cgroup_path = None;
    let mut attach_socket = None;
    let mut stdin = false;
    let mut stdin_once = false;
    let mut start = false;

    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if flag == "--tty" {
            tty = true;
            continue;
        }
        if flag == "--stdin" || flag == "--stdin-once" {
            stdin = true;
            stdin_once |= flag == "--stdin-once";
            continue;
        }
        if flag == "--start" {
            start = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_string());
        }
        let mut value = || -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("{flag} needs a value")),
            }
        };
        match flag.as_str() {
            "--id" => id = Some(value()?),
            "--bundle" => bundle = Some(PathBuf::from(value()?)),
            "--runtime" => runtime = Some(PathBuf::from(value()?)),
            "--runtime-root" => runtime_root = Some(PathBuf::from(value()?)),
            "--log-path" => log_path = Some(PathBuf::from(value()?)),
            "--log-max-size" => log_max_size = number(&flag, &value()?)?,
            "--log-max-files" => log_max_files = number(&flag, &value()?)?,
            "--exit-file" => exit_file = Some(PathBuf::from(value()?)),
            "--sync-fd" => sync_fd = Some(number(&flag, &value()?)?),
            "--cgroup-path" => cgroup_path = Some(value()?),
            "--attach-socket" => attach_socket = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let need = |name: &str| format!("missing required {name}\n{USAGE}");
    let id = id.ok_or_else(|| need("--id"))?;
    if id.is_empty() || id.contains('/') {
        return Err(format!("invalid --id {id:?}"));
    }
    Ok(Args {
        id,
        bundle: bundle.ok_or_else(|| need("--bundle"))?,
        runtime: runtime.ok_or_else(|| need("--runtime"))?,
        runtime_root: runtime_root.ok_or_else(|| need("--runtime-root"))?,
        log_path: log_path.ok_or_else(|| need("--log-path"))?,
        log_max_size,
        log_max_files,
        exit_file: exit_file.ok_or_else(|| need("--exit-file"))?,
        sync_fd: sync_fd.ok_or_else(|| need("--sync-fd"))?,
        tty,
        cgroup_path,
        attach_socket,
        stdin,
        stdin_once,
        start,
    })
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: not a valid number: {v:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_full_command_line() {
        let a = parse(argv(
            "--id c1 --bundle /b --runtime runc --runtime-root /r --log-path /l/0.log \
             --log-max-size=100 --log-max-files 2 --exit-file /e --sync-fd 3 --tty --cgroup-path x/y",
        ))
        .unwrap();
        assert_eq!(a.id, "c1");
        assert_eq!(a.log_max_size, 100);
        assert_eq!(a.log_max_files, 2);
        assert_eq!(a.sync_fd, 3);
        assert!(a.tty);
        assert_eq!(a.cgroup_path.as_deref(), Some("x/y"));
    }

    #[test]
    fn attach_flags() {
        let a = parse(argv(
            "--id c1 --bundle /b --runtime runc --runtime-root /r --log-path /l --exit-file /e \
             --sync-fd 3 --attach-socket /s/attach --stdin-once",
        ))
        .unwrap();
        assert_eq!(
            a.attach_socket.as_deref(),
            Some(std::path::Path::new("/s/attach"))
        );
        assert!(a.stdin && a.stdin_once);
        assert!(!a.start);
    }

    #[test]
    fn start_flag() {
        let a = parse(argv(
            "--id c1 --bundle /b --runtime runc --runtime-root /r --log-path /l --exit-file /e \
             --sync-fd 3 --start",
        ))
        .unwrap();
        assert!(a.start);
    }

    #[test]
    fn defaults_and_errors() {
        let a = parse(argv(
            "--id c1 --bundle /b --runtime runc --runtime-root /r --log-path /l --exit-file /e --sync-fd 3",
        ))
        .unwrap();
        assert_eq!(a.log_max_size, 10485760);
        assert_eq!(a.log_max_files, 5);
        assert!(!a.tty);
        assert!(!a.stdin && !a.stdin_once && a.attach_socket.is_none());
        assert!(parse(argv("--id c1")).unwrap_err().contains("--bundle"));
        assert!(parse(argv("--bogus")).unwrap_err().contains("unknown"));
        assert!(parse(argv("--sync-fd x")).unwrap_err().contains("number"));
    }
}
