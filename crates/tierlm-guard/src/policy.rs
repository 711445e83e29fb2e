//! Data policies: what happens to a request that contains sensitive values, per entity
//! type, overridable per tenant, key and requested model.
//!
//! - `allow`: nothing happens;
//! - `redact`: values of that type are replaced by placeholders before anything goes
//!   to a cloud provider, and restored in the answer;
//! - `local_only`: the request is answered by the local model, whatever the router or
//!   the requested model wanted;
//! - `block`: the request is refused (403) with a message naming the entity types,
//!   never the values.
//!
//! A request gets the strictest action of the values found in it
//! (`block` > `local_only` > `redact` > `allow`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::detect::{Detector, DetectorConfig};
use crate::entity::{Entity, EntityKind};
use crate::pseudonym::Pseudonyms;

/// What to do with a type of value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    Redact,
    LocalOnly,
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Redact => "redact",
            Action::LocalOnly => "local_only",
            Action::Block => "block",
        }
    }
}

/// An override for some callers or models; every set selector must match.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverride {
    pub tenant: Option<String>,
    pub key: Option<String>,
    /// The model the client asked for (`auto`, a cloud model name, ...).
    pub model: Option<String>,
    pub default_action: Option<Action>,
    #[serde(default)]
    pub actions: BTreeMap<String, Action>,
    /// Scan these callers' requests with the detectors in strict mode (or not),
    /// whatever `detectors.strict` says.
    pub strict: Option<bool>,
}

fn default_action() -> Action {
    Action::Redact
}

fn default_audit_path() -> PathBuf {
    PathBuf::from("data/audit.jsonl")
}

fn default_pseudonym_key_path() -> PathBuf {
    PathBuf::from("data/guard.key")
}

/// The `[guard]` section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    #[serde(default)]
    pub detectors: DetectorConfig,
    /// For entity types not named in `actions`.
    #[serde(default = "default_action")]
    pub default_action: Action,
    /// Entity type name (`CREDIT_CARD`, a custom rule's name) → action.
    #[serde(default)]
    pub actions: BTreeMap<String, Action>,
    /// First match wins.
    #[serde(default)]
    pub policies: Vec<PolicyOverride>,
    /// The egress audit chain (JSON lines, append-only).
    #[serde(default = "default_audit_path")]
    pub audit_path: PathBuf,
    /// `always` (default): each entry is synced to disk before its request is sent;
    /// `os`: written to the OS before it is sent, synced by the OS (crash-safe, not
    /// power-loss-safe; no disk sync on the request path).
    #[serde(default)]
    pub audit_sync: crate::audit::AuditSync,
    /// The secret for `user` / `metadata` pseudonyms (see [`crate::pseudonym`]);
    /// created on first start.
    #[serde(default = "default_pseudonym_key_path")]
    pub pseudonym_key_path: PathBuf,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            detectors: DetectorConfig::default(),
            default_action: default_action(),
            actions: BTreeMap::new(),
            policies: Vec::new(),
            audit_path: default_audit_path(),
            audit_sync: crate::audit::AuditSync::default(),
            pseudonym_key_path: default_pseudonym_key_path(),
        }
    }
}

/// Who is asking, for policy selection.
#[derive(Debug, Clone, Default)]
pub struct Caller<'a> {
    pub tenant: Option<&'a str>,
    pub key: Option<&'a str>,
    pub model: &'a str,
}

/// What the guard found in a request and decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// The strictest action of the values found (`allow` when none).
    pub action: Action,
    /// Per input text: the values to replace by placeholders (those whose type's
    /// action is `redact`).
    pub to_redact: Vec<Vec<Entity>>,
    /// Entity types that decided the action (for `block` and `local_only` messages).
    pub deciding_types: BTreeSet<String>,
    /// Every type found, with counts.
    pub found: BTreeMap<String, u32>,
}

pub struct Guard {
    /// `detectors` as configured, and the same with `strict` flipped when a policy
    /// asks for the other mode.
    detector: Detector,
    other_mode: Option<Detector>,
    config: GuardConfig,
    pseudonyms: Pseudonyms,
}

fn matches(want: &Option<String>, have: Option<&str>) -> bool {
    want.as_deref().is_none_or(|w| have == Some(w))
}

