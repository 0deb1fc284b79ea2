//! Fuzz target: a container's CRI log file as `pods/log` reads it (the
//! container writes the text of every line, so all of it is untrusted):
//! the first bytes pick the options and where the file is split between
//! the first read and follow's later reads. Rendering must not panic, and
//! limitBytes must bound what is sent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nodelet_api::fuzzing::{cri_log, log_opts};

fuzz_target!(|data: &[u8]| {
    let Some((head, content)) = data.split_first_chunk::<4>() else {
        return;
    };
    let tail = (head[0] & 0x80 != 0).then(|| i64::from(head[0] & 0x7f) - 2);
    let limit = (head[1] & 0x80 != 0).then(|| i64::from(head[1] & 0x7f) * 16 - 32);
    let opts = log_opts(head[2] & 1 != 0, tail, limit);
    let split = usize::from(head[3]) * content.len() / 255;
    let chunk = usize::from(head[2] >> 1) + 1;
    let out = cri_log(content, split, chunk, &opts);
    if let Some(l) = limit {
        assert!(
            out.len() as i64 <= l.max(0),
            "limitBytes {l} exceeded: {}",
            out.len()
        );
    }
});
