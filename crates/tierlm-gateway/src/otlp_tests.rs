//! Tests of the OTLP export: settings, `traceparent`, the span's JSON, and the
//! exporter against an in-process collector.

use super::*;

fn span() -> SpanData {
    SpanData {
        ids: TraceIds {
            trace_id: 0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
            span_id: 0xb7ad_6b71_6920_3331,
            parent_span_id: Some(0x00f0_67aa_0ba9_02b7),
        },
        operation: "chat",
        request_model: "auto".into(),
        response_model: Some("gpt-4o-mini".into()),
        provider: "mock".into(),
        input_tokens: 12,
        output_tokens: 8,
        max_tokens: Some(8),
        temperature: Some(0.5),
        route: "cloud".into(),
        reason: Some("complex".into()),
        tenant: Some("marketing".into()),
        request_id: "req-1".into(),
        cost_usd: 0.000_006_6,
        counterfactual_cost_usd: 0.000_11,
        ttft_ms: Some(5),
        status: 200,
        path: "/v1/chat/completions".into(),
        start_unix_nano: 1_700_000_000_000_000_000,
        end_unix_nano: 1_700_000_000_250_000_000,
    }
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

#[test]
fn spans_follow_the_genai_conventions() {
    let j = span().to_json();
    assert_eq!(j["name"], "chat auto");
    assert_eq!(j["traceId"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(j["spanId"], "b7ad6b7169203331");
    assert_eq!(j["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(j["startTimeUnixNano"], "1700000000000000000");
    assert_eq!(j["endTimeUnixNano"], "1700000000250000000");
    assert_eq!(j["kind"], 2);
    assert_eq!(
        attr(&j, "gen_ai.operation.name").unwrap()["stringValue"],
        "chat"
    );
    assert_eq!(
        attr(&j, "gen_ai.provider.name").unwrap()["stringValue"],
        "mock"
    );
    assert_eq!(
        attr(&j, "gen_ai.request.model").unwrap()["stringValue"],
        "auto"
    );
    assert_eq!(
        attr(&j, "gen_ai.response.model").unwrap()["stringValue"],
        "gpt-4o-mini"
    );
    assert_eq!(
        attr(&j, "gen_ai.usage.input_tokens").unwrap()["intValue"],
        "12"
    );
    assert_eq!(
        attr(&j, "gen_ai.usage.output_tokens").unwrap()["intValue"],
        "8"
    );
    assert_eq!(
        attr(&j, "gen_ai.request.max_tokens").unwrap()["intValue"],
        "8"
    );
    assert_eq!(
        attr(&j, "gen_ai.request.temperature").unwrap()["doubleValue"],
        0.5
    );
    assert_eq!(attr(&j, "tierlm.route").unwrap()["stringValue"], "cloud");
    assert_eq!(
        attr(&j, "tierlm.tenant").unwrap()["stringValue"],
        "marketing"
    );
    assert_eq!(
        attr(&j, "http.response.status_code").unwrap()["intValue"],
        "200"
    );
    assert!(attr(&j, "error.type").is_none());
    assert_eq!(j["status"]["code"], 0);

    let mut failed = span();
    failed.status = 502;
    failed.ids.parent_span_id = None;
    let j = failed.to_json();
    assert_eq!(j["status"]["code"], 2);
    assert_eq!(attr(&j, "error.type").unwrap()["stringValue"], "502");
    assert!(j.get("parentSpanId").is_none());
}

#[test]
fn the_export_body_nests_resource_scope_and_spans() {
    let b = export_body("gw", &[span(), span()]);
    let rs = &b["resourceSpans"][0];
    assert_eq!(
        rs["resource"]["attributes"][0],
        json!({"key": "service.name", "value": {"stringValue": "gw"}})
    );
    assert_eq!(rs["scopeSpans"][0]["scope"]["name"], "tierlm");
    assert_eq!(rs["scopeSpans"][0]["spans"].as_array().unwrap().len(), 2);
}

#[test]
fn traceparent_is_continued_when_valid() {
    let h = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let ids = TraceIds::from_traceparent(Some(h));
    assert_eq!(ids.trace_id, 0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c);
    assert_eq!(ids.parent_span_id, Some(0xb7ad_6b71_6920_3331));
    assert_ne!(ids.span_id, 0);
    for bad in [
        "",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
    ] {
        assert_eq!(parse_traceparent(bad), None, "{bad}");
    }
    let fresh = TraceIds::from_traceparent(None);
    let other = TraceIds::from_traceparent(Some("garbage"));
    assert_eq!(fresh.parent_span_id, None);
    assert_ne!(fresh.trace_id, other.trace_id);
    assert_ne!(fresh.span_id, other.span_id);
}

#[test]
fn settings_validate_the_endpoint_and_headers() {
    let env = |k: &str| (k == "OTLP_TOKEN").then(|| "s3cret".to_string());
    assert_eq!(settings(UninitializedTelemetry::default(), &env), Ok(None));
    let t = UninitializedTelemetry {
        otlp_endpoint: Some("http://collector:4318/".into()),
        service_name: None,
        headers: Some(BTreeMap::from([(
            "authorization".to_string(),
            "env::OTLP_TOKEN".to_string(),
        )])),
    };
    let s = settings(t, &env).unwrap().unwrap();
    assert_eq!(s.traces_url, "http://collector:4318/v1/traces");
    assert_eq!(s.service_name, DEFAULT_SERVICE_NAME);
    assert_eq!(s.headers[0].1.expose(), "s3cret");
    assert!(
        !format!("{s:?}").contains("s3cret"),
        "header values are secrets"
    );
    let bad = |endpoint: &str, header: Option<&str>| {
        settings(
            UninitializedTelemetry {
                otlp_endpoint: Some(endpoint.into()),
                service_name: None,
                headers: header.map(|v| BTreeMap::from([("x-key".to_string(), v.to_string())])),
            },
            &env,
        )
        .unwrap_err()
    };
    assert!(bad("collector:4318", None).contains("otlp_endpoint"));
    assert!(bad("http://c:4318", Some("env::MISSING")).contains("MISSING"));
    let orphan = UninitializedTelemetry {
        service_name: Some("x".into()),
        ..Default::default()
    };
    assert!(settings(orphan, &env)
        .unwrap_err()
        .contains("otlp_endpoint"));
}

/// What a collector received: each request's `authorization` header and body.
type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// A collector on a free port that answers `status` and keeps every body.
async fn collector(status: u16) -> (String, Received) {
    use axum::routing::post;
    let seen: Received = Arc::default();
    let keep = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let keep = Arc::clone(&keep);
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let v: Value = serde_json::from_str(&body).unwrap();
                keep.lock().unwrap().push((auth, v));
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    crate::tasks::Tasks::new().spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn settings_for(url: &str) -> TelemetrySettings {
    TelemetrySettings {
        traces_url: format!("{url}/v1/traces"),
        service_name: "test".into(),
        headers: vec![("authorization".into(), Secret::new("Bearer t".into()))],
    }
}

#[tokio::test]
async fn the_exporter_batches_and_flushes_at_shutdown() {
    let (url, seen) = collector(200).await;
    let stats = Arc::new(ExportStats::default());
    let ex = Exporter::start(
        settings_for(&url),
        Arc::clone(&stats),
        &crate::tasks::Tasks::new(),
    )
    .unwrap();
    for _ in 0..3 {
        ex.submit(span());
    }
    ex.shutdown(Duration::from_secs(5)).await;
    let seen = seen.lock().unwrap();
    let spans: usize = seen
        .iter()
        .map(|(_, b)| {
            b["resourceSpans"][0]["scopeSpans"][0]["spans"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(spans, 3);
    assert_eq!(seen[0].0.as_deref(), Some("Bearer t"));
    assert_eq!(stats.exported.get(), 3);
    assert_eq!(stats.dropped.get(), 0);
}

#[tokio::test]
async fn refused_and_overflowing_spans_are_counted_as_dropped() {
    let (url, _) = collector(500).await;
    let stats = Arc::new(ExportStats::default());
    let ex = Exporter::start(
        settings_for(&url),
        Arc::clone(&stats),
        &crate::tasks::Tasks::new(),
    )
    .unwrap();
    // On this single-threaded runtime the export task cannot run during the loop: the
    // queue fills, and every span past its capacity is dropped at once and counted.
    for _ in 0..QUEUE_CAPACITY + 10 {
        ex.submit(span());
    }
    assert_eq!(stats.dropped.get(), 10);
    // The queued ones reach the collector, which refuses them: dropped too.
    ex.shutdown(Duration::from_secs(10)).await;
    assert_eq!(stats.dropped.get(), QUEUE_CAPACITY as u64 + 10);
    assert_eq!(stats.exported.get(), 0);
}
