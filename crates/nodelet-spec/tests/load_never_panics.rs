//! Property: no input makes the loader panic.

use nodelet_spec::load::load_bytes;
use proptest::prelude::*;

const SEED: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx\n    ports: [{containerPort: 80, name: http}]\n    lifecycle:\n      preStop: {exec: {command: [sh, -c, 'sleep 1']}}\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = load_bytes("fuzz.yaml", &bytes);
    }

    #[test]
    fn yamlish_text_never_panics(text in "[-a-z:{}\\[\\],&*!|>'\" \n#0-9.]{0,300}") {
        let _ = load_bytes("fuzz.yaml", text.as_bytes());
    }

    #[test]
    fn mutated_manifest_never_panics(pos in 0usize..SEED.len(), len in 0usize..20, insert in "[ -~\n]{0,10}") {
        let mut bytes = SEED.as_bytes().to_vec();
        let end = (pos + len).min(bytes.len());
        bytes.splice(pos..end, insert.bytes());
        if let Err(e) = load_bytes("m.yaml", &bytes) {
            prop_assert!(e.to_string().starts_with("m.yaml: "), "{}", e);
        }
    }
}
