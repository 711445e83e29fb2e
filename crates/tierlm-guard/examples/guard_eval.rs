//! Evaluate the PII detectors of tierlm-guard on the generated sentences and background
//! text of `eval/pii/build_pii.py` (see `eval/pii/README.md`).
//!
//! ```sh
//! cargo run --release -p tierlm-guard --example guard_eval -- \
//!     --sentences eval/data/pii/sentences.jsonl \
//!     [--background eval/data/pii/background.jsonl] [--json] [--show 10] [--top 20] [--reps 5]
//!     [--strict] [--case upper|lower] [--labels eval/pii/background_labels.json]
//! cargo run --release -p tierlm-guard --example guard_eval -- --text "Dear Mr. Smith, ..."
//! ```
//!
//! Runs `Detector::new(&DetectorConfig::default())` (with `strict = true` under
//! `--strict`) and `scan` on every sentence and
//! reports per entity type the gold count, recall (a gold span is found when a detection
//! of the same type covers at least half of it) and precision (a detection is right when
//! it overlaps a gold span of its type by half of either), with the missed values; on
//! the background, the share of whitespace tokens covered by any detection (all of them
//! false positives if the text is free of PII) and the most frequent detections; and the
//! p50/p99 time of `scan_structured` and of `scan` on 2 KB chunks of the background (of
//! the sentences when there is none), their difference being the cost of the name and
//! address detectors. `--case upper` (or `lower`) changes the case of every letter of
//! the sentences first (where that keeps its UTF-8 length, so byte offsets stay), to see what a form or a message typed in
//! capitals (or in lower case) does to recall; the background is left as it is.
//!
//! The background is not free of names: the BBC articles name real people. `--labels`
//! reads a JSON map from a detected text to `"person"` (a person's name, as used where
//! it was found), `"identifier"` (another real-looking identifier, such as a phone
//! number in an SMS) or `"other"`, and splits the covered tokens into those covered by
//! real identifiers (found, and reported) and the rest (false positives); a detected
//! text the map lacks is counted and listed as unlabelled.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{json, Value};
use tierlm_guard::detect::{Detector, DetectorConfig};
use tierlm_guard::{Entity, EntityKind};

const USAGE: &str = "\
usage: guard_eval --sentences FILE [--background FILE] [--json] [--show N] [--top N] [--reps N] [--strict]
                  [--case upper|lower] [--labels FILE]
       guard_eval --text TEXT    (print what scan finds in TEXT)";
const CHUNK_BYTES: usize = 2048;
/// Recall targets (the rest are reported without one).
const TARGETS: [(&str, f64); 7] = [
    ("CREDIT_CARD", 0.99),
    ("IBAN", 0.99),
    ("US_SSN", 0.99),
    ("EMAIL", 0.99),
    ("PHONE", 0.99),
    ("PERSON", 0.90),
    ("POSTAL_ADDRESS", 0.90),
];
const FP_TARGET: f64 = 0.02;

#[derive(Deserialize)]
struct Sentence {
    text: String,
    #[serde(default)]
    template: String,
    spans: Vec<Span>,
}

#[derive(Deserialize, Clone)]
struct Span {
    #[serde(rename = "type")]
    kind: String,
    start: usize,
    end: usize,
    value: String,
    #[serde(default)]
    fmt: Option<String>,
}

#[derive(Deserialize)]
struct Background {
    text: String,
    #[serde(default)]
    source: Option<String>,
}

