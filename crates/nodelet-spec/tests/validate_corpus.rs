//! Walks `tests/corpus`: every `valid/` file loads, defaults and validates
//! clean; every `invalid/` file reports at least the errors its `# expect:`
//! (validation) or `# expect-load:` (load) header lines list.

use std::path::{Path, PathBuf};

use nodelet_spec::defaults::default_object;
use nodelet_spec::load::load_bytes;
use nodelet_spec::validate::validate_object;

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "json")
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", root.display());
    files
}

/// The name errors use: relative to `tests/`, so expectations are stable.
fn source_name(path: &Path) -> String {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    path.strip_prefix(&tests).unwrap().display().to_string()
}

/// (validation errors, load errors) of a file; load errors stop validation.
fn problems(path: &Path) -> (Vec<String>, Vec<String>) {
    let bytes = std::fs::read(path).unwrap();
    match load_bytes(&source_name(path), &bytes) {
        Err(e) => (
            Vec::new(),
            e.errors().iter().map(|e| e.to_string()).collect(),
        ),
        Ok(mut manifests) => {
            let mut errs = Vec::new();
            for m in &mut manifests {
                default_object(&mut m.object);
                errs.extend(validate_object(&m.object).iter().map(|e| e.to_string()));
            }
            (errs, Vec::new())
        }
    }
}

fn expectations(path: &Path, tag: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix(tag))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn valid_corpus_is_clean() {
    for path in corpus("valid") {
        let (errs, load_errs) = problems(&path);
        assert!(load_errs.is_empty(), "{}: {load_errs:#?}", path.display());
        assert!(errs.is_empty(), "{}: {errs:#?}", path.display());
    }
}

#[test]
fn invalid_corpus_reports_every_expected_error() {
    for path in corpus("invalid") {
        let expect = expectations(&path, "# expect:");
        let expect_load = expectations(&path, "# expect-load:");
        assert!(
            !expect.is_empty() || !expect_load.is_empty(),
            "{} has no `# expect:` header",
            path.display()
        );
        let (errs, load_errs) = problems(&path);
        for e in &expect {
            assert!(
                errs.contains(e),
                "{}: missing {e:?}\ngot: {errs:#?}",
                path.display()
            );
        }
        for e in &expect_load {
            assert!(
                load_errs.contains(e),
                "{}: missing {e:?}\ngot: {load_errs:#?}",
                path.display()
            );
        }
        // Every reported problem is expected: the corpus documents them all.
        assert_eq!(errs.len(), expect.len(), "{}: {errs:#?}", path.display());
        assert_eq!(
            load_errs.len(),
            expect_load.len(),
            "{}: {load_errs:#?}",
            path.display()
        );
    }
}

#[test]
fn tutorial_pod_defaults_like_the_api_server() {
    let path = corpus("valid")
        .into_iter()
        .find(|p| p.ends_with("lifecycle-tutorial.yaml"))
        .unwrap();
    let mut m = load_bytes("t.yaml", &std::fs::read(path).unwrap()).unwrap();
    default_object(&mut m[0].object);
    let nodelet_spec::Object::Pod(pod) = &m[0].object else {
        panic!("not a pod")
    };
    let spec = pod.spec.as_ref().unwrap();
    let c = &spec.containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
    let pre_stop = c.lifecycle.as_ref().unwrap().pre_stop.as_ref().unwrap();
    assert_eq!(
        pre_stop.exec.as_ref().unwrap().command.as_deref().unwrap(),
        [
            "/bin/sh",
            "-c",
            "nginx -s quit; while killall -0 nginx; do sleep 1; done"
        ]
    );
}
