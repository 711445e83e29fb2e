use super::*;
use crate::entity::EntityKind;
use proptest::prelude::*;

fn ent(kind: EntityKind, text: &str, value: &str) -> Entity {
    let start = text.find(value).unwrap();
    Entity {
        kind,
        start,
        end: start + value.len(),
        confidence: 0.9,
    }
}

#[test]
fn same_value_same_placeholder_and_round_trip() {
    let text = "Ann Lee wrote to bob@x.com; Ann Lee again, and bob@x.com.";
    let mut es = vec![
        ent(EntityKind::Person, text, "Ann Lee"),
        ent(EntityKind::Email, text, "bob@x.com"),
    ];
    let second = text.rfind("Ann Lee").unwrap();
    es.push(Entity {
        kind: EntityKind::Person,
        start: second,
        end: second + 7,
        confidence: 0.9,
    });
    let second_mail = text.rfind("bob@x.com").unwrap();
    es.push(Entity {
        kind: EntityKind::Email,
        start: second_mail,
        end: second_mail + 9,
        confidence: 0.9,
    });
    es.sort_by_key(|e| e.start);
    let mut m = RedactionMap::new();
    let r = m.redact(text, &es);
    assert_eq!(
        r,
        "<PERSON_1> wrote to <EMAIL_1>; <PERSON_1> again, and <EMAIL_1>."
    );
    assert_eq!(m.restore(&r), text);
    assert_eq!(m.counts().get("PERSON"), Some(&2));
}

#[test]
fn placeholders_already_in_the_input_are_never_assigned_or_restored() {
    let text = "Keep <PERSON_1> literally; Ann is a person.";
    let mut m = RedactionMap::new();
    m.reserve(text);
    let r = m.redact(text, &[ent(EntityKind::Person, text, "Ann")]);
    assert_eq!(r, "Keep <PERSON_1> literally; <PERSON_2> is a person.");
    assert_eq!(m.restore(&r), text);
}

#[test]
fn a_placeholder_split_across_chunks_is_restored() {
    let text = "Call Ann now";
    let mut m = RedactionMap::new();
    let r = m.redact(text, &[ent(EntityKind::Person, text, "Ann")]);
    assert_eq!(r, "Call <PERSON_1> now");
    let mut s = StreamRestorer::new(std::sync::Arc::new(m.clone()));
    let mut out = String::new();
    for chunk in ["Call <PE", "RSON", "_1", "> now <", "b>"] {
        out.push_str(&s.push(chunk));
    }
    out.push_str(&s.finish());
    assert_eq!(out, "Call Ann now <b>");
}

fn arb_case() -> impl Strategy<Value = (String, Vec<Entity>)> {
    (
        "\\PC{0,60}",
        proptest::collection::vec((0usize..80, 1usize..12, 0usize..3), 0..6),
    )
        .prop_map(|(text, raw)| {
            let kinds = [EntityKind::Person, EntityKind::Email, EntityKind::Phone];
            let mut es: Vec<Entity> = Vec::new();
            let mut at = 0;
            let mut spans: Vec<(usize, usize, usize)> = raw;
            spans.sort();
            for (start, len, k) in spans {
                let mut s = start.min(text.len());
                while !text.is_char_boundary(s) {
                    s -= 1;
                }
                let mut e = (s + len).min(text.len());
                while !text.is_char_boundary(e) {
                    e -= 1;
                }
                if s >= at && e > s {
                    es.push(Entity {
                        kind: kinds[k].clone(),
                        start: s,
                        end: e,
                        confidence: 1.0,
                    });
                    at = e;
                }
            }
            (text, es)
        })
}

proptest! {
    #[test]
    fn restoring_a_redacted_text_gives_the_original((text, es) in arb_case()) {
        let mut m = RedactionMap::new();
        m.reserve(&text);
        let r = m.redact(&text, &es);
        prop_assert_eq!(m.restore(&r), text.clone());
    }

    #[test]
    fn placeholders_never_collide_with_input_text(
        (text, es) in arb_case(),
        n in 1u32..4,
    ) {
        // Plant placeholder-shaped tokens in the input itself.
        let planted = format!("{text} <PERSON_{n}> <EMAIL_1>");
        let mut m = RedactionMap::new();
        m.reserve(&planted);
        let r = m.redact(&planted, &es);
        prop_assert_eq!(m.restore(&r), planted.clone());
    }

    #[test]
    fn streaming_restoration_equals_whole_restoration(
        (text, es) in arb_case(),
        cuts in proptest::collection::vec(0usize..200, 0..8),
    ) {
        let mut m = RedactionMap::new();
        m.reserve(&text);
        let r = m.redact(&text, &es);
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(r.len())).filter(|c| r.is_char_boundary(*c)).collect();
        points.sort();
        let mut s = StreamRestorer::new(std::sync::Arc::new(m.clone()));
        let mut out = String::new();
        let mut at = 0;
        for p in points {
            out.push_str(&s.push(&r[at..p]));
            at = p;
        }
        out.push_str(&s.push(&r[at..]));
        out.push_str(&s.finish());
        prop_assert_eq!(out, text);
    }
}