struct Args {
    text: Option<String>,
    sentences: String,
    background: Option<String>,
    json: bool,
    strict: bool,
    /// `upper` or `lower`: change the sentences' letters to that case.
    case: Option<String>,
    show: usize,
    top: usize,
    reps: usize,
    /// Detected background text -> "person", "identifier" or "other".
    labels: Option<HashMap<String, String>>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        text: None,
        sentences: String::new(),
        background: None,
        json: false,
        strict: false,
        case: None,
        show: 10,
        top: 20,
        reps: 5,
        labels: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--sentences" => args.sentences = value("--sentences")?,
            "--text" => args.text = Some(value("--text")?),
            "--background" => args.background = Some(value("--background")?),
            "--json" => args.json = true,
            "--strict" => args.strict = true,
            "--case" => match value("--case")?.as_str() {
                c @ ("upper" | "lower") => args.case = Some(c.to_string()),
                other => return Err(format!("--case: upper or lower, not {other:?}")),
            },
            "--show" => {
                args.show = value("--show")?
                    .parse()
                    .map_err(|e| format!("--show: {e}"))?
            }
            "--top" => args.top = value("--top")?.parse().map_err(|e| format!("--top: {e}"))?,
            "--reps" => {
                args.reps = value("--reps")?
                    .parse()
                    .map_err(|e| format!("--reps: {e}"))?
            }
            "--labels" => {
                let path = value("--labels")?;
                let raw = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                let map = serde_json::from_str(&raw).map_err(|e| format!("{path}: {e}"))?;
                args.labels = Some(map);
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.sentences.is_empty() && args.text.is_none() {
        return Err(USAGE.to_string());
    }
    args.reps = args.reps.max(1);
    Ok(args)
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &str) -> Result<Vec<T>, String> {
    let data = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    data.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{path}:{}: {e}", i + 1)))
        .collect()
}

fn overlap(a: (usize, usize), b: (usize, usize)) -> usize {
    a.1.min(b.1).saturating_sub(a.0.max(b.0))
}

fn scored_kinds() -> Vec<&'static str> {
    EntityKind::BUILT_IN
        .iter()
        .map(EntityKind::static_name)
        .collect()
}

#[derive(Default)]
struct TypeStats {
    gold: usize,
    found: usize,
    detections: usize,
    correct: usize,
    /// (source of the template, fmt) -> (gold, found)
    by_group: BTreeMap<String, (usize, usize)>,
    misses: Vec<Value>,
    false_positives: Vec<Value>,
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{:.1}%", 100.0 * v))
}

fn show_entities(text: &str, found: &[Entity]) -> Vec<Value> {
    found
        .iter()
        .map(|e| json!({"type": e.kind.name(), "text": &text[e.start..e.end], "confidence": e.confidence}))
        .collect()
}

fn eval_sentences(
    detector: &Detector,
    sentences: &[Sentence],
) -> BTreeMap<&'static str, TypeStats> {
    let kinds = scored_kinds();
    let mut stats: BTreeMap<&'static str, TypeStats> = BTreeMap::new();
    for s in sentences {
        let found = detector.scan(&s.text);
        let source = s.template.split(':').next().unwrap_or_default();
        for g in &s.spans {
            let Some(&kind) = kinds.iter().find(|k| **k == g.kind) else {
                continue;
            };
            let st = stats.entry(kind).or_default();
            st.gold += 1;
            let len = g.end - g.start;
            let hit = found.iter().any(|d| {
                d.kind.name() == kind && 2 * overlap((d.start, d.end), (g.start, g.end)) >= len
            });
            st.found += usize::from(hit);
            let mut groups = vec![format!("template={source}")];
            if let Some(f) = &g.fmt {
                groups.push(format!("fmt={}", f.split('/').next().unwrap_or_default()));
                groups.push(format!("fmt={f}"));
            }
            for key in groups {
                let e = st.by_group.entry(key).or_default();
                e.0 += 1;
                e.1 += usize::from(hit);
            }
            if !hit {
                st.misses.push(json!({
                    "value": g.value, "fmt": g.fmt, "template": s.template, "text": s.text,
                    "detected": show_entities(&s.text, &found),
                }));
            }
        }
        for d in &found {
            let kind = d.kind.static_name();
            let st = stats.entry(kind).or_default();
            st.detections += 1;
            let dlen = d.end - d.start;
            let right = s.spans.iter().any(|g| {
                let o = overlap((d.start, d.end), (g.start, g.end));
                g.kind == kind && (2 * o >= dlen || 2 * o >= g.end - g.start)
            });
            if right {
                st.correct += 1;
            } else {
                let on: Vec<&str> = s
                    .spans
                    .iter()
                    .filter(|g| overlap((d.start, d.end), (g.start, g.end)) > 0)
                    .map(|g| g.kind.as_str())
                    .collect();
                st.false_positives.push(json!({
                    "text": &s.text[d.start..d.end], "confidence": d.confidence,
                    "on_gold": on, "template": s.template,
                }));
            }
        }
    }
    stats
}

