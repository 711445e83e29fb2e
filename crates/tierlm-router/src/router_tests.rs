use super::*;
use crate::classify::tests::WordsEmbedder;
use crate::config::{FewShot, Rule};

fn profile(name: &str, class: Class, examples: &[&str]) -> ProfileConfig {
    ProfileConfig {
        name: name.into(),
        class,
        examples: examples.iter().map(|s| s.to_string()).collect(),
        labels: None,
        instructions: None,
        few_shot: Vec::new(),
        min_confidence: None,
        max_tokens: None,
        local_model: None,
        tiers: None,
        deadline_ms: None,
        deterministic: false,
    }
}

fn config() -> RouterConfig {
    let mut spam = profile(
        "spam",
        Class::Routine,
        &["is this sms spam", "win a prize sms"],
    );
    spam.labels = Some(vec!["ham".into(), "spam".into()]);
    spam.min_confidence = Some(0.7);
    spam.instructions = Some("Answer ham or spam.".into());
    spam.few_shot = vec![FewShot {
        input: "sms: hi mum".into(),
        output: "ham".into(),
    }];
    spam.max_tokens = Some(4);
    let mut news = profile("news", Class::Routine, &["news topic sport"]);
    news.min_confidence = None;
    let code = profile("code", Class::Complex, &["write a python function def"]);
    toml::from_str::<RouterConfig>("local_model = \"small\"\ncloud_model = \"big\"\n")
        .map(|mut c| {
            c.profiles = vec![spam, news, code];
            c.complexity.threshold = 2.0;
            c
        })
        .unwrap()
}

fn tenant_rule(tenant: &str, route: RuleRoute) -> Rule {
    Rule {
        tenant: Some(tenant.into()),
        key: None,
        profile: None,
        class: None,
        route,
    }
}

fn router(cfg: RouterConfig) -> Router {
    Router::new(cfg, Some(Arc::new(WordsEmbedder))).unwrap()
}

fn req(text: &str) -> ChatCompletionRequest {
    serde_json::from_value(serde_json::json!({
        "model": "auto",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": text}
        ],
        "max_tokens": 100
    }))
    .unwrap()
}

#[test]
fn routine_with_threshold_cascades_routine_without_goes_local_complex_goes_cloud() {
    let r = router(config());
    let ctx = RouteContext::default();
    let d = r.decide(&req("SMS: win a prize now, spam?"), &ctx);
    assert_eq!(d.route, Route::Cascade { threshold: 0.7 });
    assert_eq!(d.reason, Reason::ClassifierRoutine);
    assert_eq!(d.profile.as_ref().unwrap().name(), "spam");
    let d = r.decide(&req("news: sport topic today"), &ctx);
    assert_eq!(
        (d.route, d.reason),
        (Route::Local, Reason::ClassifierRoutine)
    );
    let d = r.decide(&req("def f(): write this python function"), &ctx);
    assert_eq!(
        (d.route, d.reason),
        (Route::Cloud, Reason::ClassifierComplex)
    );
    assert_eq!(d.class, Some(Class::Complex));
}

#[test]
fn calibrated_thresholds_override_min_confidence() {
    let mut cfg = config();
    cfg.thresholds.insert("spam".into(), 0.42);
    let d = router(cfg).decide(&req("sms spam prize"), &RouteContext::default());
    assert_eq!(d.route, Route::Cascade { threshold: 0.42 });
}

#[test]
fn precedence_guard_budget_rule_hint() {
    let mut cfg = config();
    cfg.rules = vec![tenant_rule("legal", RuleRoute::Cloud)];
    let r = router(cfg);
    let code = req("def f(): write this python function");
    let mut ctx = RouteContext {
        hint: Some(Hint::Local),
        tenant: Some("legal".into()),
        sensitivity: Sensitivity::LocalOnly,
        over_budget: true,
        key: None,
    };
    assert_eq!(r.decide(&code, &ctx).reason, Reason::GuardLocalOnly);
    ctx.sensitivity = Sensitivity::Normal;
    assert_eq!(
        (r.decide(&code, &ctx).route, r.decide(&code, &ctx).reason),
        (Route::Local, Reason::OverBudgetLocal)
    );
    ctx.over_budget = false;
    assert_eq!(r.decide(&code, &ctx).reason, Reason::PolicyRule);
    ctx.tenant = None;
    let d = r.decide(&code, &ctx);
    assert_eq!((d.route, d.reason), (Route::Local, Reason::HintLocal));
    // The profile is still known, so the local model is asked the profile's way.
    assert_eq!(d.profile.unwrap().name(), "code");
}

