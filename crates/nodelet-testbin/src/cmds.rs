//! The non-server subcommands: small behaviours containers in tests need
//! (exit codes, signals, files, environment, memory pressure, output volume).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

/// Blocks `sigs` in the calling thread (and threads it spawns later) and
/// returns the set to wait on. Waiting on blocked signals works for PID 1 in a
/// pid namespace too, where default-disposition signals would be dropped.
pub fn block(sigs: &[Signal]) -> Result<SigSet, String> {
    let mut set = SigSet::empty();
    for s in sigs {
        set.add(*s);
    }
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(|e| format!("sigprocmask: {e}"))?;
    Ok(set)
}

/// Waits for one of the blocked signals in `set`.
pub fn wait(set: &SigSet) -> Result<Signal, String> {
    set.wait().map_err(|e| format!("sigwait: {e}"))
}

/// Sleeps until SIGTERM or SIGINT, then exits 0 (like the pause container).
pub fn pause() -> Result<i32, String> {
    let set = block(&[Signal::SIGTERM, Signal::SIGINT])?;
    wait(&set)?;
    Ok(0)
}

pub fn write_file(path: &str, content: &str) -> Result<i32, String> {
    let p = Path::new(path);
    if let Some(dir) = p.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(p, content).map_err(|e| format!("{path}: {e}"))?;
    Ok(0)
}

/// Waits for SIGTERM; then optionally writes "got SIGTERM" to `file`, waits
/// `delay` and exits with `code` (for grace-period and preStop tests).
pub fn sigterm(delay: Duration, code: i32, file: Option<&str>) -> Result<i32, String> {
    let set = block(&[Signal::SIGTERM])?;
    println!("waiting for SIGTERM");
    wait(&set)?;
    println!("got SIGTERM");
    if let Some(f) = file {
        write_file(f, "got SIGTERM")?;
    }
    std::thread::sleep(delay);
    println!("exiting {code}");
    Ok(code)
}

pub fn print_env() -> Result<i32, String> {
    let mut out = std::io::stdout().lock();
    let mut vars: Vec<_> = std::env::vars_os().collect();
    vars.sort();
    for (k, v) in vars {
        writeln!(out, "{}={}", k.to_string_lossy(), v.to_string_lossy())
            .map_err(|e| e.to_string())?;
    }
    Ok(0)
}

pub fn hostname() -> Result<i32, String> {
    let h = nix::unistd::gethostname().map_err(|e| format!("gethostname: {e}"))?;
    println!("{}", h.to_string_lossy());
    Ok(0)
}

/// Allocates and touches `mib` MiB (so it is resident), then pauses.
pub fn alloc_mem(mib: usize) -> Result<i32, String> {
    let mut held: Vec<Vec<u8>> = Vec::with_capacity(mib);
    for i in 0..mib {
        // A non-zero fill writes every page; zeroed allocations could stay unbacked.
        held.push(std::hint::black_box(vec![1u8; 1 << 20]));
        if (i + 1) % 64 == 0 {
            println!("allocated {} MiB", i + 1);
        }
    }
    println!("allocated {mib} MiB, holding");
    let code = pause()?;
    std::hint::black_box(&held);
    Ok(code)
}

pub fn stdout_lines(n: u64) -> Result<i32, String> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 1..=n {
        writeln!(out, "line {i}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok(0)
}