struct BackgroundStats {
    tokens: usize,
    covered: usize,
    /// Tokens, covered tokens and (with `--labels`) false-positive tokens by source.
    by_source: BTreeMap<String, (usize, usize, usize)>,
    by_kind: BTreeMap<&'static str, usize>,
    detections: HashMap<(&'static str, String), usize>,
    n_detections: usize,
    /// Covered tokens by the label of their detection's text: "person", "identifier",
    /// "other" or "unlabelled" (only with `--labels`).
    by_label: BTreeMap<&'static str, usize>,
    unlabelled: BTreeMap<String, usize>,
}

/// The label of a background detection: its text's in `labels`, or "unlabelled".
fn label_of(labels: &HashMap<String, String>, text: &str) -> &'static str {
    match labels.get(text).map(String::as_str) {
        Some("person") => "person",
        Some("identifier") => "identifier",
        Some(_) => "other",
        None => "unlabelled",
    }
}

fn eval_background(
    detector: &Detector,
    lines: &[Background],
    labels: Option<&HashMap<String, String>>,
) -> BackgroundStats {
    let mut st = BackgroundStats {
        tokens: 0,
        covered: 0,
        by_source: BTreeMap::new(),
        by_kind: BTreeMap::new(),
        detections: HashMap::new(),
        n_detections: 0,
        by_label: BTreeMap::new(),
        unlabelled: BTreeMap::new(),
    };
    for b in lines {
        let found = detector.scan(&b.text);
        let source = b.source.clone().unwrap_or_else(|| "-".to_string());
        for d in &found {
            st.n_detections += 1;
            let key = (d.kind.static_name(), b.text[d.start..d.end].to_string());
            *st.detections.entry(key).or_default() += 1;
        }
        let mut at = 0;
        for tok in b.text.split_whitespace() {
            let start = at + b.text[at..].find(tok).unwrap_or(0);
            let end = start + tok.len();
            at = end;
            let covering = || {
                found
                    .iter()
                    .filter(move |d| overlap((d.start, d.end), (start, end)) > 0)
            };
            let cover = covering().next();
            let e = st.by_source.entry(source.clone()).or_default();
            if let (Some(labels), Some(_)) = (labels, cover) {
                // a token is a found identifier when any detection over it is a name
                let label = covering()
                    .map(|d| label_of(labels, &b.text[d.start..d.end]))
                    .min_by_key(|l| match *l {
                        "person" | "identifier" => 0,
                        "unlabelled" => 1,
                        _ => 2,
                    })
                    .unwrap_or("other");
                *st.by_label.entry(label).or_default() += 1;
                if label != "person" && label != "identifier" {
                    e.2 += 1;
                }
                if label == "unlabelled" {
                    for d in covering() {
                        let text = &b.text[d.start..d.end];
                        if !labels.contains_key(text) {
                            *st.unlabelled.entry(text.to_string()).or_default() += 1;
                        }
                    }
                }
            }
            e.0 += 1;
            st.tokens += 1;
            if let Some(d) = cover {
                e.1 += 1;
                st.covered += 1;
                *st.by_kind.entry(d.kind.static_name()).or_default() += 1;
            }
        }
    }
    st
}

/// Texts cut into chunks of about `CHUNK_BYTES` at whitespace.
fn chunks(texts: &[&str]) -> Vec<String> {
    let all = texts.join("\n\n");
    let mut out = Vec::new();
    let mut rest = all.as_str();
    while rest.len() >= CHUNK_BYTES / 2 {
        let mut cut = CHUNK_BYTES.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if cut < rest.len() {
            if let Some(ws) = rest[..cut].rfind(char::is_whitespace) {
                if ws > CHUNK_BYTES / 2 {
                    cut = ws;
                }
            }
        }
        out.push(rest[..cut].to_string());
        rest = &rest[cut..];
    }
    out
}