#[test]
fn a_hint_may_name_one_local_tier() {
    assert_eq!(Hint::parse(" Local "), Some(Hint::Local));
    assert_eq!(Hint::parse("cloud"), Some(Hint::Cloud));
    let tier = Hint::parse("local:qwen2.5-coder-0.5b");
    assert_eq!(tier, Some(Hint::Tier("qwen2.5-coder-0.5b".into())));
    assert_eq!(
        tier.as_ref().and_then(Hint::tier),
        Some("qwen2.5-coder-0.5b")
    );
    for bad in ["local:", "cloud:x", "remote", ""] {
        assert_eq!(Hint::parse(bad), None, "{bad:?}");
    }
    let ctx = RouteContext {
        hint: tier,
        ..Default::default()
    };
    let d = router(config()).decide(&req("def f(): write this python function"), &ctx);
    assert_eq!((d.route, d.reason), (Route::Local, Reason::HintLocal));
}

#[test]
fn hints_are_ignored_when_disabled_and_budget_can_refuse() {
    let mut cfg = config();
    cfg.hint_header = false;
    cfg.over_budget = OverBudget::Refuse;
    let r = router(cfg);
    let ctx = RouteContext {
        hint: Some(Hint::Cloud),
        ..Default::default()
    };
    assert_eq!(
        r.decide(&req("sms spam prize"), &ctx).reason,
        Reason::ClassifierRoutine
    );
    let ctx = RouteContext {
        over_budget: true,
        ..Default::default()
    };
    assert_eq!(r.decide(&req("sms spam"), &ctx).route, Route::Refuse);
}

#[test]
fn rules_can_match_a_profile() {
    let mut cfg = config();
    cfg.rules = vec![Rule {
        tenant: None,
        key: None,
        profile: Some("news".into()),
        class: None,
        route: RuleRoute::Refuse,
    }];
    let r = router(cfg);
    let d = r.decide(&req("news sport topic"), &RouteContext::default());
    assert_eq!((d.route, d.reason), (Route::Refuse, Reason::PolicyRule));
    let d = r.decide(&req("sms spam"), &RouteContext::default());
    assert_ne!(d.route, Route::Refuse);
}

#[test]
fn unmatched_requests_take_the_default_route() {
    let mut cfg = config();
    cfg.min_similarity = 0.99;
    cfg.default_route = DefaultRoute::Cloud;
    let d = router(cfg).decide(&req("sms spam maybe news"), &RouteContext::default());
    assert_eq!((d.route, d.reason), (Route::Cloud, Reason::NoProfile));
    assert!(d.profile.is_none());
}

#[test]
fn complexity_cues_turn_an_unclear_routine_verdict_complex() {
    let mut cfg = config();
    cfg.complexity.threshold = 0.5;
    let r = router(cfg);
    let text = "sms ```python\ndef f(x):\n    return x\n```";
    let d = r.decide(&req(text), &RouteContext::default());
    assert_eq!(d.class, Some(Class::Complex), "{d:?}");
    assert_eq!(d.route, Route::Cloud);
}

#[test]
fn maths_words_do_not_overrule_a_routine_match_but_route_unmatched_work() {
    let mut cfg = config();
    cfg.complexity.threshold = 0.5;
    let r = router(cfg.clone());
    let text = "sms spam: how many prizes? calculate 3 + 4 = 7, solve it";
    let d = r.decide(&req(text), &RouteContext::default());
    assert_eq!(d.class, Some(Class::Routine), "{d:?}");
    cfg.min_similarity = 0.99;
    let r = router(cfg);
    let d = r.decide(&req(text), &RouteContext::default());
    assert_eq!((d.route, d.reason), (Route::Cloud, Reason::ComplexityMath));
    assert!(d.profile.is_none());
}

