//! The engine on real containers pulling from a real registry (Debian's
//! docker-registry with TLS and htpasswd, images pushed with skopeo):
//! `imagePullSecrets` found through the engine's Sources, `imageID` as the
//! repo digest, and a wrong password going from ErrImagePull to
//! ImagePullBackOff with the registry's 401 in the message.

mod real_support;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use nodelet_spec::Object;
use nodelet_testsupport::{Needs, RegistryOptions, TestRegistry, test_images};
use real_support::*;
use serde_json::json;

fn docker_secret(name: &str, registry: &str, user: &str, pass: &str) -> Object {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let mut data = BTreeMap::new();
    data.insert(
        ".dockerconfigjson".to_string(),
        ByteString(format!(r#"{{"auths":{{"{registry}":{{"auth":"{auth}"}}}}}}"#).into_bytes()),
    );
    Object::Secret(Box::new(Secret {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NS.into()),
            ..Default::default()
        },
        type_: Some("kubernetes.io/dockerconfigjson".into()),
        data: Some(data),
        ..Default::default()
    }))
}

fn waiting(p: &k8s_openapi::api::core::v1::Pod) -> Option<(String, String)> {
    let w = p
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .clone()?;
    Some((w.reason.unwrap_or_default(), w.message.unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_secrets_repo_digests_and_a_wrong_password() {
    let test = "pull_secrets_repo_digests_and_a_wrong_password";
    if !Needs::root(test, "containers")
        .tool("docker-registry", "docker-registry")
        .tool("skopeo", "skopeo")
        .tool("htpasswd", "apache2-utils")
        .check()
    {
        return;
    }
    let Some(real) = Real::new(test, 60).await else {
        return;
    };
    let reg = TestRegistry::start(RegistryOptions {
        auth: Some(("alice".into(), "s3cret".into())),
    });
    reg.trust_in(&real.oci_config().registry_config_dir);
    let busybox = test_images().join("busybox.tar");
    reg.push(
        &format!("oci-archive:{}", busybox.display()),
        "team/busybox:1",
        false,
    );
    let image = format!("{}/team/busybox:1", reg.host());
    real.engine
        .apply(vec![
            docker_secret("regcred", &reg.host(), "alice", "s3cret"),
            docker_secret("wrongcred", &reg.host(), "alice", "guess"),
        ])
        .unwrap();

    real.apply(pod(
        "good",
        vec![ctr("c", &image, &["sleep", "3600"], json!({}))],
        json!({"imagePullSecrets": [{"name": "regcred"}], "terminationGracePeriodSeconds": 1}),
    ));
    let p = real.running("good", 60).await;
    let cs = &p.status.unwrap().container_statuses.unwrap()[0];
    assert!(
        cs.image_id
            .starts_with(&format!("{}/team/busybox@sha256:", reg.host())),
        "imageID is the repo digest: {}",
        cs.image_id
    );
    assert_eq!(cs.image, image);
    let ev = real.event_triples("good");
    let reasons: Vec<&str> = ev.iter().map(|(_, r, _, _)| r.as_str()).collect();
    assert_eq!(
        reasons[..4],
        ["Pulling", "Pulled", "Created", "Started"],
        "{ev:#?}"
    );
    let pulled = &ev[1].2;
    assert!(
        pulled.starts_with(&format!("Successfully pulled image \"{image}\" in "))
            && pulled.contains(" including waiting). Image size: ")
            && pulled.ends_with(" bytes."),
        "{pulled}"
    );

    real.apply(pod(
        "bad",
        vec![ctr(
            "c",
            &format!("{}/team/busybox:1", reg.host()),
            &["sleep", "3600"],
            json!({"imagePullPolicy": "Always"}),
        )],
        json!({"imagePullSecrets": [{"name": "wrongcred"}], "terminationGracePeriodSeconds": 1}),
    ));
    let p = real
        .wait_pod("bad", 30, "ErrImagePull", |p| {
            waiting(p).is_some_and(|(r, _)| r == "ErrImagePull")
        })
        .await;
    let (_, msg) = waiting(&p).unwrap();
    assert!(msg.contains("401 Unauthorized"), "{msg}");
    assert!(!msg.contains("guess"), "no password in messages: {msg}");
    // The next resync (10 s) retries: still within... the second failure
    // opens a 20 s window, in which the state is ImagePullBackOff.
    let p = real
        .wait_pod("bad", 40, "ImagePullBackOff", |p| {
            waiting(p).is_some_and(|(r, _)| r == "ImagePullBackOff")
        })
        .await;
    let (_, msg) = waiting(&p).unwrap();
    assert!(
        msg.starts_with(&format!(
            "Back-off pulling image \"{image}\": ErrImagePull: "
        )) && msg.contains("401 Unauthorized"),
        "{msg}"
    );
    let ev = real.event_triples("bad");
    assert!(
        ev.iter().any(|(t, r, m, _)| t == "Warning"
            && r == "Failed"
            && m.starts_with(&format!("Failed to pull image \"{image}\": "))
            && m.contains("401 Unauthorized")),
        "{ev:#?}"
    );
    assert!(
        ev.iter().any(|(t, r, m, _)| t == "Normal"
            && r == "BackOff"
            && *m == format!("Back-off pulling image \"{image}\"")),
        "{ev:#?}"
    );
    assert_eq!(
        real.get("bad").unwrap().status.unwrap().phase.as_deref(),
        Some("Pending")
    );

    real.delete_timed("good", Some(0), 30).await;
    real.delete_timed("bad", Some(0), 30).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    real.finish().await;
}