fn quantiles(mut v: Vec<f64>) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Median of `reps` timed calls, in microseconds.
fn time_us(reps: usize, mut f: impl FnMut() -> usize) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn timing(detector: &Detector, chunks: &[String], reps: usize) -> Value {
    for c in chunks {
        std::hint::black_box(detector.scan(c));
    }
    let (mut structured, mut full, mut extra) = (Vec::new(), Vec::new(), Vec::new());
    for c in chunks {
        let s = time_us(reps, || detector.scan_structured(c).len());
        let f = time_us(reps, || detector.scan(c).len());
        structured.push(s);
        full.push(f);
        extra.push((f - s).max(0.0));
    }
    let q = |v: Vec<f64>| {
        let (p50, p99) = quantiles(v);
        json!({"p50_us": p50, "p99_us": p99})
    };
    json!({
        "chunks": chunks.len(),
        "chunk_bytes": CHUNK_BYTES,
        "reps_per_chunk": reps,
        "scan_structured": q(structured),
        "scan": q(full),
        "names_and_addresses": q(extra),
    })
}

/// The default detectors, strict under `--strict`.
fn config(args: &Args) -> DetectorConfig {
    DetectorConfig {
        strict: args.strict,
        ..DetectorConfig::default()
    }
}

/// `text` in upper (or lower) case, letter by letter where the other case has the same
/// UTF-8 length (so the gold spans' byte offsets stay right; `ß` stays `ß`).
fn change_case(text: &str, upper: bool) -> String {
    text.chars()
        .map(|c| {
            let mut other: Vec<char> = if upper {
                c.to_uppercase().collect()
            } else {
                c.to_lowercase().collect()
            };
            match other.pop() {
                Some(o) if other.is_empty() && o.len_utf8() == c.len_utf8() => o,
                _ => c,
            }
        })
        .collect()
}

fn run(args: &Args) -> Result<Value, String> {
    let mut sentences: Vec<Sentence> = read_jsonl(&args.sentences)?;
    if let Some(case) = &args.case {
        let upper = case == "upper";
        for s in &mut sentences {
            s.text = change_case(&s.text, upper);
            for g in &mut s.spans {
                g.value = change_case(&g.value, upper);
            }
        }
    }
    let background: Vec<Background> = match &args.background {
        Some(p) => read_jsonl(p)?,
        None => Vec::new(),
    };
    let t0 = Instant::now();
    let detector = Detector::new(&config(args))?;
    let build_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    std::hint::black_box(
        detector.scan("Dear Mr. John Smith, 12 Oak Street, Springfield, IL 62704"),
    );
    let first_scan_ms = t1.elapsed().as_secs_f64() * 1e3;

    let stats = eval_sentences(&detector, &sentences);
    let mut types = serde_json::Map::new();
    for (kind, st) in &stats {
        let target = TARGETS.iter().find(|(k, _)| k == kind).map(|(_, t)| *t);
        let recall = ratio(st.found, st.gold);
        let groups: serde_json::Map<String, Value> = st
            .by_group
            .iter()
            .map(|(k, (g, f))| {
                (
                    k.clone(),
                    json!({"gold": g, "found": f, "recall": ratio(*f, *g)}),
                )
            })
            .collect();
        types.insert(
            kind.to_string(),
            json!({
                "gold": st.gold, "found": st.found, "recall": recall, "target": target,
                "meets_target": target.map(|t| recall.unwrap_or(0.0) >= t),
                "detections": st.detections, "correct": st.correct,
                "precision": ratio(st.correct, st.detections), "by_group": groups,
                "misses": st.misses, "false_positives": st.false_positives,
            }),
        );
    }
    let mut report = json!({
        "sentences": sentences.len(),
        "case": args.case,
        "detector_build_ms": build_ms,
        "first_scan_ms": first_scan_ms,
        "types": types,
    });
    let timing_texts: Vec<&str> = if background.is_empty() {
        sentences.iter().map(|s| s.text.as_str()).collect()
    } else {
        background.iter().map(|b| b.text.as_str()).collect()
    };
    if !background.is_empty() {
        let bg = eval_background(&detector, &background, args.labels.as_ref());
        let mut top: Vec<_> = bg.detections.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<Value> = top
            .iter()
            .take(args.top)
            .map(|((k, t), n)| json!({"type": k, "text": t, "count": n}))
            .collect();
        let mut by_type: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        let mut all: Vec<_> = bg.detections.iter().collect();
        all.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for ((k, t), n) in all {
            let list = by_type.entry(k).or_default();
            if list.len() < args.top {
                list.push(json!({"text": t, "count": n}));
            }
        }
        let share = ratio(bg.covered, bg.tokens).unwrap_or(0.0);
        report["background"] = json!({
            "lines": background.len(), "tokens": bg.tokens, "covered_tokens": bg.covered,
            "fp_token_share": share, "target": FP_TARGET, "meets_target": share <= FP_TARGET,
            "detections": bg.n_detections,
            "by_source": bg.by_source.iter().map(|(s, (t, c, fp))| (s.clone(), json!({
                "tokens": t, "covered": c, "share": ratio(*c, *t),
                "false_positives": fp, "false_positive_share": ratio(*fp, *t)})))
                .collect::<serde_json::Map<_, _>>(),
            "covered_by_type": bg.by_kind,
            "top_detections": top,
            "top_detections_by_type": by_type,
        });
        if args.labels.is_some() {
            // an unlabelled detection counts as a false positive until it is labelled
            let other = ["other", "unlabelled"]
                .iter()
                .filter_map(|l| bg.by_label.get(l))
                .sum();
            let share = ratio(other, bg.tokens).unwrap_or(0.0);
            report["background"]["labelled"] = json!({
                "covered_by_label": bg.by_label,
                "false_positive_share": share,
                "meets_target": share <= FP_TARGET,
                "unlabelled": bg.unlabelled,
            });
        }
    }
    report["timing"] = timing(&detector, &chunks(&timing_texts), args.reps);
    report["timing"]["on"] = json!(if background.is_empty() {
        "sentences"
    } else {
        "background"
    });
    Ok(report)
}

