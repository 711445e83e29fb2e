//! Virtual keys: a secret a client sends instead of a provider key, tied to a tenant
//! and carrying its limits (a budget per period, requests and tokens per minute, an
//! allow-list of models).
//!
//! A secret is `tk-` and 40 lowercase alphanumeric characters from `/dev/urandom`,
//! shown once by [`KeyStore::create_key`] and never stored. The store keeps a public
//! `key_id` (`key_` and 12 random characters), the secret's first 8 characters after
//! `tk-` in clear (`prefix`, indexed, to find candidates), a per-key 16-byte random
//! salt and `sha256(salt || secret)`; [`KeyStore::find_key`] compares that hash in
//! constant time. [`KeyRecord`] is what may be shown: never the salt, hash or secret.

use std::fs::File;
use std::io::Read;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::LedgerError;
use crate::money::PicoUsd;

/// What every secret starts with.
pub const SECRET_PREFIX: &str = "tk-";
/// Random characters in a secret after [`SECRET_PREFIX`].
pub const SECRET_LEN: usize = 40;
/// Characters of a secret (after `tk-`) stored in clear to find it.
pub const LOOKUP_PREFIX_LEN: usize = 8;
/// What every key id starts with.
pub const KEY_ID_PREFIX: &str = "key_";
/// Random characters in a key id after [`KEY_ID_PREFIX`].
pub const KEY_ID_LEN: usize = 12;

const SALT_LEN: usize = 16;
const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const RANDOM_SOURCE: &str = "/dev/urandom";
const DAY_MS: i64 = 86_400_000;

/// The period a key's budget covers; windows are calendar periods in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetPeriod {
    /// From midnight UTC today.
    Day,
    /// From Monday midnight UTC this week.
    Week,
    /// From the first of this month, midnight UTC.
    #[default]
    Month,
    /// Over the key's whole life.
    Total,
}

impl BudgetPeriod {
    /// Every period, shortest first.
    pub const ALL: [BudgetPeriod; 4] = [Self::Day, Self::Week, Self::Month, Self::Total];

    /// `day`, `week`, `month` or `total` (exactly, lowercase).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The name [`BudgetPeriod::parse`] reads and the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Total => "total",
        }
    }

    /// Unix ms at which the period containing `now_ms` began (UTC): midnight today,
    /// Monday midnight, or the first of the month; `None` for [`BudgetPeriod::Total`].
    pub fn window_start_ms(self, now_ms: i64) -> Option<i64> {
        let days = now_ms.div_euclid(DAY_MS);
        let start_day = match self {
            Self::Day => days,
            // 1970-01-01 was a Thursday, three days after a Monday.
            Self::Week => days - (days + 3).rem_euclid(7),
            Self::Month => days - (i64::from(day_of_month(days)) - 1),
            Self::Total => return None,
        };
        Some(start_day.saturating_mul(DAY_MS))
    }
}

impl std::fmt::Display for BudgetPeriod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BudgetPeriod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s).ok_or_else(|| format!("`{s}` is not a period: day, week, month or total"))
    }
}

/// The day of the month (1–31) of `days` since 1970-01-01, in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn day_of_month(days: i64) -> u32 {
    let z = days + 719_468;
    let doe = z.rem_euclid(146_097); // day of the 400-year era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // from March 1st
    let mp = (5 * doy + 2) / 153;
    u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1)
}

/// The settings of a key to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// Who the key's requests are billed to; not empty.
    pub tenant: String,
    /// A label for people (`ci`, `alice's laptop`).
    pub name: Option<String>,
    /// Most spent per `period`; `None` for no limit.
    pub budget: Option<PicoUsd>,
    pub period: BudgetPeriod,
    /// Requests per minute; `None` for no limit.
    pub rpm: Option<u32>,
    /// Tokens per minute; `None` for no limit.
    pub tpm: Option<u32>,
    /// Models the key may use; `None` for every model. Names must not be empty or
    /// contain a comma, and the list must not be empty.
    pub models: Option<Vec<String>>,
}

impl NewKey {
    /// A key for `tenant` with no limits and a monthly period.
    pub fn for_tenant(tenant: impl Into<String>) -> Self {
        Self {
            tenant: tenant.into(),
            name: None,
            budget: None,
            period: BudgetPeriod::default(),
            rpm: None,
            tpm: None,
            models: None,
        }
    }
}

