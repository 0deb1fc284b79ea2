//! A configMap volume's files (`configmap.MakePayload`).

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath};

use super::payload::{FileDefaults, FileProjection, Payload, PayloadError, clean};

/// The files of `config_map` (`None`: it does not exist, allowed only when
/// `optional`): every key of `data` and `binaryData` named after the key,
/// or only `items`, each under its `path`. A missing key is an error
/// unless the volume is optional.
pub fn config_map_payload(
    name: &str,
    items: &[KeyToPath],
    config_map: Option<&ConfigMap>,
    defaults: FileDefaults,
    optional: bool,
) -> Result<Payload, PayloadError> {
    let Some(cm) = config_map else {
        return if optional {
            Ok(Payload::new())
        } else {
            Err(PayloadError(format!("configmap \"{name}\" not found")))
        };
    };
    let lookup = |key: &str| -> Option<Vec<u8>> {
        cm.data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| {
                cm.binary_data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|b| b.0.clone())
            })
    };
    let mut out = Payload::new();
    if items.is_empty() {
        for (k, v) in cm.data.iter().flatten() {
            out.insert(
                clean(k),
                file(v.as_bytes().to_vec(), defaults.mode, defaults.user),
            );
        }
        for (k, v) in cm.binary_data.iter().flatten() {
            out.insert(clean(k), file(v.0.clone(), defaults.mode, defaults.user));
        }
        return Ok(out);
    }
    for item in items {
        let Some(data) = lookup(&item.key) else {
            if optional {
                continue;
            }
            return Err(PayloadError(format!(
                "configmap references non-existent config key: {}",
                item.key
            )));
        };
        out.insert(
            clean(&item.path),
            file(
                data,
                item.mode.unwrap_or(defaults.mode),
                item.user.or(defaults.user),
            ),
        );
    }
    Ok(out)
}

fn file(data: Vec<u8>, mode: i32, user: Option<i64>) -> FileProjection {
    FileProjection { data, mode, user }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cm(data: &[(&str, &str)]) -> ConfigMap {
        ConfigMap {
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..Default::default()
        }
    }

    fn item(key: &str, path: &str, mode: Option<i32>) -> KeyToPath {
        KeyToPath {
            key: key.into(),
            path: path.into(),
            mode,
            user: None,
        }
    }

    const D: FileDefaults = FileDefaults {
        mode: 0o644,
        user: None,
    };

    #[test]
    fn all_keys_with_default_mode() {
        let p =
            config_map_payload("c", &[], Some(&cm(&[("a", "1"), ("b", "2")])), D, false).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p["a"].data, b"1");
        assert_eq!(p["b"].mode, 0o644);
    }

    #[test]
    fn items_map_keys_to_paths_and_modes() {
        let c = cm(&[("data-1", "value-1"), ("data-2", "value-2")]);
        let p = config_map_payload(
            "c",
            &[item("data-2", "path/to/data-2", Some(0o400))],
            Some(&c),
            D,
            false,
        )
        .unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), vec!["path/to/data-2"]);
        assert_eq!(p["path/to/data-2"].mode, 0o400);
        assert_eq!(p["path/to/data-2"].data, b"value-2");
    }

    #[test]
    fn missing_object_and_key() {
        let e = config_map_payload("cfg", &[], None, D, false).unwrap_err();
        assert_eq!(e.to_string(), "configmap \"cfg\" not found");
        assert!(
            config_map_payload("cfg", &[], None, D, true)
                .unwrap()
                .is_empty()
        );
        let c = cm(&[("a", "1")]);
        let e =
            config_map_payload("cfg", &[item("zz", "z", None)], Some(&c), D, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "configmap references non-existent config key: zz"
        );
        let p = config_map_payload("cfg", &[item("zz", "z", None)], Some(&c), D, true).unwrap();
        assert!(p.is_empty());
    }
}