fn print_text(r: &Value, show: usize) {
    let f = |v: &Value| v.as_f64().map(|x| format!("{x:.1}")).unwrap_or_default();
    println!(
        "sentences: {}  (detector built in {} ms, first scan {} ms)",
        r["sentences"],
        f(&r["detector_build_ms"]),
        f(&r["first_scan_ms"])
    );
    println!(
        "\n{:<16} {:>6} {:>7} {:>8} {:>8} {:>10} {:>8}",
        "type", "gold", "found", "recall", "target", "detected", "precision"
    );
    let empty = serde_json::Map::new();
    let types = r["types"].as_object().unwrap_or(&empty);
    for (kind, t) in types {
        let target = t["target"]
            .as_f64()
            .map(|x| format!("{:.0}%", 100.0 * x))
            .unwrap_or_default();
        let mark = match t["meets_target"].as_bool() {
            Some(true) => " ok",
            Some(false) => " MISSED",
            None => "",
        };
        println!(
            "{:<16} {:>6} {:>7} {:>8} {:>8} {:>10} {:>9}{}",
            kind,
            t["gold"].to_string(),
            t["found"].to_string(),
            pct(t["recall"].as_f64()),
            target,
            t["detections"].to_string(),
            pct(t["precision"].as_f64()),
            mark
        );
    }
    for (kind, t) in types {
        let Some(groups) = t["by_group"].as_object() else {
            continue;
        };
        let weak: Vec<String> = groups
            .iter()
            .filter(|(_, g)| g["recall"].as_f64().is_some_and(|x| x < 1.0))
            .map(|(k, g)| format!("{k} {}/{}", g["found"], g["gold"]))
            .collect();
        if !weak.is_empty() {
            println!("\n{kind} recall below 100% by group: {}", weak.join(", "));
        }
        let misses = t["misses"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for m in misses.iter().take(show) {
            println!(
                "  missed {:?} [{}] in {:?} -> {}",
                m["value"].as_str().unwrap_or_default(),
                m["fmt"].as_str().unwrap_or("-"),
                m["text"].as_str().unwrap_or_default(),
                m["detected"]
            );
        }
        if misses.len() > show {
            println!(
                "  ... {} more misses (--json lists all)",
                misses.len() - show
            );
        }
        let fps = t["false_positives"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for fp in fps.iter().take(show) {
            println!(
                "  false positive {:?} on {} in {}",
                fp["text"].as_str().unwrap_or_default(),
                fp["on_gold"],
                fp["template"].as_str().unwrap_or_default()
            );
        }
        if fps.len() > show {
            println!("  ... {} more false positives", fps.len() - show);
        }
    }
    if let Some(bg) = r.get("background") {
        let labelled = bg.get("labelled").is_some();
        // with labels the target is judged on the false positives (below)
        let verdict = match (labelled, bg["meets_target"].as_bool()) {
            (true, _) => String::new(),
            (false, Some(true)) => format!(" (target <= {:.0}%) ok", 100.0 * FP_TARGET),
            (false, _) => format!(" (target <= {:.0}%) MISSED", 100.0 * FP_TARGET),
        };
        println!(
            "\nbackground: {} lines, {} tokens, {} covered by a detection = {}{verdict}",
            bg["lines"],
            bg["tokens"],
            bg["covered_tokens"],
            pct(bg["fp_token_share"].as_f64()),
        );
        if let Some(src) = bg["by_source"].as_object() {
            for (s, v) in src {
                let fp = if labelled {
                    format!(
                        ", false positives {} = {}",
                        v["false_positives"],
                        pct(v["false_positive_share"].as_f64())
                    )
                } else {
                    String::new()
                };
                println!(
                    "  {s:<6} {} of {} tokens = {}{fp}",
                    v["covered"],
                    v["tokens"],
                    pct(v["share"].as_f64())
                );
            }
        }
        println!("  covered tokens by type: {}", bg["covered_by_type"]);
        if let Some(l) = bg.get("labelled") {
            let n = |k: &str| l["covered_by_label"][k].as_u64().unwrap_or(0);
            println!(
                "  by label: {} tokens in a person's name and {} in another real identifier, \
                 {} in neither, {} unlabelled (counted as false positives) = {} false positives \
                 (target <= {:.0}%){}",
                n("person"),
                n("identifier"),
                n("other"),
                n("unlabelled"),
                pct(l["false_positive_share"].as_f64()),
                100.0 * FP_TARGET,
                if l["meets_target"].as_bool() == Some(true) {
                    " ok"
                } else {
                    " MISSED"
                },
            );
            if let Some(u) = l["unlabelled"].as_object().filter(|u| !u.is_empty()) {
                let list: Vec<String> = u.iter().map(|(t, c)| format!("{t:?} x{c}")).collect();
                println!("  unlabelled: {}", list.join(", "));
            }
        }
        println!("  most frequent detections:");
        for d in bg["top_detections"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            println!(
                "    {:>4}  {:<15} {:?}",
                d["count"].to_string(),
                d["type"].as_str().unwrap_or_default(),
                d["text"].as_str().unwrap_or_default()
            );
        }
    }
    let t = &r["timing"];
    println!(
        "\ntiming on {} {}-byte chunks of the {} (median of {} runs each):",
        t["chunks"],
        t["chunk_bytes"],
        t["on"].as_str().unwrap_or_default(),
        t["reps_per_chunk"]
    );
    for k in ["scan_structured", "scan", "names_and_addresses"] {
        println!(
            "  {k:<20} p50 {:>8} us   p99 {:>8} us",
            f(&t[k]["p50_us"]),
            f(&t[k]["p99_us"])
        );
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(text) = &args.text {
        return match Detector::new(&config(&args)) {
            Ok(d) => {
                for e in d.scan(text) {
                    println!(
                        "{:<15} {:.2} {:?}",
                        e.kind.name(),
                        e.confidence,
                        &text[e.start..e.end]
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("guard_eval: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&args) {
        Ok(report) => {
            if args.json {
                println!("{report}");
            } else {
                print_text(&report, args.show);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("guard_eval: {e}");
            ExitCode::FAILURE
        }
    }
}
