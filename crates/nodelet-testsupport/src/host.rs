//! The host requirements of a real-container test, checked all at once so
//! that the failure lists everything missing, each with the Debian package
//! that provides it.

use std::path::{Path, PathBuf};

/// The opt-out: `NODELET_SKIP_REAL=1` turns a failing requirement check
/// into a printed skip.
pub fn skipped(test: &str) -> bool {
    if std::env::var("NODELET_SKIP_REAL").as_deref() == Ok("1") {
        eprintln!("{test}: skipped (NODELET_SKIP_REAL=1)");
        return true;
    }
    false
}

/// `bin` on `PATH` or in the sbin directories a root shell has.
pub fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// What one test needs from the host.
#[must_use = "call check()"]
pub struct Needs {
    test: String,
    missing: Vec<String>,
}

impl Needs {
    /// Root, which every real-container test needs; `why` says for what.
    pub fn root(test: &str, why: &str) -> Needs {
        let mut missing = Vec::new();
        if !nix::unistd::geteuid().is_root() {
            missing.push(format!("root ({why})"));
        }
        Needs {
            test: test.to_string(),
            missing,
        }
    }

    /// Root, busybox-static (the test images are made of it), the CNI
    /// plugins of nodelet's default pod network and nft (its native path's
    /// masquerade): what a real pod needs.
    pub fn pods(test: &str) -> Needs {
        Needs::root(test, "namespaces, cgroups, mounts and bridges need it")
            .file("/bin/busybox", "busybox-static")
            .cni(&["bridge", "host-local", "loopback"])
            .tool("nft", "nftables")
    }

    pub fn tool(mut self, bin: &str, package: &str) -> Needs {
        if which(bin).is_none() {
            self.missing
                .push(format!("{bin} (Debian package {package})"));
        }
        self
    }

    pub fn file(mut self, path: &str, package: &str) -> Needs {
        if !Path::new(path).exists() {
            self.missing
                .push(format!("{path} (Debian package {package})"));
        }
        self
    }

    pub fn cni(mut self, plugins: &[&str]) -> Needs {
        for plugin in plugins {
            if !Path::new("/usr/lib/cni").join(plugin).exists() {
                self.missing.push(format!(
                    "/usr/lib/cni/{plugin} (Debian package containernetworking-plugins)"
                ));
            }
        }
        self
    }

    /// Problems found by a check of the caller's, each already phrased as
    /// what is missing.
    pub fn problems(mut self, problems: impl IntoIterator<Item = String>) -> Needs {
        self.missing.extend(problems);
        self
    }

    /// `true` when the test can run; `false` (after printing) when skipped
    /// by `NODELET_SKIP_REAL=1`; panics naming everything missing otherwise.
    pub fn check(self) -> bool {
        if skipped(&self.test) {
            return false;
        }
        assert!(
            self.missing.is_empty(),
            "{} needs a real host; missing: {} (set NODELET_SKIP_REAL=1 to skip)",
            self.test,
            self.missing.join(", ")
        );
        true
    }
}
