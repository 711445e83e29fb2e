//! Time for the audit chain: the clock in Unix milliseconds, RFC 3339 with milliseconds
//! for entries, and the bounds `tierlm audit export` accepts (a date or an RFC 3339
//! instant), with proleptic Gregorian day arithmetic and no date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

use super::AuditError;

pub(super) const MS_PER_DAY: i64 = 86_400_000;

pub(super) fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// (year, month, day) of a count of days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Days since 1970-01-01 of a (year, month, day).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds: `2024-05-01T12:00:00.000Z`
/// (years 0000 to 9999 parse back with [`parse_rfc3339`]).
pub fn format_rfc3339_ms(unix_ms: i64) -> String {
    let (y, mo, d) = civil_from_days(unix_ms.div_euclid(MS_PER_DAY));
    let ms = unix_ms.rem_euclid(MS_PER_DAY);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Decimal digits `b[range]` as a number.
fn digits(b: &[u8], range: std::ops::Range<usize>) -> Option<i64> {
    let d = b.get(range)?;
    d.iter().try_fold(0i64, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

/// `YYYY-MM-DD` as days since 1970-01-01.
fn parse_date(b: &[u8]) -> Option<i64> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(b, 0..4)?, digits(b, 5..7)?, digits(b, 8..10)?);
    ((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)).then(|| days_from_civil(y, m, d))
}

/// An RFC 3339 date-time (`2024-05-01T12:00:00Z`, optional fraction, `Z` or a
/// `±HH:MM` offset) as unix milliseconds; fractions beyond milliseconds are dropped.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let days = parse_date(b.get(..10)?)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let (h, mi) = (digits(b, 11..13)?, digits(b, 14..16)?);
    if b.get(16) != Some(&b':') {
        return None;
    }
    let sec = digits(b, 17..19)?;
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let ms_digits = &b[start..i.min(start + 3)];
        frac = digits(ms_digits, 0..ms_digits.len())? * 10_i64.pow(3 - ms_digits.len() as u32);
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if b.len() == i + 1 => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let (oh, om) = (digits(b, i + 1..i + 3)?, digits(b, i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            if *sign == b'-' {
                -(oh * 60 + om)
            } else {
                oh * 60 + om
            }
        }
        _ => return None,
    };
    Some(days * MS_PER_DAY + ((h * 60 + mi - offset_min) * 60 + sec) * 1000 + frac)
}

/// An export bound: RFC 3339, or `YYYY-MM-DD` for midnight UTC that day.
pub fn parse_bound(s: &str) -> Result<i64, AuditError> {
    parse_date(s.as_bytes())
        .map(|days| days * MS_PER_DAY)
        .or_else(|| parse_rfc3339(s))
        .ok_or_else(|| AuditError::BadTime(s.to_string()))
}
