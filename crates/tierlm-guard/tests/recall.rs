//! Throwaway measurement of the structured detectors on the generated PII sentences and
//! the PII-free background text (`eval/data/pii/`): per-type recall (a gold span is found
//! when a detection of the same type covers at least half of it), the missed values, and
//! the share of background whitespace tokens covered by detections of each type.
//!
//! ```sh
//! cargo test --release -p tierlm-guard --test recall -- --ignored --nocapture
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use tierlm_guard::detect::{Detector, DetectorConfig};
use tierlm_guard::Entity;

const TYPES: [&str; 4] = ["PHONE", "US_SSN", "IP_ADDRESS", "DATE_OF_BIRTH"];

fn data(name: &str) -> Option<Vec<Value>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../eval/data/pii")
        .join(name);
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("skipping: {} is absent", path.display());
        return None;
    };
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .collect(),
    )
}

fn overlap(a: (usize, usize), b: (usize, usize)) -> usize {
    a.1.min(b.1).saturating_sub(a.0.max(b.0))
}

fn scan(d: &Detector, text: &str) -> Vec<Entity> {
    if std::env::var_os("RECALL_FULL").is_some() {
        d.scan(text)
    } else {
        d.scan_structured(text)
    }
}

#[test]
#[ignore]
fn recall_and_background() {
    let d = Detector::new(&DetectorConfig::default()).unwrap();
    if let Some(sentences) = data("sentences.jsonl") {
        let mut stats: BTreeMap<&str, (usize, usize, Vec<String>)> = BTreeMap::new();
        let mut wrong: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for s in &sentences {
            let text = s["text"].as_str().unwrap();
            let found = scan(&d, text);
            let spans = s["spans"].as_array().unwrap();
            for span in spans {
                let kind = span["type"].as_str().unwrap();
                let Some(&kind) = TYPES.iter().find(|t| **t == kind) else {
                    continue;
                };
                let g = (
                    span["start"].as_u64().unwrap() as usize,
                    span["end"].as_u64().unwrap() as usize,
                );
                let hit = found.iter().any(|e| {
                    e.kind.name() == kind && 2 * overlap(g, (e.start, e.end)) >= g.1 - g.0
                });
                let st = stats.entry(kind).or_default();
                st.0 += 1;
                if hit {
                    st.1 += 1;
                } else {
                    st.2.push(format!("{:?} in {:?}", &text[g.0..g.1], text));
                }
            }
            // Detections of these types that match no gold span of the same type.
            for e in &found {
                let Some(&kind) = TYPES.iter().find(|t| **t == e.kind.name()) else {
                    continue;
                };
                let right = spans.iter().any(|span| {
                    let g = (
                        span["start"].as_u64().unwrap() as usize,
                        span["end"].as_u64().unwrap() as usize,
                    );
                    let o = overlap(g, (e.start, e.end));
                    span["type"] == kind && (2 * o >= g.1 - g.0 || 2 * o >= e.end - e.start)
                });
                if !right {
                    let gold: Vec<String> = spans
                        .iter()
                        .filter(|sp| {
                            overlap(
                                (
                                    sp["start"].as_u64().unwrap() as usize,
                                    sp["end"].as_u64().unwrap() as usize,
                                ),
                                (e.start, e.end),
                            ) > 0
                        })
                        .map(|sp| sp["type"].as_str().unwrap().to_string())
                        .collect();
                    wrong.entry(kind).or_default().push(format!(
                        "{:?} (gold {gold:?}) in {:?}",
                        &text[e.start..e.end],
                        text
                    ));
                }
            }
        }
        for (kind, (n, hit, missed)) in &stats {
            println!(
                "{kind}: recall {hit}/{n} = {:.2}%, {} misses",
                100.0 * *hit as f64 / *n as f64,
                missed.len()
            );
            for m in missed {
                println!("    MISS {m}");
            }
        }
        for (kind, w) in &wrong {
            println!(
                "{kind}: {} detections without a gold span of that type",
                w.len()
            );
            for x in w {
                println!("    EXTRA {x}");
            }
        }
    }
    if let Some(background) = data("background.jsonl") {
        let mut tokens = 0usize;
        let mut covered: BTreeMap<&str, usize> = BTreeMap::new();
        let mut examples: Vec<String> = Vec::new();
        for b in &background {
            let text = b["text"].as_str().unwrap();
            let found: Vec<Entity> = scan(&d, text)
                .into_iter()
                .filter(|e| TYPES.contains(&e.kind.name()))
                .collect();
            let mut pos = 0;
            for tok in text.split_whitespace() {
                let s = pos + text[pos..].find(tok).unwrap();
                let e = s + tok.len();
                pos = e;
                tokens += 1;
                if let Some(f) = found.iter().find(|f| overlap((s, e), (f.start, f.end)) > 0) {
                    *covered
                        .entry(TYPES.iter().find(|t| **t == f.kind.name()).unwrap())
                        .or_default() += 1;
                }
            }
            for f in &found {
                let lo = text.floor_char_boundary(f.start.saturating_sub(50));
                let hi = text.ceil_char_boundary((f.end + 30).min(text.len()));
                examples.push(format!(
                    "{} {:?} ({:.2}) in {:?}",
                    f.kind.name(),
                    &text[f.start..f.end],
                    f.confidence,
                    &text[lo..hi]
                ));
            }
        }
        let all: usize = covered.values().sum();
        println!(
            "background: {tokens} tokens, {all} covered = {:.3}%",
            100.0 * all as f64 / tokens as f64
        );
        for (kind, n) in &covered {
            println!(
                "    {kind}: {n} tokens = {:.3}%",
                100.0 * *n as f64 / tokens as f64
            );
        }
        for x in &examples {
            println!("    FP {x}");
        }
    }
}
