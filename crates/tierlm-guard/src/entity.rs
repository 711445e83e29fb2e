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

/// Sort by start and resolve overlaps, so the result can be replaced left to right.
///
/// A span inside another one is dropped (the outer span covers it). Two spans that
/// only partly overlap become one span over both, so that no part of either value is
/// left in the text: in "CALL ME BACK ON 07633 74 03 82" a weak address ending in
/// "07633" must not leave the phone number's "74 03 82" behind. The merged span keeps
/// the kind of the more confident finding (the longer one on a tie) and the higher
/// confidence.
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
                if e.end <= last.end {
                    // inside `last` (sorted by start, then longest first)
                    continue;
                }
                let e_wins = e.confidence > last.confidence
                    || (e.confidence == last.confidence && e.end - e.start > last.end - last.start);
                if e_wins {
                    last.kind = e.kind;
                }
                last.end = e.end;
                last.confidence = last.confidence.max(e.confidence);
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
    fn partial_overlaps_merge_so_no_part_of_a_value_is_left() {
        // a weak address "CALL ME BACK ON 07633" (0..21) and the phone "07633 74 03 82"
        let out = resolve_overlaps(vec![
            e(EntityKind::Phone, 16, 30, 0.95),
            e(EntityKind::PostalAddress, 0, 21, 0.6),
        ]);
        assert_eq!(out, vec![e(EntityKind::Phone, 0, 30, 0.95)]);
        // equal confidence: the longer finding names the merged span
        let out = resolve_overlaps(vec![
            e(EntityKind::Person, 0, 10, 0.8),
            e(EntityKind::PostalAddress, 5, 30, 0.8),
        ]);
        assert_eq!(out, vec![e(EntityKind::PostalAddress, 0, 30, 0.8)]);
        // a chain of partial overlaps becomes one span; a later disjoint one stays
        let out = resolve_overlaps(vec![
            e(EntityKind::Person, 0, 10, 0.9),
            e(EntityKind::Phone, 8, 20, 0.7),
            e(EntityKind::Email, 18, 25, 0.6),
            e(EntityKind::Email, 25, 30, 0.6),
        ]);
        assert_eq!(
            out,
            vec![
                e(EntityKind::Person, 0, 25, 0.9),
                e(EntityKind::Email, 25, 30, 0.6)
            ]
        );
    }

    proptest::proptest! {
        /// Whatever the findings, the result is sorted, disjoint, and covers exactly
        /// the bytes the findings covered: resolving never un-redacts a byte.
        #[test]
        fn resolving_keeps_every_covered_byte(
            spans in proptest::collection::vec((0usize..60, 1usize..15, 0u8..4, 0u8..3), 0..12)
        ) {
            let kinds = [EntityKind::Person, EntityKind::Phone, EntityKind::PostalAddress];
            let found: Vec<Entity> = spans
                .iter()
                .map(|&(start, len, conf, kind)| {
                    e(kinds[usize::from(kind)].clone(), start, start + len, f32::from(conf) / 4.0)
                })
                .collect();
            let mut covered = [false; 80];
            for f in &found {
                covered[f.start..f.end].iter_mut().for_each(|c| *c = true);
            }
            let out = resolve_overlaps(found);
            let mut after = [false; 80];
            for pair in out.windows(2) {
                proptest::prop_assert!(pair[0].end <= pair[1].start);
            }
            for f in &out {
                proptest::prop_assert!(f.start < f.end);
                after[f.start..f.end].iter_mut().for_each(|c| *c = true);
            }
            proptest::prop_assert_eq!(covered, after);
        }
    }

    #[test]
    fn names_round_trip() {
        for k in EntityKind::BUILT_IN {
            assert_eq!(EntityKind::parse(k.name()), Some(k.clone()));
        }
        assert_eq!(EntityKind::Custom("PROJECT".into()).name(), "PROJECT");
    }
}
