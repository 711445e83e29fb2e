//! The pricing catalog: USD per million input and output tokens for each model.
//!
//! Money is exact: a price is kept as whole micro-dollars per million tokens, which is
//! the same number as pico-dollars per token, so a request's cost is an integer
//! number of pico-dollars (`tokens × price`) with no rounding anywhere. Prices are
//! written and read as decimal strings ("0.15"), never through a float.
//!
//! The built-in table holds the providers' published list prices for common frontier
//! models as known on [`CATALOG_CHECKED`]; this build machine has no internet, so they
//! were not re-checked. The configuration overrides or extends it (`[pricing."model"]`).
//! Model ids match by longest prefix, so `gpt-4o-mini-2024-07-18` is priced as
//! `gpt-4o-mini`.

use std::collections::BTreeMap;
use std::fmt;

/// When the built-in prices were last checked against the providers' price pages.
pub const CATALOG_CHECKED: &str = "2025-08-31";

/// An exact amount of US dollars, in pico-dollars (1e-12 USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Usd(pub u128);

const PICO_PER_USD: u128 = 1_000_000_000_000;

impl Usd {
    pub const ZERO: Usd = Usd(0);

    /// Parse a non-negative decimal such as `"2.50"` (at most 12 decimals).
    pub fn parse(s: &str) -> Result<Usd, String> {
        let t = s.trim();
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !(digits(int) || (int.is_empty() && digits(frac))) || !(frac.is_empty() || digits(frac))
        {
            return Err(format!("`{s}` is not a non-negative decimal amount"));
        }
        if frac.len() > 12 {
            return Err(format!("`{s}` has more than 12 decimals"));
        }
        let int: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| format!("`{s}` is too large"))?
        };
        let mut frac_val: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| format!("`{s}` is invalid"))?
        };
        for _ in frac.len()..12 {
            frac_val *= 10;
        }
        int.checked_mul(PICO_PER_USD)
            .and_then(|v| v.checked_add(frac_val))
            .map(Usd)
            .ok_or_else(|| format!("`{s}` is too large"))
    }

    pub fn saturating_add(self, o: Usd) -> Usd {
        Usd(self.0.saturating_add(o.0))
    }
}

impl fmt::Display for Usd {
    /// Plain decimal with trailing zeros trimmed: `0.00000225`, `12`, `0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = self.0 / PICO_PER_USD;
        let frac = self.0 % PICO_PER_USD;
        if frac == 0 {
            return write!(f, "{int}");
        }
        let s = format!("{frac:012}");
        write!(f, "{int}.{}", s.trim_end_matches('0'))
    }
}

/// Price of one model: per million input (prompt) and output (completion) tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub input_per_mtok: Usd,
    pub output_per_mtok: Usd,
}

impl Price {
    /// The exact cost of a request.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> Usd {
        // Pico-dollars per million tokens × tokens / 1e6: exact for any price with up
        // to six decimals (every real price list); finer prices round down by less than
        // one pico-dollar.
        let part = |p: Usd, n: u64| p.0.saturating_mul(u128::from(n)) / 1_000_000;
        Usd(part(self.input_per_mtok, prompt_tokens)
            + part(self.output_per_mtok, completion_tokens))
    }
}

