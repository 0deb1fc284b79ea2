//! Load errors: every malformed input gives an error naming the source
//! (and the document), never a panic.

use nodelet_spec::load::{DocumentProblem, LoadError, load_bytes};

fn err(src: &str, text: &[u8]) -> String {
    match load_bytes(src, text) {
        Ok(m) => panic!("expected an error, loaded {m:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_kind_names_file_document_and_kind() {
    let text = b"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: i}]}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n";
    let e = err("multi.yaml", text);
    assert_eq!(
        e,
        "multi.yaml: document 1 (Deployment \"d\"): unknown kind \"Deployment\" (apiVersion \"apps/v1\"); supported kinds: Pod, Service, ConfigMap, Secret, ServiceAccount (apiVersion \"v1\") and their lists"
    );
}

#[test]
fn wrong_api_version_is_rejected() {
    let e = err(
        "p.yaml",
        b"apiVersion: v2\nkind: Pod\nmetadata: {name: a}\n",
    );
    assert_eq!(
        e,
        "p.yaml: document 0 (Pod \"a\"): apiVersion \"v2\" is not supported for kind \"Pod\": expected \"v1\""
    );
}

#[test]
fn missing_kind_is_named() {
    let e = err("p.yaml", b"apiVersion: v1\nmetadata: {name: a}\n");
    assert_eq!(e, "p.yaml: document 0: missing required field \"kind\"");
}

#[test]
fn unknown_nested_field_has_full_path() {
    let text = b"apiVersion: v1
kind: Pod
metadata:
  name: x
spec:
  containers:
  - name: c
    image: nginx
    lifecycle:
      postStrat:
        exec:
          command: [true]
";
    assert_eq!(
        err("pod.yaml", text),
        "pod.yaml: document 0 (Pod \"x\"): unknown field \"spec.containers[0].lifecycle.postStrat\""
    );
}

#[test]
fn all_unknown_fields_of_all_documents_are_reported() {
    let text = b"apiVersion: v1
kind: Pod
metadata: {name: x, lables: {a: b}}
spec:
  containers:
  - {name: c, image: nginx, imagePullPolcy: Always}
  - {name: d, image: nginx, ports: [{containerPort: 80, protcol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {ports: [{port: 80}], tpye: ClusterIP}
";
    let e = load_bytes("two.yaml", text).unwrap_err();
    let lines: Vec<String> = e.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "two.yaml: document 0 (Pod \"x\"): unknown field \"metadata.lables\"",
            "two.yaml: document 0 (Pod \"x\"): unknown field \"spec.containers[0].imagePullPolcy\"",
            "two.yaml: document 0 (Pod \"x\"): unknown field \"spec.containers[1].ports[0].protcol\"",
            "two.yaml: document 1 (Service \"s\"): unknown field \"spec.tpye\"",
        ]
    );
    assert_eq!(e.to_string(), lines.join("\n"));
}

#[test]
fn null_fields_are_not_unknown() {
    let text = b"apiVersion: v1\nkind: Pod\nmetadata: {name: x, creationTimestamp: null, bogus: null}\nspec: {containers: [{name: c, image: i, resources: {}}]}\n";
    load_bytes("p.yaml", text).unwrap();
}

#[test]
fn type_error_names_the_field_path() {
    let text = b"apiVersion: v1
kind: Pod
metadata: {name: x}
spec:
  containers:
  - name: c
    image: nginx
    ports:
    - containerPort: eighty
";
    let e = err("pod.yaml", text);
    assert!(
        e.starts_with(
            "pod.yaml: document 0 (Pod \"x\"): invalid value for field \"spec.containers[0].ports[0].containerPort\": "
        ),
        "{e}"
    );
}

#[test]
fn huge_numbers_are_type_errors() {
    let text = b"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  terminationGracePeriodSeconds: 123456789012345678901234567890\n  containers: [{name: c, image: i, ports: [{containerPort: 99999999999999}]}]\n";
    let e = err("big.yaml", text);
    assert!(
        e.starts_with("big.yaml: document 0 (Pod \"x\"): invalid value for field \"spec."),
        "{e}"
    );
    let json = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"c","ports":[{"containerPort":1e400}]}]}}"#;
    let e = err("big.json", json);
    assert!(e.starts_with("big.json: "), "{e}");
}