#[test]
fn profiles_without_an_embedder_are_a_configuration_error() {
    let e = Router::new(config(), None).err().unwrap();
    assert!(e.contains("embedding"), "{e}");
    let mut cfg = config();
    cfg.profiles.clear();
    let r = Router::new(cfg, None).unwrap();
    let d = r.decide(&req("anything"), &RouteContext::default());
    assert_eq!(d.route, Route::Cascade { threshold: 0.5 });
}

#[test]
fn shaping_puts_instructions_and_demonstrations_first() {
    let r = router(config());
    let d = r.decide(&req("sms spam?"), &RouteContext::default());
    let shaped = r.shape_local(&req("sms spam?"), d.profile.as_deref(), true);
    assert_eq!(shaped.model, "small");
    assert_eq!(shaped.max_tokens, Some(4));
    assert_eq!(shaped.temperature, Some(0.0));
    assert_eq!(shaped.top_logprobs, Some(20));
    let roles: Vec<Role> = shaped.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        vec![Role::System, Role::User, Role::Assistant, Role::User]
    );
    let system = shaped.messages[0].content.as_ref().unwrap().text().unwrap();
    assert_eq!(system, "Answer ham or spam.\n\nBe brief.");
    assert_eq!(shaped.deterministic, None);
    // A deterministic profile asks the engine for a batch of its own.
    let mut cfg = config();
    cfg.profiles[0].deterministic = true;
    let r = router(cfg);
    let d = r.decide(&req("sms spam?"), &RouteContext::default());
    let shaped = r.shape_local(&req("sms spam?"), d.profile.as_deref(), true);
    assert_eq!(shaped.deterministic, Some(true));
}

#[test]
fn label_grammar_escapes_and_alternates() {
    let g = label_grammar(&["a\"b".into(), "c".into()]);
    assert_eq!(g, "root ::= \"a\\\"b\" | \"c\"\n");
}

#[test]
fn cloud_requests_stay_put_unless_policy_says_otherwise() {
    let mut cfg = config();
    cfg.rules = vec![tenant_rule("legal", RuleRoute::Local)];
    let r = router(cfg);
    assert!(r.check_cloud_request(&RouteContext::default()).is_none());
    let ctx = RouteContext {
        tenant: Some("legal".into()),
        ..Default::default()
    };
    assert_eq!(
        r.check_cloud_request(&ctx),
        Some((Route::Local, Reason::PolicyRule))
    );
}

#[test]
fn tiers_climb_the_profile_s_list_with_a_gate_each() {
    let mut c = config();
    c.tiers = vec!["small".into(), "medium".into()];
    c.thresholds.insert("spam/medium".into(), 0.9);
    c.profiles[1].tiers = Some(vec!["student".into(), "tiny".into()]);
    let r = Router::new(c, Some(Arc::new(WordsEmbedder))).unwrap();
    let spam = &r.profiles()[0];
    let plan: Vec<(String, f64)> = r
        .tiers(Some(spam), 0.7)
        .into_iter()
        .map(|t| (t.model, t.threshold))
        .collect();
    assert_eq!(
        plan,
        [("small".to_string(), 0.7), ("medium".to_string(), 0.9)]
    );
    // `student` is tier 0, consulted before any model: not a model tier.
    let news = &r.profiles()[1];
    let plan: Vec<String> = r
        .tiers(Some(news), 0.5)
        .into_iter()
        .map(|t| t.model)
        .collect();
    assert_eq!(plan, ["tiny"]);
    // No profile: the router's tiers.
    assert_eq!(r.tiers(None, 0.5).len(), 2);
}

#[test]
fn without_tiers_the_local_model_is_the_one_tier() {
    let r = Router::new(config(), Some(Arc::new(WordsEmbedder))).unwrap();
    let plan: Vec<String> = r.tiers(None, 0.5).into_iter().map(|t| t.model).collect();
    assert_eq!(plan, ["small"]);
}
