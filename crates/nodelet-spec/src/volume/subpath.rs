//! `subPath` and `subPathExpr` as the kubelet's `makeMounts` checks them
//! before touching the host: `$(VAR)` expansion against the container's
//! environment (every referenced variable must have a value), then no
//! absolute path and no `..`.

use std::collections::BTreeSet;

use crate::env::expand;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubPathError {
    /// `kubecontainer.ExpandContainerVolumeMounts`.
    #[error("missing value for {0}")]
    MissingValue(String),
    #[error("error SubPath `{0}` must not be an absolute path")]
    Absolute(String),
    #[error("unable to provision SubPath `{0}`: must not contain '..'")]
    Backsteps(String),
}

/// Expands `$(VAR)` references in `expr`; a variable that is unset or
/// empty is an error naming every such variable, sorted.
pub fn expand_subpath_expr(
    expr: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, SubPathError> {
    let missing = std::cell::RefCell::new(BTreeSet::new());
    let out = expand(expr, |name| {
        let v = lookup(name).filter(|v| !v.is_empty());
        if v.is_none() {
            missing.borrow_mut().insert(name.to_owned());
        }
        Some(v.unwrap_or_default())
    });
    let missing = missing.into_inner();
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(SubPathError::MissingValue(
            missing.into_iter().collect::<Vec<_>>().join(", "),
        ))
    }
}

/// The host-independent checks on a (possibly expanded) subPath.
pub fn check_subpath(sub_path: &str) -> Result<(), SubPathError> {
    if sub_path.starts_with('/') {
        return Err(SubPathError::Absolute(sub_path.to_owned()));
    }
    if sub_path.split('/').any(|p| p == "..") {
        return Err(SubPathError::Backsteps(sub_path.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "POD_NAME" => Some("web-0".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_reports_missing() {
        assert_eq!(
            expand_subpath_expr("logs/$(POD_NAME)", env).unwrap(),
            "logs/web-0"
        );
        assert_eq!(
            expand_subpath_expr("$(B)/$(A)/$(EMPTY)", env)
                .unwrap_err()
                .to_string(),
            "missing value for A, B, EMPTY"
        );
        assert_eq!(expand_subpath_expr("$$(X)", env).unwrap(), "$(X)");
    }

    #[test]
    fn refuses_escapes() {
        assert!(check_subpath("a/b").is_ok());
        assert!(check_subpath("a..b").is_ok());
        assert_eq!(
            check_subpath("/etc").unwrap_err().to_string(),
            "error SubPath `/etc` must not be an absolute path"
        );
        assert_eq!(
            check_subpath("a/../..").unwrap_err().to_string(),
            "unable to provision SubPath `a/../..`: must not contain '..'"
        );
    }
}
