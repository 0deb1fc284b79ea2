//! Loading well-formed manifests: multi-document YAML, lists, JSON.

use nodelet_spec::Object;
use nodelet_spec::load::{load_bytes, load_file};

fn names(text: &str) -> Vec<(usize, &'static str, String)> {
    load_bytes("t.yaml", text.as_bytes())
        .unwrap()
        .into_iter()
        .map(|m| {
            assert_eq!(m.source, "t.yaml");
            let name = m.object.metadata().name.clone();
            (m.index, m.object.kind(), name.unwrap_or_default())
        })
        .collect()
}

#[test]
fn multi_document_yaml_skips_empty_documents() {
    let text = "---\n# only a comment\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {k: v}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: sec}\ndata: {k: aGVsbG8=}\nstringData: {p: q}\n...\n";
    assert_eq!(
        names(text),
        vec![
            (0, "Pod", "a".to_string()),
            (1, "Service", "s".to_string()),
            (2, "ConfigMap", "cm".to_string()),
            (3, "Secret", "sec".to_string()),
        ]
    );
}

#[test]
fn empty_input_loads_nothing() {
    assert!(load_bytes("e.yaml", b"").unwrap().is_empty());
    assert!(load_bytes("e.yaml", b"---\n---\n").unwrap().is_empty());
}

#[test]
fn list_items_count_as_documents() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec: {containers: [{name: c, image: i}]}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n---\napiVersion: v1\nkind: PodList\nmetadata: {resourceVersion: \"1\"}\nitems:\n- metadata: {name: c}\n  spec: {containers: [{name: c, image: i}]}\n";
    assert_eq!(
        names(text),
        vec![
            (0, "Pod", "a".to_string()),
            (1, "ConfigMap", "b".to_string()),
            (2, "Pod", "c".to_string()),
        ]
    );
}

#[test]
fn list_item_errors_name_the_item_index() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: ok}\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: bad}\n  spec: {containers: [{name: c, image: i, tty: yes-please}]}\n";
    let e = load_bytes("l.yaml", text.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "l.yaml: document 1 (Pod \"bad\"): invalid value for field \"spec.containers[0].tty\""
        ),
        "{e}"
    );
}

#[test]
fn nested_lists_are_rejected() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n";
    assert_eq!(
        load_bytes("n.yaml", text.as_bytes())
            .unwrap_err()
            .to_string(),
        "n.yaml: document 0 (List): a list item may not itself be a list"
    );
}

#[test]
fn json_single_and_concatenated() {
    let one = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"c","image":"i"}]}}"#;
    let got = load_bytes("p.json", one.as_bytes()).unwrap();
    assert_eq!(got.len(), 1);
    let two = format!(
        "{one}\n{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"x\"}}}}"
    );
    assert_eq!(load_bytes("p.json", two.as_bytes()).unwrap().len(), 2);
}

#[test]
fn json_unknown_field_path() {
    let text = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"c","image":"i","livenessProbe":{"httpGet":{"port":80,"pth":"/"}}}]}}"#;
    assert_eq!(
        load_bytes("p.json", text.as_bytes())
            .unwrap_err()
            .to_string(),
        "p.json: document 0 (Pod \"j\"): unknown field \"spec.containers[0].livenessProbe.httpGet.pth\""
    );
}

#[test]
fn yaml_flow_mapping_is_not_mistaken_for_json() {
    let text = "{apiVersion: v1, kind: ConfigMap, metadata: {name: flow}}";
    assert_eq!(names(text), vec![(0, "ConfigMap", "flow".to_string())]);
}

#[test]
fn load_file_reads_that_file() {
    let dir = std::env::temp_dir().join(format!("nodelet-spec-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cm.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: f}\n",
    )
    .unwrap();
    let got = load_file(&path).unwrap();
    assert_eq!(got[0].source, path.display().to_string());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn int_or_string_ports_and_quantities_load() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n  containers:\n  - name: c\n    image: i\n    resources: {limits: {cpu: 500m, memory: 64Mi}}\n    readinessProbe: {httpGet: {port: http}}\n    livenessProbe: {tcpSocket: {port: 8080}}\n";
    assert_eq!(names(text), vec![(0, "Pod", "q".to_string())]);
}

#[test]
fn yaml_1_1_octal_modes_and_plain_y_n_strings() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes: [{name: s, secret: {secretName: s, defaultMode: 0644}}]\n  containers: [{name: c, image: i, env: [{name: N, value: y}], tty: true}]\n";
    let m = load_bytes("o.yaml", text.as_bytes()).unwrap();
    let Object::Pod(pod) = &m[0].object else {
        panic!("not a pod")
    };
    let spec = pod.spec.as_ref().unwrap();
    let mode = spec.volumes.as_ref().unwrap()[0]
        .secret
        .as_ref()
        .unwrap()
        .default_mode;
    assert_eq!(mode, Some(0o644));
    let env = &spec.containers[0].env.as_ref().unwrap()[0];
    assert_eq!((env.name.as_str(), env.value.as_deref()), ("N", Some("y")));
}

#[test]
fn numeric_quantities_load_as_quantities() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n  containers:\n  - name: c\n    image: i\n    resources: {limits: {cpu: 1, memory: 1073741824}, requests: {cpu: 0.5}}\n  volumes: [{name: v, emptyDir: {sizeLimit: 1000}}]\n";
    let m = load_bytes("q.yaml", text.as_bytes()).unwrap();
    let Object::Pod(pod) = &m[0].object else {
        panic!("not a pod")
    };
    let spec = pod.spec.as_ref().unwrap();
    let res = spec.containers[0].resources.as_ref().unwrap();
    assert_eq!(res.limits.as_ref().unwrap()["cpu"].0, "1");
    assert_eq!(res.limits.as_ref().unwrap()["memory"].0, "1073741824");
    assert_eq!(res.requests.as_ref().unwrap()["cpu"].0, "0.5");
    let size = spec.volumes.as_ref().unwrap()[0]
        .empty_dir
        .as_ref()
        .unwrap()
        .size_limit
        .as_ref()
        .unwrap();
    assert_eq!(size.0, "1000");
    // Elsewhere a number is still a type error, as with kubectl.
    let bad = "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec: {containers: [{name: c, image: i, env: [{name: A, value: 80}]}]}\n";
    let e = load_bytes("q.yaml", bad.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"spec.containers[0].env[0].value\""), "{e}");
}
