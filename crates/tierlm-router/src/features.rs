//! Complexity cues read from the request text without any model: code, mathematics,
//! multi-step reasoning and sheer length. Each cue is a score in [0, 1]; the strongest
//! one can turn a routine verdict complex (a request that pastes a stack trace into a
//! "summarise this e-mail" prompt is not routine any more).
//!
//! The cues are deliberately simple counts so they cost microseconds and can be
//! explained in a header (`complexity_code`, `complexity_math`, ...).

/// The cue scores of one text.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Features {
    pub words: usize,
    pub code: f32,
    pub math: f32,
    pub multi_step: f32,
    pub long: f32,
}

/// Names of the cues, as they appear in reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    Code,
    Math,
    MultiStep,
    Long,
}

impl Cue {
    pub fn reason(self) -> crate::Reason {
        match self {
            Cue::Code => crate::Reason::ComplexityCode,
            Cue::Math => crate::Reason::ComplexityMath,
            Cue::MultiStep => crate::Reason::ComplexityMultiStep,
            Cue::Long => crate::Reason::ComplexityLong,
        }
    }
}

const CODE_MARKERS: &[&str] = &[
    "```",
    "def ",
    "return ",
    "import ",
    "#include",
    "function ",
    "class ",
    "=>",
    "};",
    "public static",
    "SELECT ",
    "fn ",
    "console.log",
    "self.",
];

const MATH_WORDS: &[&str] = &[
    "how many",
    "how much",
    "calculate",
    "compute",
    "solve",
    "equation",
    "integral",
    "derivative",
    "probability",
    "remainder",
    "sum of",
    "product of",
    "prove",
];

const STEP_WORDS: &[&str] = &[
    "step by step",
    "step-by-step",
    "first,",
    "then ",
    "finally",
    "explain why",
    "justify",
    "compare and contrast",
    "plan ",
    "derive",
    "trade-off",
];

fn saturate(x: f32) -> f32 {
    x.clamp(0.0, 1.0)
}

fn count_any(haystack: &str, needles: &[&str]) -> usize {
    needles.iter().filter(|n| haystack.contains(*n)).count()
}

impl Features {
    /// Measure `text`, counting length against `long_words`.
    pub fn of(text: &str, long_words: usize) -> Self {
        let lower = text.to_lowercase();
        let words = text.split_whitespace().count();
        let code_hits = count_any(text, CODE_MARKERS);
        let symbol_lines = text
            .lines()
            .filter(|l| {
                let t = l.trim_end();
                t.ends_with(';') || t.ends_with('{') || t.ends_with(':') && l.starts_with("    ")
            })
            .count();
        let code = saturate(code_hits as f32 / 3.0 + symbol_lines as f32 / 6.0);
        // '%' and '/' are left out: prose (percentages, dates, URLs) is full of them.
        let operators = text
            .chars()
            .filter(|c| matches!(c, '+' | '*' | '=' | '^'))
            .count();
        let numbers = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .count();
        // Numbers alone are not mathematics (news is full of them); with a question
        // word that asks for a computation they are.
        let math_words = count_any(&lower, MATH_WORDS);
        let math = if math_words == 0 {
            saturate(operators as f32 / 6.0)
        } else {
            saturate(
                math_words as f32 / 2.0 + (numbers as f32 / 8.0).min(0.5) + operators as f32 / 6.0,
            )
        };
        let multi_step = saturate(count_any(&lower, STEP_WORDS) as f32 / 2.0);
        let long = if long_words == 0 {
            0.0
        } else {
            saturate(words as f32 / long_words as f32)
        };
        Self {
            words,
            code,
            math,
            multi_step,
            long,
        }
    }

    /// The stronger of the precise cues (code, length): the ones trusted to overrule
    /// a classifier verdict.
    pub fn strongest_precise(&self) -> (Cue, f32) {
        if self.long > self.code {
            (Cue::Long, self.long)
        } else {
            (Cue::Code, self.code)
        }
    }

    /// The strongest cue and its score.
    pub fn strongest(&self) -> (Cue, f32) {
        let mut best = (Cue::Code, self.code);
        for (cue, v) in [
            (Cue::Math, self.math),
            (Cue::MultiStep, self.multi_step),
            (Cue::Long, self.long),
        ] {
            if v > best.1 {
                best = (cue, v);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn code_is_recognised() {
        let f = Features::of(
            "Fix this:\n```python\ndef add(a, b):\n    return a + b\n```",
            3000,
        );
        assert_eq!(f.strongest().0, Cue::Code);
        assert!(f.code >= 0.9, "{f:?}");
    }

    #[test]
    fn word_problems_score_as_math() {
        let f = Features::of(
            "Janet has 16 eggs and eats 3. She sells the rest at $2 each. How much does she make? Solve it step by step.",
            3000,
        );
        assert!(f.math >= 0.9, "{f:?}");
        assert!(f.multi_step >= 0.5, "{f:?}");
    }

    #[test]
    fn numbers_in_prose_are_not_mathematics() {
        let f = Features::of(
            "Shares rose 4.5% to $310m in 2004, up from 12% in 2003; profits hit 1.2bn / year.",
            3000,
        );
        assert!(f.math < 0.5, "{f:?}");
    }

    #[test]
    fn routine_text_scores_low() {
        let f = Features::of(
            "Is this SMS spam or ham? Free entry in a weekly competition, text WIN now",
            3000,
        );
        assert!(f.strongest().1 < 0.9, "{f:?}");
    }

    proptest! {
        #[test]
        fn scores_stay_in_unit_range(text in ".{0,400}", long in 0usize..100) {
            let f = Features::of(&text, long);
            for v in [f.code, f.math, f.multi_step, f.long] {
                prop_assert!((0.0..=1.0).contains(&v));
            }
        }
    }
}
