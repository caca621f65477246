//! Money: prices such as "$0.01" turned into a token's atomic units with exact decimal arithmetic.

use crate::prelude::*;
use alloy_primitives::U256;

use crate::error::{Error, ErrorCode, Result};
use crate::wire::truncate;

/// The precision paywire keeps for USD amounts that are not tied to one token (caps, budgets).
pub const USD_DECIMALS: u8 = 18;

/// Converts a price to atomic units of a token with `decimals` decimals.
///
/// Accepts `"$0.01"`, `"0.0025"`, `"1"`, `"$1.50"` (surrounding spaces allowed). Rejects, with
/// [`ErrorCode::InvalidPrice`], anything else: scientific notation, signs, separators, empty parts, zero; and
/// with [`ErrorCode::PriceTooPrecise`] a price with more decimals than the token has. Never rounds.
pub fn parse_price(price: &str, decimals: u8) -> Result<U256> {
    let (int_part, frac_part) = split_decimal(price)?;
    if frac_part.len() > decimals as usize {
        return Err(Error::new(
            ErrorCode::PriceTooPrecise,
            format!(
                "price \"{}\" has {} decimals but the token has only {decimals}; the smallest amount it can \
                 express is {}",
                truncate(price),
                frac_part.len(),
                format_units(U256::from(1), decimals)
            ),
        ));
    }
    let value = to_atomic(int_part, frac_part, decimals).ok_or_else(|| {
        Error::new(ErrorCode::AmountOutOfRange, format!("price \"{}\" is too large", truncate(price)))
    })?;
    if value.is_zero() {
        return Err(Error::new(
            ErrorCode::InvalidPrice,
            format!("price \"{}\" is zero; a paid resource must cost something", truncate(price)),
        ));
    }
    Ok(value)
}

/// A USD amount with 18 decimals of precision, for caps and budgets that apply across tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Usd(U256);

impl Usd {
    /// Parses "$1", "0.50", "$0.0001"; up to 18 decimals.
    pub fn parse(text: &str) -> Result<Usd> {
        let (int_part, frac_part) = split_decimal(text)?;
        if frac_part.len() > USD_DECIMALS as usize {
            return Err(Error::new(
                ErrorCode::PriceTooPrecise,
                format!("amount \"{}\" has more than {USD_DECIMALS} decimals", truncate(text)),
            ));
        }
        to_atomic(int_part, frac_part, USD_DECIMALS).map(Usd).ok_or_else(|| {
            Error::new(ErrorCode::AmountOutOfRange, format!("amount \"{}\" is too large", truncate(text)))
        })
    }

    /// The amount in a USD token's atomic units, rounded down (a cap never grows by conversion).
    pub fn to_atomic(self, decimals: u8) -> U256 {
        if decimals <= USD_DECIMALS {
            self.0 / pow10(USD_DECIMALS - decimals)
        } else {
            self.0.saturating_mul(pow10(decimals - USD_DECIMALS))
        }
    }

    /// The USD value of `amount` atomic units of a USD token, rounded up (spending never shrinks by conversion).
    pub fn from_atomic(amount: U256, decimals: u8) -> Usd {
        if decimals <= USD_DECIMALS {
            Usd(amount.saturating_mul(pow10(USD_DECIMALS - decimals)))
        } else {
            let unit = pow10(decimals - USD_DECIMALS);
            let (q, r) = amount.div_rem(unit);
            Usd(if r.is_zero() { q } else { q + U256::from(1) })
        }
    }

    /// Zero dollars.
    pub const ZERO: Usd = Usd(U256::ZERO);

    /// The sum, saturating.
    pub fn saturating_add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }

    /// The difference, floored at zero.
    pub fn saturating_sub(self, other: Usd) -> Usd {
        Usd(self.0.saturating_sub(other.0))
    }
}

impl core::fmt::Display for Usd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "${}", format_units(self.0, USD_DECIMALS))
    }
}

/// Formats atomic units as a plain decimal ("10000" with 6 decimals is "0.01"), without trailing zeros.
pub fn format_units(amount: U256, decimals: u8) -> String {
    if decimals == 0 {
        return amount.to_string();
    }
    let unit = pow10(decimals);
    let (int, frac) = amount.div_rem(unit);
    if frac.is_zero() {
        return int.to_string();
    }
    let frac = format!("{:0>width$}", frac.to_string(), width = decimals as usize);
    format!("{int}.{}", frac.trim_end_matches('0'))
}

