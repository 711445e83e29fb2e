//! `tierlm report`: the month's (or all) spend from the ledger — requests local and
//! cloud, what the same tokens would have cost on the frontier baseline, and the
//! savings in USD and percent — overall and by route and model, as a table, CSV or JSON.

use std::process::ExitCode;

use tierlm_gateway::config::{self, Overrides, UninitializedConfig};
use tierlm_ledger::{format_usd, GroupBy, UsageQuery, UsageTotals};

use crate::cli::ReportArgs;

/// `YYYY-MM` → [first day, first day of next month) in unix ms.
fn month_range(month: &str) -> Result<(i64, i64), String> {
    let bad = || format!("--month must be YYYY-MM, not `{month}`");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let (y, m): (i64, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(1..=12).contains(&m) || y.to_string().len() != 4 {
        return Err(bad());
    }
    let start = format!("{y:04}-{m:02}-01");
    let end = if m == 12 {
        format!("{:04}-01-01", y + 1)
    } else {
        format!("{y:04}-{:02}-01", m + 1)
    };
    let ms = |d: &str| tierlm_guard::audit::parse_bound(d).map_err(|e| e.to_string());
    Ok((ms(&start)?, ms(&end)?))
}

fn percent(t: &UsageTotals) -> String {
    t.savings_percent()
        .map_or_else(|| "n/a".to_string(), |p| format!("{p:.1}%"))
}

fn database(args: &ReportArgs) -> Result<(String, String), String> {
    let raw = match &args.config {
        Some(p) => config::parse_file(p).map_err(|e| e.to_string())?,
        None => UninitializedConfig::default(),
    };
    let overrides = Overrides {
        data_dir: crate::keys::env_data_dir(),
        ..Overrides::default()
    };
    let cfg = raw.load(&overrides).map_err(|e| e.to_string())?;
    let settings = cfg
        .ledger
        .ok_or("the configuration turns the ledger off (`[ledger] enabled = false`)")?;
    let url = args.database.clone().unwrap_or(settings.database_url);
    Ok((url, settings.baseline_model))
}

fn run(args: &ReportArgs) -> Result<String, String> {
    let (url, baseline) = database(args)?;
    // A report reads: it does not create an empty database where none is.
    if let Some(path) = tierlm_ledger::database_file(&url).map_err(|e| e.to_string())? {
        if !path.exists() {
            return Err(format!("no ledger database at {}", path.display()));
        }
    }
    let store = tierlm_ledger::open(&url).map_err(|e| e.to_string())?;
    let (from_ms, to_ms) = match &args.month {
        Some(m) => month_range(m).map(|(a, b)| (Some(a), Some(b)))?,
        None => (None, None),
    };
    let query = |group_by| UsageQuery {
        from_ms,
        to_ms,
        group_by,
    };
    let overall = store.usage(&query(None)).map_err(|e| e.to_string())?;
    let by_route = store
        .usage(&query(Some(GroupBy::Route)))
        .map_err(|e| e.to_string())?;
    let by_model = store
        .usage(&query(Some(GroupBy::Model)))
        .map_err(|e| e.to_string())?;
    let period = args.month.clone().unwrap_or_else(|| "all time".to_string());
    let mut rows: Vec<(String, &UsageTotals)> = vec![("total".to_string(), &overall.totals)];
    rows.extend(
        by_route
            .groups
            .iter()
            .map(|(k, t)| (format!("route={k}"), t)),
    );
    rows.extend(
        by_model
            .groups
            .iter()
            .map(|(k, t)| (format!("model={k}"), t)),
    );
    Ok(match args.format.as_str() {
        "json" => {
            let group = |g: &[(String, UsageTotals)]| -> serde_json::Value {
                g.iter()
                    .map(|(k, t)| (k.clone(), t.to_json()))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            };
            serde_json::json!({
                "period": period,
                "baseline_model": baseline,
                "totals": overall.totals.to_json(),
                "by_route": group(&by_route.groups),
                "by_model": group(&by_model.groups),
            })
            .to_string()
        }
        "csv" => {
            let mut out = String::from("group,requests,local_requests,cloud_requests,prompt_tokens,completion_tokens,cost_usd,all_frontier_usd,savings_usd,savings_percent\n");
            for (k, t) in rows {
                out.push_str(&format!(
                    "{k},{},{},{},{},{},{},{},{},{}\n",
                    t.requests,
                    t.local_requests,
                    t.cloud_requests,
                    t.prompt_tokens,
                    t.completion_tokens,
                    format_usd(t.cost),
                    format_usd(t.counterfactual_cost),
                    t.savings_usd(),
                    t.savings_percent()
                        .map_or(String::new(), |p| format!("{p:.2}"))
                ));
            }
            out
        }
        _ => {
            let mut out = format!(
                "tierlm report: {period}, baseline {baseline}\n\n{:<28} {:>9} {:>7} {:>7} {:>12} {:>14} {:>12} {:>8}\n",
                "group", "requests", "local", "cloud", "spent $", "all-frontier $", "saved $", "saved"
            );
            for (k, t) in rows {
                out.push_str(&format!(
                    "{k:<28} {:>9} {:>7} {:>7} {:>12} {:>14} {:>12} {:>8}\n",
                    t.requests,
                    t.local_requests,
                    t.cloud_requests,
                    format_usd(t.cost),
                    format_usd(t.counterfactual_cost),
                    t.savings_usd(),
                    percent(t)
                ));
            }
            out
        }
    })
}

pub fn report(args: &ReportArgs) -> ExitCode {
    match run(args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_half_open_utc_ranges() {
        let (a, b) = month_range("2026-12").unwrap();
        assert_eq!(b - a, 31 * 86_400_000);
        assert!(month_range("2026-13").is_err());
        assert!(month_range("26-01").is_err());
        assert!(month_range("november").is_err());
    }
}
