//! Exact parsing of Kubernetes resource quantities (`100m`, `1Gi`, `1e3`).
//!
//! k8s-openapi keeps a `Quantity` as the string the user wrote, but the
//! downward API (`resourceFieldRef`) has to divide it by a divisor and round
//! up, so we need its numeric value. Floating point would turn `0.1` into
//! 0.1000000000000000055 and `ceil` would then be off by one, so values are
//! held exactly as an integer count of nano-units, which is also the finest
//! precision Kubernetes keeps (finer values are rounded up, as upstream's
//! `Quantity` does).

use thiserror::Error;

/// A quantity's value in units of 10^-9 (exact within that precision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nanos(pub i128);

/// Why a quantity string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuantityError {
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format,
    #[error("quantity is too large")]
    Overflow,
}

const NANO_EXP: i32 = 9;

impl Nanos {
    /// Parses the Kubernetes quantity grammar:
    /// `[+-]<digits>[.<digits>]<suffix>` where suffix is a binary SI suffix
    /// (`Ki`..`Ei`), a decimal SI suffix (`n u m k M G T P E` or none) or a
    /// decimal exponent (`e3`, `E-2`).
    pub fn parse(input: &str) -> Result<Nanos, QuantityError> {
        let (negative, rest) = match input.as_bytes().first() {
            Some(b'-') => (true, &input[1..]),
            Some(b'+') => (false, &input[1..]),
            _ => (false, input),
        };
        let number_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let (number, suffix) = rest.split_at(number_len);
        let (mantissa, frac_digits) = parse_number(number)?;
        let (pow2, pow10) = parse_suffix(suffix)?;

        // value = mantissa * 2^pow2 * 10^(pow10 - frac_digits); in nanos
        // the power of ten grows by 9.
        let mut value = mantissa
            .checked_mul(pow_checked(2, pow2)?)
            .ok_or(QuantityError::Overflow)?;
        let exp10 = pow10 + NANO_EXP - frac_digits;
        if value != 0 {
            if exp10 >= 0 {
                value = value
                    .checked_mul(pow_checked(10, exp10)?)
                    .ok_or(QuantityError::Overflow)?;
            } else if -exp10 > 38 {
                // Smaller than one nano-unit: rounds up to one.
                value = 1;
            } else {
                value = div_ceil(value, pow_checked(10, -exp10)?);
            }
        }
        // Upstream rounds away from zero for negatives too (magnitude is
        // rounded up before the sign is applied).
        Ok(Nanos(if negative { -value } else { value }))
    }

    /// The value in whole units, rounded up (upstream `Quantity.Value()`).
    pub fn value(self) -> i128 {
        div_ceil(self.0, 1_000_000_000)
    }

    /// The value in thousandths, rounded up (upstream `MilliValue()`).
    pub fn milli_value(self) -> i128 {
        div_ceil(self.0, 1_000_000)
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// Splits `12.5` into mantissa 125 and one fractional digit.
fn parse_number(number: &str) -> Result<(i128, i32), QuantityError> {
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return Err(QuantityError::Format);
    }
    let mut mantissa: i128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(b - b'0')))
            .ok_or(QuantityError::Overflow)?;
    }
    let frac_digits = i32::try_from(frac_part.len()).map_err(|_| QuantityError::Overflow)?;
    Ok((mantissa, frac_digits))
}

/// Returns (power of two, power of ten) the suffix multiplies by.
fn parse_suffix(suffix: &str) -> Result<(i32, i32), QuantityError> {
    let decimal = |e| Ok((0, e));
    let binary = |e| Ok((e, 0));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let exp = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))
                .ok_or(QuantityError::Format)?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(QuantityError::Format);
            }
            // Anything beyond a few hundred cannot be represented anyway.
            let e: i32 = exp.parse().map_err(|_| QuantityError::Overflow)?;
            if !(-1000..=1000).contains(&e) {
                return Err(QuantityError::Overflow);
            }
            decimal(e)
        }
    }
}

fn pow_checked(base: i128, exp: i32) -> Result<i128, QuantityError> {
    let exp = u32::try_from(exp).map_err(|_| QuantityError::Overflow)?;
    base.checked_pow(exp).ok_or(QuantityError::Overflow)
}

/// Division rounding toward positive infinity (divisor must be positive).
pub(crate) fn div_ceil(a: i128, d: i128) -> i128 {
    let q = a / d;
    if a % d != 0 && a > 0 { q + 1 } else { q }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> i128 {
        Nanos::parse(s).unwrap().0
    }

    #[test]
    fn parses_the_quantity_grammar() {
        assert_eq!(n("1"), 1_000_000_000);
        assert_eq!(n("100m"), 100_000_000);
        assert_eq!(n("0.5"), 500_000_000);
        assert_eq!(n(".5"), 500_000_000);
        assert_eq!(n("5."), 5_000_000_000);
        assert_eq!(n("1Ki"), 1024 * 1_000_000_000);
        assert_eq!(n("1.5Gi"), 3 * (1 << 29) * 1_000_000_000);
        assert_eq!(n("1e3"), 1_000 * 1_000_000_000);
        assert_eq!(n("1E3"), 1_000 * 1_000_000_000);
        assert_eq!(n("1E"), 1_000_000_000_000_000_000 * 1_000_000_000);
        assert_eq!(n("25e-1"), 2_500_000_000);
        assert_eq!(n("1n"), 1);
        assert_eq!(n("1u"), 1_000);
        assert_eq!(n("+2k"), 2_000 * 1_000_000_000);
        assert_eq!(n("-2"), -2_000_000_000);
        // Finer than a nano-unit rounds up.
        assert_eq!(n("0.0000000001"), 1);
        assert_eq!(n("0"), 0);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "", "m", ".", "1.2.3", "1Kb", "1 Gi", "1e", "1e+", "abc", "1ki", "--1",
        ] {
            assert_eq!(Nanos::parse(bad), Err(QuantityError::Format), "{bad:?}");
        }
        assert_eq!(Nanos::parse("1e40"), Err(QuantityError::Overflow));
    }

    #[test]
    fn values_round_up() {
        assert_eq!(Nanos::parse("100m").unwrap().value(), 1);
        assert_eq!(Nanos::parse("1500m").unwrap().value(), 2);
        assert_eq!(Nanos::parse("1n").unwrap().milli_value(), 1);
        assert_eq!(Nanos::parse("250m").unwrap().milli_value(), 250);
        assert_eq!(Nanos::parse("-1500m").unwrap().value(), -1);
    }
}
