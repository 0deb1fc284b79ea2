//! Pod Security levels, versions and the namespace labels that choose them
//! (`k8s.io/pod-security-admission/api`): `pod-security.kubernetes.io/
//! {enforce,audit,warn}[-version]`, parsed as the API server parses them
//! (an unknown level counts as `restricted`, an unknown version as
//! `latest`: fail closed), warn defaulting to a stricter enforce level.

use std::collections::BTreeMap;
use std::fmt;

pub const ENFORCE_LEVEL_LABEL: &str = "pod-security.kubernetes.io/enforce";
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";
pub const AUDIT_LEVEL_LABEL: &str = "pod-security.kubernetes.io/audit";
pub const AUDIT_VERSION_LABEL: &str = "pod-security.kubernetes.io/audit-version";
pub const WARN_LEVEL_LABEL: &str = "pod-security.kubernetes.io/warn";
pub const WARN_VERSION_LABEL: &str = "pod-security.kubernetes.io/warn-version";

/// A Pod Security Standards level, least to most restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }

    /// `ParseLevel`: an invalid value is an error and reads as restricted.
    pub fn parse(s: &str) -> Result<Level, (Level, String)> {
        match s {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err((
                Level::Restricted,
                "must be one of privileged, baseline, restricted".to_string(),
            )),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy version: `latest` or `v1.<minor>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    Latest,
    V1(u32),
}

impl Version {
    /// `ParseVersion`: `latest` or `v1.N` (no leading zeros); an invalid
    /// value is an error and reads as latest.
    pub fn parse(s: &str) -> Result<Version, (Version, String)> {
        if s == "latest" {
            return Ok(Version::Latest);
        }
        let bad = || {
            (
                Version::Latest,
                "must be \"latest\" or \"v1.x\"".to_string(),
            )
        };
        let minor = s.strip_prefix("v1.").ok_or_else(bad)?;
        let valid = !minor.is_empty()
            && minor.bytes().all(|b| b.is_ascii_digit())
            && (minor == "0" || !minor.starts_with('0'));
        if !valid {
            return Err(bad());
        }
        minor.parse().map(Version::V1).map_err(|_| bad())
    }

    /// The minor version this evaluates as, given the newest policy
    /// version known (`latest` and anything newer evaluate as that).
    pub fn effective_minor(self, newest: u32) -> u32 {
        match self {
            Version::Latest => newest,
            Version::V1(m) => m.min(newest),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::V1(m) => write!(f, "v1.{m}"),
        }
    }
}

/// A level at a version: `baseline:latest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LevelVersion {
    pub level: Level,
    pub version: Version,
}

impl LevelVersion {
    pub const PRIVILEGED: LevelVersion = LevelVersion {
        level: Level::Privileged,
        version: Version::Latest,
    };
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level, self.version)
    }
}

/// What a namespace enforces, audits and warns about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub enforce: LevelVersion,
    pub audit: LevelVersion,
    pub warn: LevelVersion,
}

impl Policy {
    /// Everything privileged: nothing to evaluate.
    pub fn fully_privileged(&self) -> bool {
        [self.enforce, self.audit, self.warn]
            .iter()
            .all(|lv| lv.level == Level::Privileged)
    }
}

/// A label whose value is not a valid level or version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelError {
    pub label: String,
    pub value: String,
    pub detail: String,
}

impl fmt::Display for LabelError {
    /// `metadata.labels[<label>]: Invalid value: "<value>": <detail>`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "metadata.labels[{}]: Invalid value: {:?}: {}",
            self.label, self.value, self.detail
        )
    }
}

