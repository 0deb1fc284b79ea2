//! testbin: nodelet's helper binary for test containers, in the spirit of
//! Kubernetes' agnhost. One static executable, several behaviours selected by
//! subcommand, so test images need only this file (plus busybox for shells).

mod cmds;
mod http;
mod probe;
mod server;

use std::time::Duration;

const USAGE: &str = "usage: testbin <command> [args]
  serve --http-port P [--https-port P]   HTTP(S) server: /echo?msg=X /recorded /healthz /redirect?to=U /status/N
  pause                                  sleep until SIGTERM/SIGINT, exit 0
  exit N                                 exit with code N
  write-file PATH CONTENT                write CONTENT to PATH
  sigterm [--delay SECS] [--exit CODE] [--file PATH]
                                         on SIGTERM: write \"got SIGTERM\" to PATH, wait SECS, exit CODE
  print-env                              print the environment (sorted KEY=VALUE)
  hostname                               print the hostname
  alloc-mem MIB                          allocate and touch MIB MiB, then pause
  stdout-lines N                         print \"line 1\" .. \"line N\"
  probe [mount|module|raw-socket|userns|mknod|ptrace PID]...
                                         try each, print \"<what>: ok\" or the error";

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run(&argv) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("testbin: {e}");
            std::process::exit(2);
        }
    }
}

fn num<T: std::str::FromStr>(what: &str, v: Option<&String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("missing {what}\n{USAGE}"))?;
    v.parse()
        .map_err(|_| format!("{what}: not a number: {v:?}"))
}

/// `--flag value` pairs after the subcommand.
fn flags(rest: &[String], known: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = rest.iter();
    while let Some(f) = it.next() {
        if !known.contains(&f.as_str()) {
            return Err(format!("unknown argument {f:?}\n{USAGE}"));
        }
        let v = it.next().ok_or_else(|| format!("{f} needs a value"))?;
        out.push((f.clone(), v.clone()));
    }
    Ok(out)
}

fn run(argv: &[String]) -> Result<i32, String> {
    let (cmd, rest) = argv.split_first().ok_or_else(|| USAGE.to_string())?;
    match cmd.as_str() {
        "serve" => {
            let mut http = None;
            let mut https = None;
            for (f, v) in flags(rest, &["--http-port", "--https-port"])? {
                let port = Some(num::<u16>(&f, Some(&v))?);
                if f == "--http-port" {
                    http = port
                } else {
                    https = port
                }
            }
            let http = http.ok_or_else(|| format!("serve needs --http-port\n{USAGE}"))?;
            // Block before spawning threads so they inherit the mask and only
            // the main thread takes the signal.
            let set = cmds::block(&[
                nix::sys::signal::Signal::SIGTERM,
                nix::sys::signal::Signal::SIGINT,
            ])?;
            server::start(http, https)?;
            cmds::wait(&set)?;
            Ok(0)
        }
        "pause" => cmds::pause(),
        "exit" => num("exit code", rest.first()),
        "write-file" => match rest {
            [path, content] => cmds::write_file(path, content),
            _ => Err(format!("write-file needs PATH CONTENT\n{USAGE}")),
        },
        "sigterm" => {
            let mut delay = Duration::ZERO;
            let mut code = 0;
            let mut file = None;
            for (f, v) in flags(rest, &["--delay", "--exit", "--file"])? {
                match f.as_str() {
                    "--delay" => {
                        let secs: f64 = num("--delay", Some(&v))?;
                        delay = Duration::try_from_secs_f64(secs)
                            .map_err(|e| format!("--delay: {e}"))?;
                    }
                    "--exit" => code = num("--exit", Some(&v))?,
                    _ => file = Some(v),
                }
            }
            cmds::sigterm(delay, code, file.as_deref())
        }
        "print-env" => cmds::print_env(),
        "hostname" => cmds::hostname(),
        "alloc-mem" => cmds::alloc_mem(num("MiB", rest.first())?),
        "stdout-lines" => cmds::stdout_lines(num("line count", rest.first())?),
        "probe" => probe::run(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(0)
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}
