//! Go duration strings (`time.ParseDuration`), the format nodelet's
//! annotations take (`2s`, `1m30s`, `1.5h`, `300ms`), so users write what
//! they write in every other Kubernetes field that takes a duration.

use std::time::Duration;

/// Why a string is not a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoDurationError {
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("time: unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit { unit: String, input: String },
    #[error("time: invalid duration {0:?}: negative durations are not allowed here")]
    Negative(String),
}

fn unit_nanos(u: &str) -> Option<u128> {
    Some(match u {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Parses a non-negative Go duration: a sequence of decimal numbers, each
/// with an optional fraction and a unit (`ns us µs ms s m h`); `0` alone
/// needs no unit. Negative values are refused (nothing here takes one).
pub fn parse(s: &str) -> Result<Duration, GoDurationError> {
    let invalid = || GoDurationError::Invalid(s.to_owned());
    let mut rest = s;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if rest.starts_with('-') {
        return Err(GoDurationError::Negative(s.to_owned()));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(GoDurationError::MissingUnit(s.to_owned()));
        }
        let scale = unit_nanos(unit).ok_or_else(|| GoDurationError::UnknownUnit {
            unit: unit.to_owned(),
            input: s.to_owned(),
        })?;
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut nanos = int.checked_mul(scale).ok_or_else(invalid)?;
        // The fraction, to nanosecond precision (Go truncates likewise).
        let mut frac_scale = scale;
        for d in frac_part.bytes() {
            frac_scale /= 10;
            if frac_scale == 0 {
                break;
            }
            nanos += u128::from(d - b'0') * frac_scale;
        }
        total = total.checked_add(nanos).ok_or_else(invalid)?;
        // Go's durations are int64 nanoseconds (about 292 years).
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
        rest = after;
    }
    Ok(Duration::from_nanos(
        u64::try_from(total).map_err(|_| invalid())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_examples() {
        let ok = [
            ("0", 0),
            ("2s", 2_000_000_000),
            ("1m30s", 90_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("300ms", 300_000_000),
            ("2h45m", 9_900_000_000_000),
            ("1µs", 1_000),
            ("1us", 1_000),
            ("+5s", 5_000_000_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
        ];
        for (s, n) in ok {
            assert_eq!(parse(s), Ok(Duration::from_nanos(n)), "{s}");
        }
        for bad in ["", "s", "2", "1x", "1.2.3s", ".s", "--1s", "9999999999h"] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
        assert!(matches!(parse("-1s"), Err(GoDurationError::Negative(_))));
        assert!(matches!(parse("5"), Err(GoDurationError::MissingUnit(_))));
        assert!(matches!(
            parse("5d"),
            Err(GoDurationError::UnknownUnit { .. })
        ));
    }
}
