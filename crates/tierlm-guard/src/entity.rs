//! What a detector finds: a typed span of the input with a confidence. Spans are byte
//! ranges on `char` boundaries of the scanned text.

use serde::{Deserialize, Serialize};

/// The kind of a sensitive value. The placeholder name (`<PERSON_1>`) and the policy
/// keys in TOML use [`EntityKind::name`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntityKind {
    CreditCard,
    Iban,
    UsSsn,
    Email,
    Phone,
    IpAddress,
    DateOfBirth,
    PostalAddress,
    Person,
    MedicalRecord,
    HealthPlan,
    NationalId,
    Passport,
    Secret,
    /// A per-tenant pattern or keyword list, by its configured name (upper case).
    Custom(String),
}

impl EntityKind {
    /// The upper-case name used in placeholders, policies, audit counts and metrics.
    pub fn name(&self) -> &str {
        match self {
            EntityKind::Custom(name) => name,
            built_in => built_in.static_name(),
        }
    }

    /// The name of a built-in kind; `CUSTOM` for every custom one.
    pub fn static_name(&self) -> &'static str {
        match self {
            EntityKind::CreditCard => "CREDIT_CARD",
            EntityKind::Iban => "IBAN",
            EntityKind::UsSsn => "US_SSN",
            EntityKind::Email => "EMAIL",
            EntityKind::Phone => "PHONE",
            EntityKind::IpAddress => "IP_ADDRESS",
            EntityKind::DateOfBirth => "DATE_OF_BIRTH",
            EntityKind::PostalAddress => "POSTAL_ADDRESS",
            EntityKind::Person => "PERSON",
            EntityKind::MedicalRecord => "MEDICAL_RECORD",
            EntityKind::HealthPlan => "HEALTH_PLAN",
            EntityKind::NationalId => "NATIONAL_ID",
            EntityKind::Passport => "PASSPORT",
            EntityKind::Secret => "SECRET",
            EntityKind::Custom(_) => "CUSTOM",
        }
    }

    /// The built-in kinds (custom ones come from configuration).
    pub const BUILT_IN: [EntityKind; 14] = [
        EntityKind::CreditCard,
        EntityKind::Iban,
        EntityKind::UsSsn,
        EntityKind::Email,
        EntityKind::Phone,
        EntityKind::IpAddress,
        EntityKind::DateOfBirth,
        EntityKind::PostalAddress,
        EntityKind::Person,
        EntityKind::MedicalRecord,
        EntityKind::HealthPlan,
        EntityKind::NationalId,
        EntityKind::Passport,
        EntityKind::Secret,
    ];

    /// The kind with this name (`CREDIT_CARD`), built-in only.
    pub fn parse(name: &str) -> Option<EntityKind> {
        Self::BUILT_IN.iter().find(|k| k.name() == name).cloned()
    }
}

/// One detected value: `text[start..end]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    pub kind: EntityKind,
    pub start: usize,
    pub end: usize,
    /// In [0, 1].
    pub confidence: f32,
}

/// Sort by start and drop overlaps, keeping the longer (then more confident) span, so
/// the result can be replaced left to right.
pub fn resolve_overlaps(mut found: Vec<Entity>) -> Vec<Entity> {
    found.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(b.confidence.total_cmp(&a.confidence))
    });
    let mut out: Vec<Entity> = Vec::with_capacity(found.len());
    for e in found {
        match out.last_mut() {
            Some(last) if e.start < last.end => {
                let longer = e.end - e.start > last.end - last.start;
                if longer
                    || (e.end - e.start == last.end - last.start && e.confidence > last.confidence)
                {
                    *last = e;
                }
            }
            _ => out.push(e),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: EntityKind, start: usize, end: usize, confidence: f32) -> Entity {
        Entity {
            kind,
            start,
            end,
            confidence,
        }
    }

    #[test]
    fn overlaps_keep_the_longer_span() {
        let out = resolve_overlaps(vec![
            e(EntityKind::Phone, 5, 10, 0.9),
            e(EntityKind::CreditCard, 0, 19, 0.99),
            e(EntityKind::Email, 30, 40, 0.9),
        ]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].kind, EntityKind::CreditCard);
        assert_eq!(out[1].kind, EntityKind::Email);
    }

    #[test]
    fn names_round_trip() {
        for k in EntityKind::BUILT_IN {
            assert_eq!(EntityKind::parse(k.name()), Some(k.clone()));
        }
        assert_eq!(EntityKind::Custom("PROJECT".into()).name(), "PROJECT");
    }
}
