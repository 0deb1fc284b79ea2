//! Port of the upstream e2e case "Pods should contain environment variables
//! for services" (test/e2e/common/node/pods.go): a server pod labelled
//! `name=<server>`, a service `fooservice` on port 8765 (targetPort 8080)
//! selecting it, and a client pod `client-envvars-<uid>` running `env`
//! whose output must contain the FOOSERVICE_* variables. Here the cluster
//! IP is assigned by the test, the way the API server would.

use k8s_openapi::api::core::v1::{Pod, Service};
use nodelet_spec::env::{EnvContext, container_env};
use serde_json::json;

#[test]
fn client_pod_sees_fooservice_variables() {
    let namespace = "pods-1234";
    let server_name = "server-envvars-0a1b";
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "fooservice", "namespace": namespace, "labels": {"name": "fooservice"}},
        "spec": {
            "clusterIP": "10.0.171.239",
            "ports": [{"port": 8765, "targetPort": 8080, "protocol": "TCP"}],
            "selector": {"name": server_name}
        }
    }))
    .unwrap();
    let client: Pod = serde_json::from_value(json!({
        "metadata": {"name": "client-envvars-5c6d", "namespace": namespace, "labels": {"name": "client-envvars-5c6d"}},
        "spec": {
            "restartPolicy": "Never",
            "enableServiceLinks": true,
            "containers": [{"name": "env3cont", "image": "busybox", "command": ["sh", "-c", "env"]}]
        }
    }))
    .unwrap();

    let services = [service];
    let ctx = EnvContext {
        services: &services,
        ..EnvContext::new(&client, "node-1")
    };
    let env = container_env(&ctx, &client.spec.as_ref().unwrap().containers[0]).unwrap();
    // What `env` prints in the container.
    let output: String = env
        .iter()
        .map(|v| format!("{}={}\n", v.name, v.value))
        .collect();

    // The substrings upstream looks for...
    for expected in [
        "FOOSERVICE_SERVICE_HOST=",
        "FOOSERVICE_SERVICE_PORT=",
        "FOOSERVICE_PORT=",
        "FOOSERVICE_PORT_8765_TCP_PORT=",
        "FOOSERVICE_PORT_8765_TCP_PROTO=",
        "FOOSERVICE_PORT_8765_TCP=",
        "FOOSERVICE_PORT_8765_TCP_ADDR=",
    ] {
        assert!(
            output.contains(expected),
            "{expected:?} missing from:\n{output}"
        );
    }
    // ...and the exact values a kubelet produces.
    for line in [
        "FOOSERVICE_SERVICE_HOST=10.0.171.239\n",
        "FOOSERVICE_SERVICE_PORT=8765\n",
        "FOOSERVICE_PORT=tcp://10.0.171.239:8765\n",
        "FOOSERVICE_PORT_8765_TCP=tcp://10.0.171.239:8765\n",
        "FOOSERVICE_PORT_8765_TCP_PROTO=tcp\n",
        "FOOSERVICE_PORT_8765_TCP_PORT=8765\n",
        "FOOSERVICE_PORT_8765_TCP_ADDR=10.0.171.239\n",
    ] {
        assert!(output.contains(line), "{line:?} missing from:\n{output}");
    }
    assert_eq!(env.len(), 7, "only the service's variables: {output}");
}
