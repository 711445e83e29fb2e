//! Money in the ledger: whole pico-dollars (1e-12 USD) in a `u64`, never floats, so
//! sums over millions of rows are exact. A `u64` holds about 18.4 million USD; a
//! store keeps values up to `i64::MAX` (about 9.2 million USD per row), which SQL
//! `BIGINT` columns in both SQLite and PostgreSQL can hold.

/// Money: whole pico-dollars (1e-12 USD), never floats. Display with [`format_usd`].
pub type PicoUsd = u64;

/// Pico-dollars in one US dollar.
pub const PICO_PER_USD: u64 = 1_000_000_000_000;

/// A decimal USD string: trailing zeros trimmed, but at least two decimals.
///
/// `0` → `"0.00"`, `1_500_000_000_000` → `"1.50"`, `12_500_000` → `"0.0000125"`.
pub fn format_usd(p: PicoUsd) -> String {
    let whole = p / PICO_PER_USD;
    let frac = format!("{:012}", p % PICO_PER_USD);
    let trimmed = frac.trim_end_matches('0');
    let decimals = if trimmed.len() < 2 {
        &frac[..2]
    } else {
        trimmed
    };
    format!("{whole}.{decimals}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_usd_cases() {
        let cases: &[(u64, &str)] = &[
            (0, "0.00"),
            (1, "0.000000000001"),
            (10, "0.00000000001"),
            (12_500_000, "0.0000125"),
            (123_000_000, "0.000123"),
            (10_000_000_000, "0.01"),
            (100_000_000_000, "0.10"),
            (PICO_PER_USD, "1.00"),
            (1_500_000_000_000, "1.50"),
            (1_234_567_891_234, "1.234567891234"),
            (42 * PICO_PER_USD + 1, "42.000000000001"),
            (u64::MAX, "18446744.073709551615"),
        ];
        for &(p, want) in cases {
            assert_eq!(format_usd(p), want, "format_usd({p})");
        }
    }
}