/// Built-in list prices (USD per 1M tokens: input, output), checked on [`CATALOG_CHECKED`].
const DEFAULTS: &[(&str, &str, &str)] = &[
    // OpenAI
    ("gpt-5", "1.25", "10.00"),
    ("gpt-5-mini", "0.25", "2.00"),
    ("gpt-5-nano", "0.05", "0.40"),
    ("gpt-4.1", "2.00", "8.00"),
    ("gpt-4.1-mini", "0.40", "1.60"),
    ("gpt-4.1-nano", "0.10", "0.40"),
    ("gpt-4o", "2.50", "10.00"),
    ("gpt-4o-mini", "0.15", "0.60"),
    ("o3", "2.00", "8.00"),
    ("o4-mini", "1.10", "4.40"),
    // Anthropic
    ("claude-opus-4", "15.00", "75.00"),
    ("claude-sonnet-4", "3.00", "15.00"),
    ("claude-3-7-sonnet", "3.00", "15.00"),
    ("claude-3-5-sonnet", "3.00", "15.00"),
    ("claude-3-5-haiku", "0.80", "4.00"),
    ("claude-3-haiku", "0.25", "1.25"),
    // Google
    ("gemini-2.5-pro", "1.25", "10.00"),
    ("gemini-2.5-flash", "0.30", "2.50"),
    ("gemini-2.5-flash-lite", "0.10", "0.40"),
    ("gemini-2.0-flash", "0.10", "0.40"),
    ("gemini-2.0-flash-lite", "0.075", "0.30"),
];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PricingCatalog {
    prices: BTreeMap<String, Price>,
}

impl PricingCatalog {
    /// The built-in table.
    pub fn builtin() -> Self {
        let mut prices = BTreeMap::new();
        for (model, i, o) in DEFAULTS {
            if let (Ok(i), Ok(o)) = (Usd::parse(i), Usd::parse(o)) {
                prices.insert(
                    (*model).to_string(),
                    Price {
                        input_per_mtok: i,
                        output_per_mtok: o,
                    },
                );
            }
        }
        Self { prices }
    }

    /// Add or replace one model's price.
    pub fn set(&mut self, model: &str, price: Price) {
        self.prices.insert(model.to_string(), price);
    }

    /// The price of a model id: exact match, else the longest catalogued prefix.
    pub fn price(&self, model: &str) -> Option<Price> {
        if let Some(p) = self.prices.get(model) {
            return Some(*p);
        }
        self.prices
            .iter()
            .filter(|(k, _)| model.starts_with(k.as_str()))
            .max_by_key(|(k, _)| k.len())
            .map(|(_, p)| *p)
    }

    pub fn len(&self) -> usize {
        self.prices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_exact_decimals() {
        assert_eq!(Usd::parse("2.50").unwrap().to_string(), "2.5");
        assert_eq!(Usd::parse("0.075").unwrap().to_string(), "0.075");
        assert_eq!(Usd::parse("12").unwrap().to_string(), "12");
        assert_eq!(Usd::parse(".5").unwrap().to_string(), "0.5");
        for bad in ["", "-1", "1.2.3", "abc", "1e5", "0.0000000000001"] {
            assert!(Usd::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn costs_are_exact() {
        let p = Price {
            input_per_mtok: Usd::parse("0.15").unwrap(),
            output_per_mtok: Usd::parse("0.60").unwrap(),
        };
        // 1,000 prompt tokens at $0.15/M = $0.00015; 500 completion at $0.60/M = $0.0003.
        assert_eq!(p.cost(1000, 500).to_string(), "0.00045");
        assert_eq!(p.cost(1_000_000, 1_000_000).to_string(), "0.75");
        let fine = Price {
            input_per_mtok: Usd::parse("0.000000000001").unwrap(),
            output_per_mtok: Usd::ZERO,
        };
        assert_eq!(fine.cost(1_000_000, 0), Usd(1));
    }

    #[test]
    fn longest_prefix_wins() {
        let c = PricingCatalog::builtin();
        let mini = c.price("gpt-4o-mini-2024-07-18").unwrap();
        assert_eq!(mini.input_per_mtok.to_string(), "0.15");
        assert_eq!(
            c.price("gpt-4o-2024-08-06")
                .unwrap()
                .input_per_mtok
                .to_string(),
            "2.5"
        );
        assert_eq!(
            c.price("claude-3-5-haiku-latest")
                .unwrap()
                .output_per_mtok
                .to_string(),
            "4"
        );
        assert!(c.price("my-local-model").is_none());
    }
}
