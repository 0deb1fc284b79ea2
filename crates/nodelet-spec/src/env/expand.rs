//! The `$(VAR)` expander used for env values, `command` and `args`.
//!
//! Kubernetes does not use shell syntax here but its own small language
//! (upstream `third_party/forked/golang/expansion`), and users rely on its
//! exact corner cases, so this reimplements the same scanner:
//!
//! * `$$` is an escaped `$` and becomes `$` (so `$$(VAR)` is the literal `$(VAR)`);
//! * `$(NAME)` is replaced by the value of `NAME`, or kept literally as
//!   `$(NAME)` when `NAME` is not defined;
//! * `$(` with no `)` anywhere after it is kept literally;
//! * `$` followed by anything else (`$x`, `${x}`) is kept literally, as is
//!   a `$` at the very end of the input.
//!
//! The name is everything between `$(` and the first `)`; it is looked up
//! as is (no trimming, no validation), like upstream.

/// Expands `$(VAR)` references in `input`, resolving names with `lookup`.
///
/// `lookup` returning `None` means "undefined": the reference is kept
/// verbatim so that the container sees `$(VAR)`, which is what the kubelet
/// does (it is how users notice a typo).
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    // Start of the text not yet copied to `out`. Every index we cut at is
    // either 0, the end, or next to an ASCII byte (`$`, `(`, `)`), so the
    // slices below always fall on char boundaries.
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] != b'$' || cursor + 1 >= bytes.len() {
            cursor += 1;
            continue;
        }
        out.push_str(&input[checkpoint..cursor]);
        match bytes[cursor + 1] {
            b'$' => {
                out.push('$');
                cursor += 2;
            }
            b'(' => {
                let name_start = cursor + 2;
                match input[name_start..].find(')') {
                    Some(len) => {
                        let name = &input[name_start..name_start + len];
                        match lookup(name) {
                            Some(value) => out.push_str(&value),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        cursor = name_start + len + 1;
                    }
                    None => {
                        // Unterminated: keep `$(` and scan on after the
                        // `(`, so a later `$` is still an operator.
                        out.push_str("$(");
                        cursor += 2;
                    }
                }
            }
            _ => {
                // Not an expression. The following character is copied as
                // ordinary text (it cannot be `$`, so nothing changes by not
                // consuming it here, and multi-byte chars stay whole).
                out.push('$');
                cursor += 1;
            }
        }
        checkpoint = cursor;
    }
    out.push_str(&input[checkpoint..]);
    out
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn upstream_cases() {
        let cases = [
            ("$(A)", "alpha"),
            ("x$(A)y", "xalphay"),
            ("$(EMPTY)", ""),
            ("$(B)", "$(B)"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$alpha"),
            ("$$$$(A)", "$$(A)"),
            ("$(A", "$(A"),
            ("$(", "$("),
            ("$", "$"),
            ("a$", "a$"),
            ("$x", "$x"),
            ("${A}", "${A}"),
            ("$()", "$()"),
            ("$(A)$(A)", "alphaalpha"),
            ("$($(A))", "$($(A))"),
            ("$(A$(A)", "$(A$(A)"),
            ("$(A $(A)", "$(A $(A)"),
            ("é$é$(A)", "é$éalpha"),
            ("no dollars", "no dollars"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, lookup), want, "input {input:?}");
        }
    }
}
