use super::*;

fn names(text: &str) -> Vec<(&str, f32)> {
    let mut out = Vec::new();
    find(text, &mut out);
    out.iter()
        .filter(|e| e.confidence >= 0.5)
        .map(|e| (&text[e.start..e.end], e.confidence))
        .collect()
}

fn texts(text: &str) -> Vec<&str> {
    names(text).into_iter().map(|(s, _)| s).collect()
}

#[test]
fn full_names_score_high() {
    let got = names("Please forward the report to John Smith before noon.");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "John Smith");
    assert!(got[0].1 >= 0.85);
}

#[test]
fn honorifics_and_initials() {
    assert_eq!(texts("I spoke to Dr. Kowalczyk yesterday."), ["Kowalczyk"]);
    assert_eq!(texts("Signed by J. Smith"), ["J. Smith"]);
    assert_eq!(
        texts("Hello, this is Mr. Marek A. Novak."),
        ["Marek A. Novak"]
    );
    assert_eq!(texts("join accounts with ms. Anna"), ["Anna"]);
}

#[test]
fn dutch_ij_is_one_capital() {
    assert!(is_title("IJssel") && is_title("IJzerman"));
    assert!(!is_title("IBM") && !is_title("IJ"));
    assert_eq!(
        texts("DOB: 2/4/1957\nName: Zachary van den IJssel"),
        ["Zachary van den IJssel"]
    );
}

#[test]
fn cues_and_possessives() {
    assert_eq!(texts("My name is Olga"), ["Olga"]);
    assert_eq!(texts("As promised, here's Maria's address"), ["Maria"]);
    assert_eq!(
        texts("Kind regards,\nHelena Dvořáková"),
        ["Helena Dvořáková"]
    );
}

#[test]
fn ordinary_capitals_are_not_names() {
    assert!(texts("The meeting is on Monday in March at Jackson Street.").is_empty());
    assert!(texts("Will you send it? May I ask why?").is_empty());
    assert!(texts("We flew from Georgia to Paris last week.").is_empty());
    assert!(texts("Capitalized words like Wisdom and Discipline are often mistaken.").is_empty());
    assert!(texts("lower case text only").is_empty());
}

#[test]
fn lists_dialogues_and_surname_endings() {
    assert_eq!(
        texts("They had 3: Anna, Brkić and Þórólfsdóttir."),
        ["Anna", "Brkić", "Þórólfsdóttir"]
    );
    assert_eq!(
        texts("Zarita: What a wife.\nLeal: Remember me, Shouko?"),
        ["Zarita", "Leal", "Shouko"]
    );
    assert_eq!(
        texts("Minutes: the meeting opened at 9."),
        Vec::<&str>::new()
    );
    assert_eq!(
        texts("have you met Kuba Kozłowski yet?"),
        ["Kuba Kozłowski"]
    );
    assert_eq!(
        texts("Patient Arihiro Ogura, 52, presented with chest pain."),
        ["Arihiro Ogura"]
    );
}

#[test]
fn gazetteer_loads() {
    let lex = lexicon();
    assert!(lex.first.len() > 10_000 && lex.last.len() > 10_000);
    assert!(lex.first.contains("john") && lex.last.contains("smith"));
    assert!(lex.weak.contains("mark") && lex.blocked.contains("will"));
}

#[test]
fn unknown_words_with_a_person_context() {
    // a word no list knows, before a verb, in the possessive or before a vocative comma
    assert_eq!(texts("Tadanori is very reliable."), ["Tadanori"]);
    assert_eq!(texts("As promised, here's Zama's address:"), ["Zama"]);
    assert_eq!(texts("Alik, can I please speak to your boss?"), ["Alik"]);
    // after a weak cue, or after a verb whose object is a person
    assert_eq!(texts("\"It moves,\" says Stolar."), ["Stolar"]);
    assert_eq!(texts("Tomasz shouted at Cerys."), ["Tomasz", "Cerys"]);
    // two words no list knows, or a listed given name before an unknown word
    assert_eq!(
        texts("have you heard Khasbulat Shishani speak yet?"),
        ["Khasbulat Shishani"]
    );
    assert_eq!(
        texts("Minutes: Ruby Guibord opened the meeting."),
        ["Ruby Guibord"]
    );
    // a listed name that is also a word, in the possessive; not a listed place
    assert_eq!(texts("between him and Frank's kid"), ["Frank"]);
    assert!(texts("growth in India's air travel market").is_empty());
    // English words and contractions stay out
    assert!(texts("We're sure. He'd know. Transformer models work.").is_empty());
    assert!(texts("Yesterday, it rained.").is_empty());
}