/// `PolicyToEvaluate`: the namespace's labels over `defaults`; invalid
/// values are reported and read fail-closed. Warn follows an explicitly
/// stricter enforce level unless warn is set itself.
pub fn policy_to_evaluate(
    labels: &BTreeMap<String, String>,
    defaults: Policy,
) -> (Policy, Vec<LabelError>) {
    let mut p = defaults;
    let mut errs = Vec::new();
    let mut err = |label: &str, value: &str, detail: String| {
        errs.push(LabelError {
            label: label.to_string(),
            value: value.to_string(),
            detail,
        })
    };
    let mut has_enforce_level = false;
    let level = |label: &str, target: &mut Level, err: &mut dyn FnMut(&str, &str, String)| {
        labels.get(label).map(|v| match Level::parse(v) {
            Ok(l) => {
                *target = l;
                true
            }
            Err((l, d)) => {
                *target = l;
                err(label, v, d);
                false
            }
        })
    };
    let version = |label: &str, target: &mut Version, err: &mut dyn FnMut(&str, &str, String)| {
        labels.get(label).map(|v| match Version::parse(v) {
            Ok(x) => *target = x,
            Err((x, d)) => {
                *target = x;
                err(label, v, d);
            }
        })
    };
    if let Some(ok) = level(ENFORCE_LEVEL_LABEL, &mut p.enforce.level, &mut err) {
        has_enforce_level = ok;
    }
    version(ENFORCE_VERSION_LABEL, &mut p.enforce.version, &mut err);
    level(AUDIT_LEVEL_LABEL, &mut p.audit.level, &mut err);
    version(AUDIT_VERSION_LABEL, &mut p.audit.version, &mut err);
    let has_warn_level = level(WARN_LEVEL_LABEL, &mut p.warn.level, &mut err).is_some();
    let has_warn_version = version(WARN_VERSION_LABEL, &mut p.warn.version, &mut err).is_some();
    if !has_warn_level && has_enforce_level && p.enforce.level > p.warn.level {
        p.warn.level = p.enforce.level;
        if !has_warn_version {
            p.warn.version = p.enforce.version;
        }
    }
    (p, errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const PRIV: Policy = Policy {
        enforce: LevelVersion::PRIVILEGED,
        audit: LevelVersion::PRIVILEGED,
        warn: LevelVersion::PRIVILEGED,
    };

    #[test]
    fn versions_parse_as_upstream() {
        assert_eq!(Version::parse("latest"), Ok(Version::Latest));
        assert_eq!(Version::parse("v1.0"), Ok(Version::V1(0)));
        assert_eq!(Version::parse("v1.25"), Ok(Version::V1(25)));
        for bad in ["v1.01", "1.25", "v2.0", "v1.", "v1.x", ""] {
            assert_eq!(Version::parse(bad).unwrap_err().0, Version::Latest, "{bad}");
        }
        assert_eq!(Version::V1(99).effective_minor(34), 34);
        assert_eq!(Version::Latest.to_string(), "latest");
    }

    #[test]
    fn labels_override_defaults_and_warn_follows_enforce() {
        let (p, errs) = policy_to_evaluate(
            &labels(&[
                (ENFORCE_LEVEL_LABEL, "baseline"),
                (ENFORCE_VERSION_LABEL, "v1.25"),
            ]),
            PRIV,
        );
        assert!(errs.is_empty());
        assert_eq!(p.enforce.to_string(), "baseline:v1.25");
        assert_eq!(p.warn.to_string(), "baseline:v1.25");
        assert_eq!(p.audit, LevelVersion::PRIVILEGED);
        // An explicit warn level wins.
        let (p, _) = policy_to_evaluate(
            &labels(&[
                (ENFORCE_LEVEL_LABEL, "restricted"),
                (WARN_LEVEL_LABEL, "baseline"),
            ]),
            PRIV,
        );
        assert_eq!(p.warn.level, Level::Baseline);
        // Invalid values fail closed and are reported.
        let (p, errs) = policy_to_evaluate(
            &labels(&[(ENFORCE_LEVEL_LABEL, "bogus"), (AUDIT_VERSION_LABEL, "1.2")]),
            PRIV,
        );
        assert_eq!(p.enforce.level, Level::Restricted);
        assert_eq!(
            p.warn.level,
            Level::Privileged,
            "no warn default from an invalid enforce"
        );
        assert_eq!(
            errs[0].to_string(),
            "metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"bogus\": must be one of privileged, baseline, restricted"
        );
        assert_eq!(
            errs[1].to_string(),
            "metadata.labels[pod-security.kubernetes.io/audit-version]: Invalid value: \"1.2\": must be \"latest\" or \"v1.x\""
        );
    }
}
