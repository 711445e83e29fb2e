//! Tests of the configuration layer: strict keys, defaults, overrides, validation
//! messages that name the key, and references between sections.

use super::*;

#[test]
fn unknown_keys_are_named() {
    let err = parse_str("[server]\ntemprature = 1\n").unwrap_err();
    assert!(err.contains("temprature"), "{err}");
    assert!(err.contains("port"), "expected keys listed: {err}");
}

#[test]
fn defaults_fill_an_empty_file() {
    let cfg = parse_str("").unwrap().load(&Overrides::default()).unwrap();
    assert_eq!(cfg.port, DEFAULT_PORT);
    assert_eq!(cfg.models.len(), 1);
    assert_eq!(cfg.models[0].name, DEFAULT_MODEL_NAME);
    assert_eq!(cfg.models[0].context_size, DEFAULT_CONTEXT_SIZE);
}

#[test]
fn overrides_win_over_the_file() {
    let raw = parse_str(
        "[server]\nport = 9000\n[[models]]\nname = \"a\"\npath = \"a.gguf\"\nparallel = 2\n",
    )
    .unwrap();
    let o = Overrides {
        port: Some(0),
        parallel: Some(8),
        ..Default::default()
    };
    let cfg = raw.load(&o).unwrap();
    assert_eq!(cfg.port, 0);
    assert_eq!(cfg.models[0].parallel, 8);
}

#[test]
fn invalid_values_name_the_key() {
    let raw = parse_str("[[models]]\nname = \"a\"\npath = \"a.gguf\"\nparallel = 0\n").unwrap();
    let err = raw.load(&Overrides::default()).unwrap_err().to_string();
    assert!(err.contains("`parallel` of model `a`"), "{err}");
    let raw = parse_str("[server]\nhost = \"localhost:1\"\n").unwrap();
    assert!(raw
        .load(&Overrides::default())
        .unwrap_err()
        .to_string()
        .contains("server.host"));
}

#[test]
fn data_dir_places_the_default_files_only() {
    let load = |text: &str, dir: Option<&str>| {
        parse_str(text)
            .unwrap()
            .load(&Overrides {
                data_dir: dir.map(PathBuf::from),
                ..Overrides::default()
            })
            .unwrap()
    };
    let cfg = load("", None);
    assert_eq!(cfg.ledger.unwrap().database_url, "sqlite://data/tierlm.db");
    assert_eq!(cfg.audit_path, PathBuf::from("data/audit.jsonl"));
    let cfg = load(
        "[server]\ndata_dir = \"/var/lib/a\"\n[guard]\n",
        Some("/srv/b"),
    );
    assert_eq!(
        cfg.ledger.unwrap().database_url,
        "sqlite:///srv/b/tierlm.db"
    );
    assert_eq!(cfg.audit_path, PathBuf::from("/srv/b/audit.jsonl"));
    let guard = cfg.guard.unwrap();
    assert_eq!(guard.audit_path, cfg.audit_path);
    assert_eq!(guard.pseudonym_key_path, PathBuf::from("/srv/b/guard.key"));
    let cfg = load("[server]\ndata_dir = \"/var/lib/a\"\n", None);
    assert_eq!(cfg.audit_path, PathBuf::from("/var/lib/a/audit.jsonl"));
    // Paths the config sets stay where they are.
    let cfg = load(
        "[guard]\naudit_path = \"/x/audit.jsonl\"\npseudonym_key_path = \"/run/secrets/k\"\n[ledger]\ndatabase_url = \"sqlite://y.db\"\n",
        Some("/srv/b"),
    );
    assert_eq!(cfg.ledger.unwrap().database_url, "sqlite://y.db");
    assert_eq!(cfg.audit_path, PathBuf::from("/x/audit.jsonl"));
    assert_eq!(
        cfg.guard.unwrap().pseudonym_key_path,
        PathBuf::from("/run/secrets/k")
    );
}

#[test]
fn telemetry_and_metrics_sections_are_strict() {
    let err = parse_str("[telemetry]\notlp_endpint = \"http://x:4318\"\n").unwrap_err();
    assert!(err.contains("otlp_endpint"), "{err}");
    assert!(err.contains("otlp_endpoint"), "expected keys listed: {err}");
    let err = parse_str("[metrics]\nmax_tenant = 3\n").unwrap_err();
    assert!(err.contains("max_tenant"), "{err}");
    let cfg = parse_str("").unwrap().load(&Overrides::default()).unwrap();
    assert!(cfg.telemetry.is_none(), "OTLP export is off by default");
    assert_eq!(cfg.metrics.max_tenants, DEFAULT_MAX_TENANTS);
    let cfg = parse_str(
        "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318/\"\nservice_name = \"gw\"\n[metrics]\nmax_tenants = 3\n",
    )
    .unwrap()
    .load(&Overrides::default())
    .unwrap();
    let t = cfg.telemetry.unwrap();
    assert_eq!(t.traces_url, "http://127.0.0.1:4318/v1/traces");
    assert_eq!(t.service_name, "gw");
    assert_eq!(cfg.metrics.max_tenants, 3);
}

#[test]
fn duplicate_model_names_are_rejected() {
    let raw = parse_str(
        "[[models]]\nname = \"a\"\npath = \"a.gguf\"\n[[models]]\nname = \"a\"\npath = \"b.gguf\"\n",
    )
    .unwrap();
    assert!(raw.load(&Overrides::default()).is_err());
}

#[test]
fn adapters_are_validated_and_may_serve_a_profile() {
    let models = "[[models]]\nname = \"a\"\npath = \"a.gguf\"\n\
                  [[models.adapters]]\nname = \"a-task\"\npath = \"t.gguf\"\n";
    let cfg = parse_str(models)
        .unwrap()
        .load(&Overrides::default())
        .unwrap();
    assert_eq!(cfg.models[0].adapters.len(), 1);
    assert_eq!(cfg.models[0].adapters[0].scale, 1.0);
    for (bad, needle) in [
        ("name = \"a\"\npath = \"t.gguf\"\n", "adapter name `a`"),
        (
            "name = \"b\"\npath = \"t.gguf\"\nscale = 0\n",
            "`scale` of adapter `b`",
        ),
        ("name = \"b\"\npath = \"t.gguf\"\nlayers = 2\n", "layers"),
    ] {
        let text =
            format!("[[models]]\nname = \"a\"\npath = \"a.gguf\"\n[[models.adapters]]\n{bad}");
        let err = match parse_str(&text) {
            Ok(raw) => raw.load(&Overrides::default()).unwrap_err().to_string(),
            Err(e) => e,
        };
        assert!(err.contains(needle), "{bad}: {err}");
    }
    // A missing adapter file is what --check-config reports (the model file exists).
    let existing = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let text = models.replace("a.gguf", existing);
    let cfg = parse_str(&text)
        .unwrap()
        .load(&Overrides::default())
        .unwrap();
    let err = cfg.check_files().unwrap_err().to_string();
    assert!(err.contains("adapter `a-task` of model `a`"), "{err}");
    assert!(err.contains("t.gguf"), "{err}");
}
