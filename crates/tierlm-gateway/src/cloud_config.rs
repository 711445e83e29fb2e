//! Configuration of cloud providers and cloud models (`[[providers]]`,
//! `[[cloud_models]]`), validated into live [`Provider`]s and [`CloudModel`]s.
//!
//! Credentials are references, never inline: `api_key = "env::OPENAI_API_KEY"` is
//! resolved from the environment at start-up, and an inline key is a configuration
//! error, so keys never sit in a file that gets copied around.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tierlm_providers::pricing::{Price, PricingCatalog, Usd};
use tierlm_providers::reliability::RetryPolicy;
use tierlm_providers::{
    CloudModel, ExtraRoots, Provider, ProviderKind, ProviderSettings, Secret, Target,
};

use crate::config::ConfigError;

pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_FIRST_TOKEN_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_TOTAL_TIMEOUT_MS: u64 = 600_000;
pub const DEFAULT_MAX_RETRIES: u32 = 2;
pub const DEFAULT_RETRY_BASE_MS: u64 = 100;
pub const DEFAULT_BREAKER_FAILURES: u32 = 5;
pub const DEFAULT_BREAKER_COOLDOWN_MS: u64 = 30_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninitializedProvider {
    pub name: String,
    pub kind: String,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub connect_timeout_ms: Option<u64>,
    pub first_token_timeout_ms: Option<u64>,
    pub total_timeout_ms: Option<u64>,
    pub max_retries: Option<u32>,
    pub retry_base_ms: Option<u64>,
    pub breaker_failures: Option<u32>,
    pub breaker_cooldown_ms: Option<u64>,
    /// A PEM file of certificate authorities to trust besides the public ones.
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninitializedCloudModel {
    pub name: String,
    /// `PROVIDER/MODEL` entries, tried in order.
    pub targets: Vec<String>,
    /// A local model that answers when every target fails.
    pub fallback_local: Option<String>,
}

/// A price as written in TOML: a decimal string (`"0.15"`, exact) or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PriceText {
    Text(String),
    Number(f64),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UninitializedPrice {
    pub input_per_mtok: PriceText,
    pub output_per_mtok: PriceText,
}

/// The built-in catalog with the configured prices laid over it.
pub fn pricing(
    overrides: BTreeMap<String, UninitializedPrice>,
) -> Result<PricingCatalog, ConfigError> {
    let mut catalog = PricingCatalog::builtin();
    for (model, p) in overrides {
        let parse = |key: &str, v: &PriceText| {
            // A float's shortest round-trip text is the decimal the user wrote.
            let text = match v {
                PriceText::Text(t) => t.clone(),
                PriceText::Number(n) => format!("{n}"),
            };
            Usd::parse(&text)
                .map_err(|e| ConfigError::Invalid(format!("`pricing.\"{model}\".{key}`: {e}")))
        };
        catalog.set(
            &model,
            Price {
                input_per_mtok: parse("input_per_mtok", &p.input_per_mtok)?,
                output_per_mtok: parse("output_per_mtok", &p.output_per_mtok)?,
            },
        );
    }
    Ok(catalog)
}

/// Validated cloud settings (providers are built when the server starts).
#[derive(Debug, Clone, PartialEq)]
pub struct CloudConfig {
    pub providers: Vec<ProviderSettings>,
    pub models: Vec<CloudModelSpec>,
    pub pricing: PricingCatalog,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CloudModelSpec {
    pub name: String,
    pub targets: Vec<(String, String)>,
    pub fallback_local: Option<String>,
}

fn resolve_secret(
    provider: &str,
    raw: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, ConfigError> {
    let Some(var) = raw.strip_prefix("env::") else {
        return Err(ConfigError::Invalid(format!(
            "`api_key` of provider `{provider}` must reference an environment variable (`env::NAME`); inline keys are not allowed"
        )));
    };
    match env(var) {
        Some(v) if !v.is_empty() => Ok(Secret::new(v)),
        _ => Err(ConfigError::Invalid(format!(
            "`api_key` of provider `{provider}` names the environment variable `{var}`, which is not set"
        ))),
    }
}

/// Validate providers and cloud models; `local` are the local model names.
pub fn validate(
    providers: Vec<UninitializedProvider>,
    models: Vec<UninitializedCloudModel>,
    local: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CloudConfig, ConfigError> {
    let mut specs: Vec<ProviderSettings> = Vec::new();
    let mut system_bundle: Option<ExtraRoots> = None;
    for p in providers {
        let what = |k: &str| format!("`{k}` of provider `{}`", p.name);
        if specs.iter().any(|s| s.name == p.name) {
            return Err(ConfigError::Invalid(format!(
                "provider name `{}` is used twice",
                p.name
            )));
        }
        let kind = ProviderKind::parse(&p.kind).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "{} is `{}`; expected one of openai, anthropic, gemini, openai_compatible",
                what("kind"),
                p.kind
            ))
        })?;
        let base_url = match (p.base_url, kind.default_base_url()) {
            (Some(u), _) => u,
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                return Err(ConfigError::Invalid(format!(
                    "{} is required for kind `{}`",
                    what("base_url"),
                    p.kind
                )))
            }
        };
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "{} must start with http:// or https://, got `{base_url}`",
                what("base_url")
            )));
        }
        let api_key = p
            .api_key
            .as_deref()
            .map(|raw| resolve_secret(&p.name, raw, env))
            .transpose()?;
        let https = base_url.starts_with("https://");
        // The machine's bundle (`SSL_CERT_FILE`, as OpenSSL, curl and Python read it)
        // for every https provider, and the provider's own `ca_file`.
        // The bundle is read once, for the first https provider, and shared.
        let system = match env("SSL_CERT_FILE").filter(|f| https && !f.is_empty()) {
            Some(file) => match &system_bundle {
                Some(roots) => Some(ExtraRoots::clone(roots)),
                None => {
                    let roots =
                        ExtraRoots::load_bundle(std::path::Path::new(&file)).map_err(|e| {
                            ConfigError::Invalid(format!(
                            "the `SSL_CERT_FILE` environment variable (used by provider `{}`): {e}",
                            p.name
                        ))
                        })?;
                    system_bundle = Some(roots.clone());
                    Some(roots)
                }
            },
            None => None,
        };
        let own = match &p.ca_file {
            Some(path) if !https => {
                return Err(ConfigError::Invalid(format!(
                    "{} `{path}` is set, but `{base_url}` is not an https:// URL",
                    what("ca_file")
                )))
            }
            Some(path) => Some(
                ExtraRoots::load(std::path::Path::new(path))
                    .map_err(|e| ConfigError::Invalid(format!("{}: {e}", what("ca_file"))))?,
            ),
            None => None,
        };
        let extra_roots = match (system, own) {
            (Some(a), Some(b)) => Some(a.and(b)),
            (a, b) => a.or(b),
        };
        let ms = Duration::from_millis;
        specs.push(ProviderSettings {
            name: p.name.clone(),
            kind,
            base_url,
            api_key,
            connect_timeout: ms(p.connect_timeout_ms.unwrap_or(DEFAULT_CONNECT_TIMEOUT_MS)),
            first_token_timeout: ms(p
                .first_token_timeout_ms
                .unwrap_or(DEFAULT_FIRST_TOKEN_TIMEOUT_MS)),
            total_timeout: ms(p.total_timeout_ms.unwrap_or(DEFAULT_TOTAL_TIMEOUT_MS)),
            retry: RetryPolicy {
                max_retries: p.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
                base: ms(p.retry_base_ms.unwrap_or(DEFAULT_RETRY_BASE_MS)),
                ..RetryPolicy::default()
            },
            breaker_failures: p
                .breaker_failures
                .unwrap_or(DEFAULT_BREAKER_FAILURES)
                .max(1),
            breaker_cooldown: ms(p.breaker_cooldown_ms.unwrap_or(DEFAULT_BREAKER_COOLDOWN_MS)),
            extra_roots,
        });
    }
    let mut out_models: Vec<CloudModelSpec> = Vec::new();
    for m in models {
        if local.contains(&m.name) || out_models.iter().any(|x| x.name == m.name) {
            return Err(ConfigError::Invalid(format!(
                "model name `{}` is used twice",
                m.name
            )));
        }
        if m.targets.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "cloud model `{}` needs at least one target",
                m.name
            )));
        }
        let mut targets = Vec::new();
        for t in &m.targets {
            let (p, model) = t
                .split_once('/')
                .filter(|(p, m)| !p.is_empty() && !m.is_empty())
                .ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "target `{t}` of cloud model `{}` must be PROVIDER/MODEL",
                        m.name
                    ))
                })?;
            if !specs.iter().any(|s| s.name == p) {
                return Err(ConfigError::Invalid(format!(
                    "target `{t}` of cloud model `{}` names unknown provider `{p}`",
                    m.name
                )));
            }
            targets.push((p.to_string(), model.to_string()));
        }
        if let Some(f) = &m.fallback_local {
            if !local.contains(f) {
                return Err(ConfigError::Invalid(format!(
                    "`fallback_local` of cloud model `{}` names `{f}`, which is not a local model",
                    m.name
                )));
            }
        }
        out_models.push(CloudModelSpec {
            name: m.name,
            targets,
            fallback_local: m.fallback_local,
        });
    }
    Ok(CloudConfig {
        providers: specs,
        models: out_models,
        pricing: PricingCatalog::builtin(),
    })
}