/// A key as it may be shown: never its salt, hash or secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    pub key_id: String,
    pub tenant: String,
    pub name: Option<String>,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms; a revoked key is never found again.
    pub revoked_ms: Option<i64>,
    /// Pico-dollars per `period`.
    pub budget: Option<PicoUsd>,
    pub period: BudgetPeriod,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub models: Option<Vec<String>>,
}

impl KeyRecord {
    /// Whether `model` is on the key's allow-list (always, without one).
    pub fn allows_model(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == model))
    }
}

/// Where virtual keys are kept; synchronous like [`crate::LedgerStore`].
pub trait KeyStore: Send + Sync {
    /// Creates a key; returns it and its secret, which is not kept and cannot be
    /// shown again.
    fn create_key(&self, k: &NewKey) -> Result<(KeyRecord, String), LedgerError>;

    /// The key whose secret this is; `None` for an unknown, malformed or revoked one.
    fn find_key(&self, secret: &str) -> Result<Option<KeyRecord>, LedgerError>;

    /// Every key (revoked ones too), or a tenant's; oldest first.
    fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<KeyRecord>, LedgerError>;

    /// Revokes a key; `false` when there is no such key or it was already revoked.
    fn revoke_key(&self, key_id: &str) -> Result<bool, LedgerError>;

    /// The cost of the key's ledger rows (`requests.key_id`) from `since_ms`
    /// (inclusive), or ever.
    fn spent(&self, key_id: &str, since_ms: Option<i64>) -> Result<PicoUsd, LedgerError>;
}

/// A new key's secret and what is stored of it.
pub(crate) struct Minted {
    pub key_id: String,
    pub secret: String,
    pub prefix: String,
    pub salt_hex: String,
    pub hash_hex: String,
}

/// `/dev/urandom`, read in blocks.
struct Urandom(File);

