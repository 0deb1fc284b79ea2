//! `nodelet image load|ls|rm|inspect` end to end on the project's own test
//! images (`scripts/build-test-images.sh`, built once per target dir under
//! a file lock): OCI archives and a docker-archive load, `ls` lists the
//! references, `inspect` prints the image config as JSON, `rm` removes, and
//! a corrupt archive is an error naming the file that changes nothing.

use std::path::Path;
use std::process::Command as StdCommand;

use assert_cmd::Command;
use nodelet_testsupport::{Needs, test_images};

/// Whether the image tests can run; panics unless root or
/// NODELET_SKIP_REAL=1.
fn require_root(test: &str) -> bool {
    Needs::root(test, "image layers are unpacked with their owners").check()
}

fn nodelet(root: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("nodelet")
        .unwrap()
        .arg("image")
        .arg(args[0])
        .arg("--root")
        .arg(root)
        .args(&args[1..])
        .env_remove("NODELET_ROOT")
        .assert()
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

/// `image ls` prints IMAGE and TAG in their own columns (as `crictl
/// images`): a row for `repo` with `tag`.
fn has_row(listed: &str, repo: &str, tag: &str) -> bool {
    listed.lines().any(|l| {
        let mut cols = l.split_whitespace();
        cols.next() == Some(repo) && cols.next() == Some(tag)
    })
}

fn ls(root: &Path) -> String {
    stdout(&nodelet(root, &["ls"]).success())
}

#[test]
fn load_ls_inspect_rm_docker_archive_and_corrupt_input() {
    if !require_root("load_ls_inspect_rm_docker_archive_and_corrupt_input") {
        return;
    }
    let images = test_images();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let busybox = images.join("busybox.tar");
    let testbin = images.join("testbin.tar");

    let out = stdout(
        &nodelet(
            &root,
            &[
                "load",
                "-i",
                busybox.to_str().unwrap(),
                "-i",
                testbin.to_str().unwrap(),
            ],
        )
        .success(),
    );
    assert!(
        out.contains("Loaded image: nodelet.local/busybox:latest"),
        "{out}"
    );
    assert!(
        out.contains("Loaded image: nodelet.local/testbin:latest"),
        "{out}"
    );
    let listed = ls(&root);
    assert!(
        listed.contains("IMAGE") && listed.contains("IMAGE ID"),
        "{listed}"
    );
    assert!(
        has_row(&listed, "nodelet.local/busybox", "latest"),
        "{listed}"
    );
    assert!(
        has_row(&listed, "nodelet.local/testbin", "latest"),
        "{listed}"
    );

    let json: serde_json::Value = serde_json::from_str(&stdout(
        &nodelet(&root, &["inspect", "nodelet.local/testbin"]).success(),
    ))
    .unwrap();
    assert_eq!(
        json["config"]["entrypoint"],
        serde_json::json!(["/testbin"]),
        "{json}"
    );
    assert_eq!(json["config"]["cmd"], serde_json::json!(["pause"]));
    assert_eq!(json["references"][0], "nodelet.local/testbin:latest");
    assert!(json["id"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(json["layers"].as_array().unwrap().len(), 2);

    nodelet(&root, &["rm", "nodelet.local/testbin:latest"])
        .success()
        .stdout(predicates::str::contains(
            "Deleted: nodelet.local/testbin:latest",
        ));
    let listed = ls(&root);
    assert!(!listed.contains("testbin"), "{listed}");
    assert!(
        has_row(&listed, "nodelet.local/busybox", "latest"),
        "{listed}"
    );
    nodelet(&root, &["inspect", "nodelet.local/testbin"]).failure();
    nodelet(&root, &["rm", "nodelet.local/testbin"]).failure();

    // docker save format, as skopeo writes it.
    let docker = tmp.path().join("busybox-docker.tar");
    let st = StdCommand::new("skopeo")
        .arg("copy")
        .arg(format!("oci-archive:{}", busybox.display()))
        .arg(format!(
            "docker-archive:{}:nodelet.local/busybox-docker:v1",
            docker.display()
        ))
        .status()
        .expect("skopeo (Debian package skopeo) is needed to write a docker-archive");
    assert!(st.success());
    let out = stdout(&nodelet(&root, &["load", "-i", docker.to_str().unwrap()]).success());
    assert!(out.contains("nodelet.local/busybox-docker:v1"), "{out}");
    let listed = ls(&root);
    assert!(
        has_row(&listed, "nodelet.local/busybox-docker", "v1"),
        "{listed}"
    );

    // A truncated archive: an error naming the file; the store unchanged.
    let before = ls(&root);
    let corrupt = tmp.path().join("corrupt-image.tar");
    let bytes = std::fs::read(&testbin).unwrap();
    std::fs::write(&corrupt, &bytes[..bytes.len() / 2]).unwrap();
    let a = nodelet(&root, &["load", "-i", corrupt.to_str().unwrap()]).failure();
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains(corrupt.to_str().unwrap()), "{err}");
    assert_eq!(ls(&root), before);
}