#[test]
fn truncated_yaml_is_a_syntax_error() {
    let e = err(
        "t.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: x\nspec:\n  containers: [\n",
    );
    assert!(e.starts_with("t.yaml: invalid YAML: "), "{e}");
    let e = err(
        "t.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"x\n",
    );
    assert!(e.starts_with("t.yaml: invalid YAML: "), "{e}");
}

#[test]
fn truncated_json_is_a_json_error() {
    let e = err(
        "t.json",
        br#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"#,
    );
    assert!(e.starts_with("t.json: invalid JSON: "), "{e}");
}

#[test]
fn invalid_utf8_names_file_and_offset() {
    let e = load_bytes("bin.yaml", b"apiVersion: v1\nkind: \xff\xfePod\n").unwrap_err();
    assert!(
        matches!(e, LoadError::InvalidUtf8 { offset: 21, .. }),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "bin.yaml: not valid UTF-8 (invalid byte at offset 21)"
    );
}

#[test]
fn deep_nesting_is_rejected() {
    let deep_json = "[".repeat(10_000);
    let e = err("deep.json", deep_json.as_bytes());
    assert!(e.starts_with("deep.json: "), "{e}");
    let deep_yaml = format!("a: {}", "[".repeat(10_000));
    let e = err("deep.yaml", deep_yaml.as_bytes());
    assert!(e.starts_with("deep.yaml: "), "{e}");
    let mut block = String::new();
    for i in 0..500 {
        block.push_str(&" ".repeat(i));
        block.push_str("k:\n");
    }
    let e = err("block.yaml", block.as_bytes());
    assert!(e.starts_with("block.yaml: "), "{e}");
    // Valid JSON nested 120 deep: below serde_json's limit, above ours.
    let nested = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"x","annotations":{{"a":"b"}}}},"spec":{{"containers":[{{"name":"c","command":{}0{}}}]}}}}"#,
        "[".repeat(120),
        "]".repeat(120)
    );
    let e = load_bytes("n.json", nested.as_bytes()).unwrap_err();
    assert!(
        matches!(
            e,
            LoadError::Document {
                problem: DocumentProblem::TooDeep(100),
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn alias_bomb_is_rejected() {
    let bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
";
    let e = err("bomb.yaml", bomb.as_bytes());
    assert!(e.starts_with("bomb.yaml: "), "{e}");
}

#[test]
fn not_a_mapping() {
    assert_eq!(
        err("s.yaml", b"- a\n- b\n"),
        "s.yaml: document 0: expected a mapping (an object), found a sequence"
    );
    assert_eq!(
        err("s.yaml", b"just a string\n"),
        "s.yaml: document 0: expected a mapping (an object), found a string"
    );
}

#[test]
fn oversized_input_is_rejected_before_parsing() {
    let big = vec![b' '; (nodelet_spec::load::MAX_MANIFEST_BYTES + 1) as usize];
    let e = err("huge.yaml", &big);
    assert_eq!(
        e,
        format!(
            "huge.yaml: manifest is {} bytes, more than the limit of {} bytes",
            big.len(),
            nodelet_spec::load::MAX_MANIFEST_BYTES
        )
    );
}

#[test]
fn ten_megabyte_document_loads_quickly() {
    let value = "x".repeat(10 * 1024 * 1024);
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n  annotations:\n    blob: \"{value}\"\nspec:\n  containers: [{{name: c, image: i}}]\n"
    );
    let start = std::time::Instant::now();
    let m = load_bytes("big.yaml", text.as_bytes()).unwrap();
    let took = start.elapsed();
    assert_eq!(m.len(), 1);
    eprintln!("10 MiB document loaded in {took:?}");
}

#[test]
fn ten_megabyte_document_of_many_nodes_does_not_panic() {
    let mut text = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: many}\ndata:\n");
    let mut i = 0;
    while text.len() < 10 * 1024 * 1024 {
        text.push_str(&format!("  k{i}: v{i}\n"));
        i += 1;
    }
    let start = std::time::Instant::now();
    let r = load_bytes("many.yaml", text.as_bytes());
    eprintln!(
        "{} keys in {:?}: {:?}",
        i,
        start.elapsed(),
        r.as_ref().map(|m| m.len()).map_err(|e| e.to_string())
    );
    if let Err(e) = r {
        assert!(e.to_string().starts_with("many.yaml: "), "{e}");
    }
}

#[test]
fn missing_file_names_the_path() {
    let e = nodelet_spec::load::load_file(std::path::Path::new("/nonexistent/x.yaml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.yaml: cannot read: "),
        "{e}"
    );
}