impl Guard {
    pub fn new(config: GuardConfig) -> Result<Self, String> {
        let detector = Detector::new(&config.detectors)?;
        let mut known: BTreeSet<String> = EntityKind::BUILT_IN
            .iter()
            .map(|k| k.name().to_string())
            .collect();
        known.extend(
            config
                .detectors
                .custom
                .iter()
                .map(|c| c.name.to_uppercase()),
        );
        let all_action_keys = config
            .actions
            .keys()
            .chain(config.policies.iter().flat_map(|p| p.actions.keys()));
        for k in all_action_keys {
            if !known.contains(k) {
                return Err(format!(
                    "guard actions: unknown entity type `{k}`; known: {}",
                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let other = !config.detectors.strict;
        let other_mode = match config.policies.iter().any(|p| p.strict == Some(other)) {
            true => Some(Detector::new(&DetectorConfig {
                strict: other,
                ..config.detectors.clone()
            })?),
            false => None,
        };
        // a key for this process only, until [`Guard::with_stored_pseudonym_key`]
        let pseudonyms = Pseudonyms::ephemeral().map_err(|e| format!("random source: {e}"))?;
        Ok(Self {
            detector,
            other_mode,
            config,
            pseudonyms,
        })
    }

    /// Pseudonyms under the key in `pseudonym_key_path` (created when missing), so they
    /// stay the same across restarts and replicas.
    pub fn with_stored_pseudonym_key(mut self) -> Result<Self, String> {
        self.pseudonyms = Pseudonyms::load_or_create(&self.config.pseudonym_key_path)
            .map_err(|e| format!("guard pseudonym key: {e}"))?;
        Ok(self)
    }

    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Makes the pseudonyms for `user` and `metadata` values.
    pub fn pseudonyms(&self) -> Pseudonyms {
        self.pseudonyms
    }

    /// The detectors that scan this caller's requests.
    pub fn detector(&self, caller: &Caller) -> &Detector {
        let strict = self.policy(caller).and_then(|p| p.strict);
        match (&self.other_mode, strict) {
            (Some(other), Some(s)) if s != self.config.detectors.strict => other,
            _ => &self.detector,
        }
    }

    /// The first policy override that selects this caller.
    fn policy(&self, caller: &Caller) -> Option<&PolicyOverride> {
        self.config.policies.iter().find(|p| {
            matches(&p.tenant, caller.tenant)
                && matches(&p.key, caller.key)
                && matches(&p.model, Some(caller.model))
        })
    }

    /// The action for one entity type, for this caller.
    pub fn action_for(&self, kind: &str, caller: &Caller) -> Action {
        if let Some(p) = self.policy(caller) {
            if let Some(a) = p.actions.get(kind) {
                return *a;
            }
            if let Some(a) = p.default_action {
                return a;
            }
        }
        self.config
            .actions
            .get(kind)
            .copied()
            .unwrap_or(self.config.default_action)
    }

    /// Scan every text of a request and decide.
    pub fn inspect(&self, texts: &[&str], caller: &Caller) -> Inspection {
        self.inspect_request(texts, &[], caller)
    }

    /// [`Guard::inspect`] for a request that also names its participants (a chat
    /// message's `name`, which the OpenAI API defines as the participant's name): each
    /// is a `PERSON` value as a whole, whatever the detectors would make of a label
    /// such as `kira_fransson`. `to_redact` holds one entry per text, then one per
    /// participant.
    pub fn inspect_request(
        &self,
        texts: &[&str],
        participants: &[&str],
        caller: &Caller,
    ) -> Inspection {
        let mut out = Inspection {
            action: Action::Allow,
            to_redact: Vec::with_capacity(texts.len()),
            deciding_types: BTreeSet::new(),
            found: BTreeMap::new(),
        };
        let mut per_type: Vec<(String, Action)> = Vec::new();
        let detector = self.detector(caller);
        let named = participants.iter().map(|p| {
            let whole = Entity {
                kind: EntityKind::Person,
                start: 0,
                end: p.len(),
                confidence: 1.0,
            };
            if p.is_empty() {
                Vec::new()
            } else {
                vec![whole]
            }
        });
        for found in detector.scan_all(texts).into_iter().chain(named) {
            let mut redact = Vec::new();
            for e in found {
                let kind = e.kind.name().to_string();
                let action = self.action_for(&kind, caller);
                *out.found.entry(kind.clone()).or_insert(0) += 1;
                per_type.push((kind, action));
                if action == Action::Redact {
                    redact.push(e);
                }
            }
            out.to_redact.push(redact);
        }
        out.action = per_type
            .iter()
            .map(|(_, a)| *a)
            .max()
            .unwrap_or(Action::Allow);
        out.deciding_types = per_type
            .into_iter()
            .filter(|(_, a)| *a == out.action && out.action != Action::Allow)
            .map(|(k, _)| k)
            .collect();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(toml_text: &str) -> Guard {
        let cfg: GuardConfig = toml::from_str(toml_text).unwrap();
        Guard::new(cfg).unwrap()
    }

    #[test]
    fn the_strictest_action_wins_and_names_its_types() {
        let g = guard("[actions]\nEMAIL = \"redact\"\nCREDIT_CARD = \"block\"\n");
        let i = g.inspect(
            &["mail ann@example.com", "card 4111 1111 1111 1111"],
            &Caller::default(),
        );
        assert_eq!(i.action, Action::Block);
        assert_eq!(
            i.deciding_types.iter().cloned().collect::<Vec<_>>(),
            ["CREDIT_CARD"]
        );
        assert_eq!(i.to_redact[0].len(), 1);
        assert!(i.to_redact[1].is_empty());
    }

    #[test]
    fn overrides_by_tenant_and_model() {
        let g = guard(
            "default_action = \"redact\"\n[[policies]]\ntenant = \"health\"\ndefault_action = \"local_only\"\n[[policies]]\nmodel = \"trusted\"\nactions = { EMAIL = \"allow\" }\n",
        );
        let text = ["write to ann@example.com"];
        let normal = g.inspect(
            &text,
            &Caller {
                model: "auto",
                ..Default::default()
            },
        );
        assert_eq!(normal.action, Action::Redact);
        let health = g.inspect(
            &text,
            &Caller {
                tenant: Some("health"),
                model: "auto",
                key: None,
            },
        );
        assert_eq!(health.action, Action::LocalOnly);
        let trusted = g.inspect(
            &text,
            &Caller {
                model: "trusted",
                ..Default::default()
            },
        );
        assert_eq!(trusted.action, Action::Allow);
        assert!(trusted.to_redact[0].is_empty());
    }

    #[test]
    fn a_policy_can_switch_strict_mode() {
        let g = guard("[[policies]]\nmodel = \"sealed\"\nstrict = true\n[[policies]]\ntenant = \"lab\"\nstrict = false\n");
        let text = ["Why is Zrina so impulsive?"];
        let caller = |model| Caller {
            model,
            ..Default::default()
        };
        assert!(g.inspect(&text, &caller("auto")).found.is_empty());
        assert_eq!(g.inspect(&text, &caller("sealed")).found["PERSON"], 1);
        // strict everywhere but for one tenant
        let g =
            guard("[detectors]\nstrict = true\n[[policies]]\ntenant = \"lab\"\nstrict = false\n");
        assert_eq!(g.inspect(&text, &caller("auto")).found["PERSON"], 1);
        let lab = Caller {
            tenant: Some("lab"),
            model: "auto",
            key: None,
        };
        assert!(g.inspect(&text, &lab).found.is_empty());
    }

    #[test]
    fn unknown_entity_types_are_configuration_errors() {
        let cfg: GuardConfig = toml::from_str("[actions]\nCREDITCARD = \"block\"\n").unwrap();
        let e = Guard::new(cfg).err().unwrap();
        assert!(e.contains("CREDITCARD"), "{e}");
    }

    #[test]
    fn a_name_found_in_one_message_is_found_in_the_others() {
        let g = guard("");
        let texts = [
            "You answer for the claims desk. The customer is Mr. Tadanori Okabe.",
            "Hi, it's about my claim.",
            "The form was sent twice, as Tadanori knows; Okabe signed it.",
        ];
        let i = g.inspect(&texts, &Caller::default());
        let values: Vec<&str> = i.to_redact[2]
            .iter()
            .map(|e| &texts[2][e.start..e.end])
            .collect();
        assert_eq!(values, ["Tadanori", "Okabe"]);
        assert!(i.to_redact[1].is_empty());
        // alone, the third message holds no name the detector would find
        assert!(g.inspect(&texts[2..], &Caller::default()).found.is_empty());
    }

    #[test]
    fn a_participant_name_is_a_person_value_as_a_whole() {
        let g = guard("[[policies]]\nmodel = \"sealed\"\nactions = { PERSON = \"local_only\" }\n[[policies]]\nmodel = \"open\"\nactions = { PERSON = \"allow\" }\n");
        let texts = ["What is the weather?"];
        let names = ["kira_fransson", ""];
        let caller = |model| Caller {
            model,
            ..Default::default()
        };
        let i = g.inspect_request(&texts, &names, &caller("auto"));
        assert_eq!(i.action, Action::Redact);
        assert_eq!(i.found["PERSON"], 1);
        assert_eq!(i.to_redact.len(), 3);
        assert!(i.to_redact[0].is_empty() && i.to_redact[2].is_empty());
        assert_eq!((i.to_redact[1][0].start, i.to_redact[1][0].end), (0, 13));
        let sealed = g.inspect_request(&texts, &names, &caller("sealed"));
        assert_eq!(sealed.action, Action::LocalOnly);
        assert_eq!(sealed.deciding_types.iter().collect::<Vec<_>>(), ["PERSON"]);
        let open = g.inspect_request(&texts, &names, &caller("open"));
        assert_eq!(open.action, Action::Allow);
        assert!(open.to_redact.iter().all(Vec::is_empty));
    }

    #[test]
    fn clean_text_is_allowed() {
        let g = guard("");
        let i = g.inspect(&["the weather is nice"], &Caller::default());
        assert_eq!(i.action, Action::Allow);
        assert!(i.found.is_empty());
    }
}