impl Urandom {
    fn open() -> Result<Self, LedgerError> {
        File::open(RANDOM_SOURCE).map(Self).map_err(random_err)
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<(), LedgerError> {
        self.0.read_exact(buf).map_err(random_err)
    }

    /// `n` characters uniform over [`ALPHABET`]: bytes from 252 up are rejected, so
    /// every character has exactly 7 of the 252 accepted values.
    fn alnum(&mut self, n: usize) -> Result<String, LedgerError> {
        let limit = 256 - 256 % ALPHABET.len(); // 252
        let mut out = String::with_capacity(n);
        let mut block = [0u8; 32];
        while out.len() < n {
            self.fill(&mut block)?;
            for &b in block.iter().filter(|&&b| usize::from(b) < limit) {
                if out.len() == n {
                    break;
                }
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
        Ok(out)
    }
}

fn random_err(source: std::io::Error) -> LedgerError {
    LedgerError::Random {
        path: RANDOM_SOURCE,
        source,
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let nibble = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

/// `sha256(salt || secret)`, lowercase hex.
pub(crate) fn secret_hash(salt: &[u8], secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret.as_bytes());
    hex(&h.finalize())
}

/// Equality whose time depends on the lengths only, never on where `a` and `b` differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A fresh key id, secret, salt and hash.
pub(crate) fn mint() -> Result<Minted, LedgerError> {
    let mut rng = Urandom::open()?;
    let key_id = format!("{KEY_ID_PREFIX}{}", rng.alnum(KEY_ID_LEN)?);
    let body = rng.alnum(SECRET_LEN)?;
    let prefix = body[..LOOKUP_PREFIX_LEN].to_string();
    let secret = format!("{SECRET_PREFIX}{body}");
    let mut salt = [0u8; SALT_LEN];
    rng.fill(&mut salt)?;
    Ok(Minted {
        hash_hex: secret_hash(&salt, &secret),
        salt_hex: hex(&salt),
        key_id,
        secret,
        prefix,
    })
}

/// The lookup prefix of a well-formed secret; `None` for anything else.
pub(crate) fn lookup_prefix(secret: &str) -> Option<&str> {
    let body = secret.strip_prefix(SECRET_PREFIX)?;
    let well_formed = body.len() == SECRET_LEN && body.bytes().all(|b| ALPHABET.contains(&b));
    well_formed.then(|| &body[..LOOKUP_PREFIX_LEN])
}

/// Whether `secret` hashes, with the stored hex `salt`, to the stored hex `hash`.
pub(crate) fn verify(secret: &str, salt_hex: &str, hash_hex: &str) -> bool {
    unhex(salt_hex)
        .is_some_and(|salt| ct_eq(secret_hash(&salt, secret).as_bytes(), hash_hex.as_bytes()))
}

/// `k` checked, in the forms the store keeps: budget as `i64`, models joined.
pub(crate) fn checked(k: &NewKey) -> Result<(Option<i64>, Option<String>), LedgerError> {
    let invalid = |m: String| Err(LedgerError::InvalidKey(m));
    if k.tenant.trim().is_empty() {
        return invalid("the tenant is empty".into());
    }
    let budget = match k.budget {
        Some(b) => match i64::try_from(b) {
            Ok(b) => Some(b),
            Err(_) => return invalid(format!("budget {b} pico-USD is above the largest storable")),
        },
        None => None,
    };
    let models = match &k.models {
        None => None,
        Some(list) if list.is_empty() => {
            return invalid("the model list is empty; leave it out to allow every model".into())
        }
        Some(list) => {
            if let Some(bad) = list
                .iter()
                .find(|m| m.trim().is_empty() || m.contains(',') || m.trim() != m.as_str())
            {
                return invalid(format!(
                    "model name `{bad}` is empty, has a comma or surrounding spaces"
                ));
            }
            Some(list.join(","))
        }
    };
    Ok((budget, models))
}

/// A stored key's [`KeyRecord`] columns as any backend reads them, before their
/// checks ([`KEY_RECORD_COLUMNS`](crate::sql::KEY_RECORD_COLUMNS) order).
pub(crate) struct RawRecord {
    pub key_id: String,
    pub tenant: String,
    pub name: Option<String>,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub budget: Option<i64>,
    pub period: String,
    pub rpm: Option<i64>,
    pub tpm: Option<i64>,
    pub models: Option<String>,
}

impl RawRecord {
    /// The record, after checking what the store should never hold (a negative
    /// budget, an unknown period, limits beyond `u32`); `location` names the database
    /// in the error.
    pub(crate) fn into_record(self, location: &str) -> Result<KeyRecord, LedgerError> {
        let key_id = self.key_id;
        let corrupt = |detail: String| LedgerError::Corrupt {
            location: location.to_string(),
            detail: format!("key {key_id}: {detail}"),
        };
        let budget = self
            .budget
            .map(|b| u64::try_from(b).map_err(|_| corrupt(format!("budget {b}"))))
            .transpose()?;
        let period = BudgetPeriod::parse(&self.period)
            .ok_or_else(|| corrupt(format!("budget period `{}`", self.period)))?;
        let per_minute = |v: Option<i64>, what: &str| {
            v.map(|v| u32::try_from(v).map_err(|_| corrupt(format!("{what} {v}"))))
                .transpose()
        };
        let (rpm, tpm) = (per_minute(self.rpm, "rpm")?, per_minute(self.tpm, "tpm")?);
        let models = self
            .models
            .map(|m| m.split(',').map(str::to_string).collect());
        Ok(KeyRecord {
            key_id,
            tenant: self.tenant,
            name: self.name,
            created_ms: self.created_ms,
            revoked_ms: self.revoked_ms,
            budget,
            period,
            rpm,
            tpm,
            models,
        })
    }
}

/// The record of a key just stored from `k`.
pub(crate) fn new_record(key_id: String, k: &NewKey, created_ms: i64) -> KeyRecord {
    KeyRecord {
        key_id,
        tenant: k.tenant.clone(),
        name: k.name.clone(),
        created_ms,
        revoked_ms: None,
        budget: k.budget,
        period: k.period,
        rpm: k.rpm,
        tpm: k.tpm,
        models: k.models.clone(),
    }
}

/// The key whose stored salt and hash (the strings after each candidate) match
/// `secret`, checked; `None` when none does.
pub(crate) fn matching(
    secret: &str,
    candidates: Vec<(RawRecord, String, String)>,
    location: &str,
) -> Result<Option<KeyRecord>, LedgerError> {
    for (raw, salt, hash) in candidates {
        if verify(secret, &salt, &hash) {
            return raw.into_record(location).map(Some);
        }
    }
    Ok(None)
}

/// A key's summed spend as read from the store; a negative sum is corruption.
pub(crate) fn spent_from_sum(
    key_id: &str,
    sum: i64,
    location: &str,
) -> Result<PicoUsd, LedgerError> {
    u64::try_from(sum).map_err(|_| LedgerError::Corrupt {
        location: location.to_string(),
        detail: format!("key {key_id}: negative spend {sum}"),
    })
}