fn split_decimal(price: &str) -> Result<(&str, &str)> {
    let invalid = |why: &str| {
        Error::new(
            ErrorCode::InvalidPrice,
            format!("price \"{}\" {why}; write a plain decimal such as \"$0.01\" or \"0.0025\"", truncate(price)),
        )
    };
    // "$0.01", "$ 0.01", "0.01 USD" and "0.01" all name the same USD price (as the official servers read it).
    let text = price.trim();
    let text = text.strip_prefix('$').map(str::trim_start).unwrap_or(text);
    let text = match text.rsplit_once(char::is_whitespace) {
        Some((amount, unit)) if unit.eq_ignore_ascii_case("usd") => amount.trim_end(),
        Some((_, unit)) if unit.bytes().all(|b| b.is_ascii_alphabetic()) => {
            return Err(invalid("names a token; price other tokens with an explicit token amount"));
        }
        _ => text,
    };
    if text.is_empty() {
        return Err(invalid("has no digits"));
    }
    if text.contains(['e', 'E']) {
        return Err(invalid("uses scientific notation"));
    }
    if text.starts_with('-') {
        return Err(invalid("is negative"));
    }
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() || !digits(int_part) || !digits(frac_part) || (text.contains('.') && frac_part.is_empty()) {
        return Err(invalid("is not a number"));
    }
    Ok((int_part, frac_part))
}

fn to_atomic(int_part: &str, frac_part: &str, decimals: u8) -> Option<U256> {
    let int = U256::from_str_radix(int_part, 10).ok()?;
    let scale = pow10(decimals);
    let mut frac = if frac_part.is_empty() { U256::ZERO } else { U256::from_str_radix(frac_part, 10).ok()? };
    frac = frac.checked_mul(pow10(decimals - frac_part.len() as u8))?;
    int.checked_mul(scale)?.checked_add(frac)
}

fn pow10(exp: u8) -> U256 {
    U256::from(10u8).pow(U256::from(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_convert_exactly() {
        assert_eq!(parse_price("$0.01", 6).unwrap(), U256::from(10_000));
        assert_eq!(parse_price("0.0025", 6).unwrap(), U256::from(2_500));
        assert_eq!(parse_price("1", 6).unwrap(), U256::from(1_000_000));
        assert_eq!(parse_price(" $1.50 ", 6).unwrap(), U256::from(1_500_000));
        assert_eq!(parse_price("$ 2", 6).unwrap(), U256::from(2_000_000));
        assert_eq!(parse_price("0.5 usd", 6).unwrap(), U256::from(500_000));
        assert_eq!(parse_price("0.5 USDT", 6).unwrap_err().code(), ErrorCode::InvalidPrice);
        assert_eq!(parse_price("0.000001", 6).unwrap(), U256::from(1));
        assert_eq!(parse_price("$0.01", 18).unwrap(), U256::from(10_000_000_000_000_000u64));
        // 0.1 + 0.2 style float traps do not exist here.
        assert_eq!(parse_price("0.3", 6).unwrap(), U256::from(300_000));
    }

    #[test]
    fn bad_prices_are_errors_never_rounded() {
        let code = |p: &str| parse_price(p, 6).unwrap_err().code();
        for p in
            ["1e-3", "1E2", "-1", "-$1", "abc", "", "$", "1,000", "1.2.3", ".5", "5.", "0", "$0.000", "NaN", "$ 1x"]
        {
            assert_eq!(code(p), ErrorCode::InvalidPrice, "{p}");
        }
        assert_eq!(code("0.0000001"), ErrorCode::PriceTooPrecise);
        assert_eq!(code(&"9".repeat(90)), ErrorCode::AmountOutOfRange);
    }

    #[test]
    fn usd_caps_convert_per_token() {
        let one = Usd::parse("$1").unwrap();
        assert_eq!(one.to_atomic(6), U256::from(1_000_000));
        assert_eq!(one.to_atomic(18), U256::from(10u64.pow(18)));
        assert_eq!(Usd::from_atomic(U256::from(1_000_000), 6), one);
        assert_eq!(one.to_string(), "$1");
        assert_eq!(format_units(U256::from(2_500), 6), "0.0025");
    }
}
