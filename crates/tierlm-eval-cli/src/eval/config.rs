//! The configuration an evaluation runs with: the gateway's TOML file, plus the task
//! profiles the workload builder wrote from the learning split, plus calibrated
//! thresholds — three files so that generated parts never have to be pasted by hand.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use tierlm_gateway::config::{self, Overrides};
use tierlm_gateway::Config;
use tierlm_router::config::ProfileConfig;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesFile {
    router: ProfilesSection,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesSection {
    #[serde(default)]
    profiles: Vec<ProfileConfig>,
    #[serde(default)]
    thresholds: BTreeMap<String, f64>,
}

fn read_section(path: &Path) -> Result<ProfilesSection, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str::<ProfilesFile>(&text)
        .map(|f| f.router)
        .map_err(|e| format!("invalid {}: {e}", path.display()))
}

/// Load the gateway configuration with the extra profiles and thresholds applied.
pub fn load(
    config_path: &Path,
    profiles: Option<&Path>,
    thresholds: Option<&Path>,
) -> Result<Config, String> {
    let mut raw = config::parse_file(config_path).map_err(|e| e.to_string())?;
    let Some(router) = raw.router.as_mut() else {
        return Err(format!(
            "{} has no [router] section: nothing to evaluate",
            config_path.display()
        ));
    };
    if let Some(p) = profiles {
        let section = read_section(p)?;
        router.profiles.extend(section.profiles);
        router.thresholds.extend(section.thresholds);
    }
    if let Some(p) = thresholds {
        router.thresholds.extend(read_section(p)?.thresholds);
    }
    let mut cfg = raw.load(&Overrides::default()).map_err(|e| e.to_string())?;
    // Replayed traffic is synthetic and goes to the in-process mock: it must not land
    // in the gateway's real ledger or egress audit (nor lock that audit file).
    if let Some(l) = cfg.ledger.as_mut() {
        l.database_url = "sqlite::memory:".to_string();
    }
    cfg.audit_path = std::env::temp_dir()
        .join(format!("tierlm-eval-{}", std::process::id()))
        .join("audit.jsonl");
    if let Some(g) = cfg.guard.as_mut() {
        g.audit_path = cfg.audit_path.clone();
    }
    Ok(cfg)
}

/// The cascade threshold each profile runs with (calibrated, else `min_confidence`).
pub fn effective_thresholds(cfg: &Config) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    if let Some(r) = &cfg.router {
        for p in &r.profiles {
            if let Some(t) = r.thresholds.get(&p.name).copied().or(p.min_confidence) {
                out.insert(p.name.clone(), t);
            }
        }
        // Per-tier gates (`"PROFILE/MODEL"`), as calibrated.
        for (k, t) in r.thresholds.iter().filter(|(k, _)| k.contains('/')) {
            out.insert(k.clone(), *t);
        }
    }
    out
}
