//! Properties of the `$(VAR)` expander over arbitrary input.

use nodelet_spec::env::expand;
use proptest::prelude::*;

fn escape(s: &str) -> String {
    s.replace('$', "$$")
}

/// Strings rich in the expander's special characters.
fn tricky() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("$".to_string()),
            Just("(".to_string()),
            Just(")".to_string()),
            Just("$(".to_string()),
            Just("é".to_string()),
            "[A-Z_]{1,3}",
            any::<char>().prop_map(String::from),
        ],
        0..20,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn never_panics(input in any::<String>(), tricky in tricky()) {
        let _ = expand(&input, |n| Some(n.to_lowercase()));
        let _ = expand(&tricky, |_| None);
        let _ = expand(&tricky, |n| Some(format!("<{n}>")));
    }

    #[test]
    fn without_dollar_input_is_unchanged(input in "[^$]*") {
        prop_assert_eq!(expand(&input, |_| Some("X".into())), input);
    }

    #[test]
    fn escaping_round_trips(s in tricky(), define in any::<bool>()) {
        let out = expand(&escape(&s), |n| define.then(|| format!("<{n}>")));
        prop_assert_eq!(out, s);
    }

    #[test]
    fn without_references_only_escapes_change(s in tricky()) {
        // With no `(`, there can be no reference: only `$$` pairs collapse.
        let s = s.replace('(', "");
        prop_assert_eq!(expand(&s, |_| Some("X".into())), s.replace("$$", "$"));
    }

    #[test]
    fn defined_var_is_substituted(
        prefix in "[^$]*",
        name in "[^)]*",
        value in any::<String>(),
        suffix in "[^$]*",
    ) {
        let input = format!("{prefix}$({name}){suffix}");
        let out = expand(&input, |n| (n == name).then(|| value.clone()));
        prop_assert_eq!(out, format!("{prefix}{value}{suffix}"));
    }
}
