//! Fuzz target: a layer blob (gzip, zstd or plain tar, sniffed as for a
//! pull or load) unpacked by the layer store. Whatever the bytes, the
//! unpack must end in Ok or an error, and nothing may appear outside the
//! store: the scratch directory holds only the blob and the store, and a
//! sibling directory stays empty. Small limits keep bombs cheap.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nodelet_runtime::image::UnpackLimits;
use nodelet_runtime::image::layers::LayerStore;

/// A diff_id no input hashes to: the layer is unpacked, then refused by
/// the digest check, which removes it (the path a tampered blob takes).
const DIFF_ID: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read scratch dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

fuzz_target!(|data: &[u8]| {
    let tmp = tempfile::tempdir().expect("tempdir");
    let outside = tmp.path().join("outside");
    let store_dir = tmp.path().join("store").join("layers");
    std::fs::create_dir_all(&outside).expect("mkdir");
    let blob = tmp.path().join("blob");
    std::fs::write(&blob, data).expect("write blob");
    let limits = UnpackLimits {
        max_bytes: 4 << 20,
        max_entries: 2_000,
    };
    let store = LayerStore::open(&store_dir, limits).expect("open layer store");
    let res = store.ensure(DIFF_ID, &blob);
    assert!(res.is_err(), "a blob hashing to zeros was accepted");
    assert_eq!(names(tmp.path()), ["blob", "outside", "store"]);
    assert_eq!(names(&tmp.path().join("store")), ["layers"]);
    assert!(
        names(&outside).is_empty(),
        "written outside: {:?}",
        names(&outside)
    );
    // A refused layer leaves nothing behind (nor its lock file).
    assert!(
        names(&store_dir).is_empty(),
        "left in the store: {:?}",
        names(&store_dir)
    );
});
