//! A secret volume's files (`secret.MakePayload`).

use k8s_openapi::api::core::v1::{KeyToPath, Secret};

use super::payload::{FileDefaults, FileProjection, Payload, PayloadError, clean};

/// The files of `secret` (`None`: it does not exist, allowed only when
/// `optional`), like [`super::config_map_payload`].
pub fn secret_payload(
    name: &str,
    items: &[KeyToPath],
    secret: Option<&Secret>,
    defaults: FileDefaults,
    optional: bool,
) -> Result<Payload, PayloadError> {
    let Some(secret) = secret else {
        return if optional {
            Ok(Payload::new())
        } else {
            Err(PayloadError(format!("secret \"{name}\" not found")))
        };
    };
    let mut out = Payload::new();
    if items.is_empty() {
        for (k, v) in secret.data.iter().flatten() {
            out.insert(
                clean(k),
                FileProjection {
                    data: v.0.clone(),
                    mode: defaults.mode,
                    user: defaults.user,
                },
            );
        }
        return Ok(out);
    }
    for item in items {
        let Some(data) = secret.data.as_ref().and_then(|d| d.get(&item.key)) else {
            if optional {
                continue;
            }
            return Err(PayloadError(format!(
                "references non-existent secret key: {}",
                item.key
            )));
        };
        out.insert(
            clean(&item.path),
            FileProjection {
                data: data.0.clone(),
                mode: item.mode.unwrap_or(defaults.mode),
                user: item.user.or(defaults.user),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    #[test]
    fn keys_items_and_missing() {
        let s = Secret {
            data: Some(
                [("data-1".to_string(), ByteString(b"value-1\n".to_vec()))]
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        };
        let p = secret_payload("s", &[], Some(&s), FileDefaults::mode(0o400), false).unwrap();
        assert_eq!(p["data-1"].data, b"value-1\n");
        assert_eq!(p["data-1"].mode, 0o400);
        let e = secret_payload("s", &[], None, FileDefaults::mode(0o644), false).unwrap_err();
        assert_eq!(e.to_string(), "secret \"s\" not found");
        let items = [KeyToPath {
            key: "nope".into(),
            path: "x".into(),
            mode: None,
            user: None,
        }];
        let e =
            secret_payload("s", &items, Some(&s), FileDefaults::mode(0o644), false).unwrap_err();
        assert_eq!(e.to_string(), "references non-existent secret key: nope");
    }
}