/// Build the live providers and cloud models.
pub fn build(cfg: &CloudConfig) -> Result<BTreeMap<String, (CloudModel, Option<String>)>, String> {
    let mut providers: BTreeMap<String, Arc<Provider>> = BTreeMap::new();
    for p in &cfg.providers {
        providers.insert(p.name.clone(), Arc::new(Provider::new(p.clone())?));
    }
    let mut out = BTreeMap::new();
    for m in &cfg.models {
        let targets = m
            .targets
            .iter()
            .filter_map(|(p, model)| {
                providers.get(p).map(|provider| Target {
                    provider: Arc::clone(provider),
                    model: model.clone(),
                })
            })
            .collect();
        out.insert(
            m.name.clone(),
            (
                CloudModel {
                    name: m.name.clone(),
                    targets,
                },
                m.fallback_local.clone(),
            ),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(name: &str, kind: &str, key: Option<&str>) -> UninitializedProvider {
        UninitializedProvider {
            name: name.into(),
            kind: kind.into(),
            base_url: None,
            api_key: key.map(str::to_string),
            connect_timeout_ms: None,
            first_token_timeout_ms: None,
            total_timeout_ms: None,
            max_retries: None,
            retry_base_ms: None,
            breaker_failures: None,
            breaker_cooldown_ms: None,
            ca_file: None,
        }
    }

    fn env(k: &str) -> Option<String> {
        (k == "OPENAI_API_KEY").then(|| "sk-test".to_string())
    }

    #[test]
    fn inline_keys_are_refused_and_env_keys_resolved() {
        let err = validate(
            vec![provider("o", "openai", Some("sk-inline"))],
            vec![],
            &[],
            &env,
        )
        .unwrap_err();
        assert!(err.to_string().contains("env::NAME"));
        assert!(!err.to_string().contains("sk-inline"));
        let ok = validate(
            vec![provider("o", "openai", Some("env::OPENAI_API_KEY"))],
            vec![],
            &[],
            &env,
        )
        .unwrap();
        assert_eq!(
            ok.providers[0].api_key.as_ref().unwrap().expose(),
            "sk-test"
        );
        let err = validate(
            vec![provider("o", "openai", Some("env::MISSING"))],
            vec![],
            &[],
            &env,
        )
        .unwrap_err();
        assert!(err.to_string().contains("MISSING"));
    }

    #[test]
    fn targets_must_name_known_providers() {
        let m = UninitializedCloudModel {
            name: "gpt".into(),
            targets: vec!["nope/gpt-4o".into()],
            fallback_local: None,
        };
        let err = validate(vec![provider("o", "openai", None)], vec![m], &[], &env).unwrap_err();
        assert!(err.to_string().contains("unknown provider `nope`"));
    }

    #[test]
    fn prices_override_the_catalog_exactly() {
        let mut o = BTreeMap::new();
        o.insert(
            "gpt-4o-mini".to_string(),
            UninitializedPrice {
                input_per_mtok: PriceText::Number(0.1),
                output_per_mtok: PriceText::Text("0.45".into()),
            },
        );
        let c = pricing(o).unwrap();
        let p = c.price("gpt-4o-mini").unwrap();
        assert_eq!(p.input_per_mtok.to_string(), "0.1");
        assert_eq!(p.output_per_mtok.to_string(), "0.45");
        let mut bad = BTreeMap::new();
        bad.insert(
            "x".to_string(),
            UninitializedPrice {
                input_per_mtok: PriceText::Text("-1".into()),
                output_per_mtok: PriceText::Text("1".into()),
            },
        );
        assert!(pricing(bad)
            .unwrap_err()
            .to_string()
            .contains("pricing.\"x\".input_per_mtok"));
    }

    #[test]
    fn compatible_servers_need_a_base_url() {
        let err = validate(
            vec![provider("v", "openai_compatible", None)],
            vec![],
            &[],
            &env,
        )
        .unwrap_err();
        assert!(err.to_string().contains("base_url"));
    }

    #[test]
    fn a_ca_file_must_exist_hold_certificates_and_serve_an_https_url() {
        let with = |url: &str, file: &str| {
            let mut p = provider("v", "openai_compatible", None);
            p.base_url = Some(url.into());
            p.ca_file = Some(file.into());
            validate(vec![p], vec![], &[], &env)
                .unwrap_err()
                .to_string()
        };
        let err = with("https://llm.internal/v1", "/nonexistent/ca.pem");
        assert!(
            err.contains("`ca_file` of provider `v`") && err.contains("/nonexistent/ca.pem"),
            "{err}"
        );
        let err = with("http://llm.internal/v1", "/nonexistent/ca.pem");
        assert!(err.contains("not an https:// URL"), "{err}");
    }

    #[test]
    fn ssl_cert_file_is_read_for_https_providers_only() {
        let bad = |k: &str| (k == "SSL_CERT_FILE").then(|| "/nonexistent/bundle.pem".to_string());
        let mut p = provider("v", "openai_compatible", None);
        p.base_url = Some("https://llm.internal/v1".into());
        let err = validate(vec![p.clone()], vec![], &[], &bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SSL_CERT_FILE") && err.contains("/nonexistent/bundle.pem"),
            "{err}"
        );
        p.base_url = Some("http://llm.internal/v1".into());
        assert!(validate(vec![p], vec![], &[], &bad).is_ok());
    }
}
