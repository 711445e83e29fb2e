"""Telemetry end to end: the Prometheus cost metrics agree with `GET /v1/usage` and keep
their labels bounded, streamed ledger rows carry a time to first token, and every request
becomes one OTLP/HTTP JSON span (GenAI attributes, continued `traceparent`, no message
content) posted to a collector."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import openai
import pytest

from cloud_fixtures import local_and_mock, start_gateway, start_mock
from helpers import ledger_committed

ADMIN = "admin-secret-telemetry-0077"
OTLP_TOKEN = "otlp-token-e2e-5150"
CANARY = "telemetry-canary-9413"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"

CONFIG = """
[[cloud_models]]
name = "frontier"
targets = ["mock/gpt-4o-mini"]

[ledger]
database_url = "sqlite://{db}"
baseline_model = "gpt-4o"
local_cost_per_mtok = "0.05"

[auth]
require_keys = true
admin_key = "env::E2E_ADMIN_KEY"

[metrics]
max_tenants = 1

[telemetry]
otlp_endpoint = "{otlp}"
service_name = "tierlm-e2e"
headers = { "x-otlp-token" = "env::E2E_OTLP_TOKEN" }
"""


class Collector:
    """A tiny OTLP/HTTP collector: keeps every POST's path, headers and JSON body."""

    def __init__(self):
        self.posts: list[dict] = []
        lock = threading.Lock()
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with lock:
                    posts.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                  "raw": body, "json": json.loads(body)})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[dict]:
        return [s for p in list(self.posts)
                for rs in p["json"]["resourceSpans"]
                for ss in rs["scopeSpans"]
                for s in ss["spans"]]

    def stop(self):
        self.server.shutdown()


def attrs(span: dict) -> dict:
    out = {}
    for a in span["attributes"]:
        (kind, value), = a["value"].items()
        out[a["key"]] = int(value) if kind == "intValue" else value
    return out


@pytest.fixture(scope="module")
def env():
    os.environ["E2E_ADMIN_KEY"] = ADMIN
    os.environ["E2E_OTLP_TOKEN"] = OTLP_TOKEN
    db = os.path.join(tempfile.mkdtemp(prefix="telemetry-"), "ledger.db")
    collector = Collector()
    mock = start_mock()
    try:
        config = local_and_mock(mock.url) + CONFIG.replace("{db}", db).replace("{otlp}", collector.url)
        gw, cfg = start_gateway(config, "--no-embeddings")
    except RuntimeError:
        mock.stop()
        collector.stop()
        raise
    keys = {}
    for tenant in ["alpha", "beta"]:
        r = httpx.post(gw.url + "/admin/keys", json={"tenant": tenant}, timeout=30,
                       headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 201, r.text
        keys[tenant] = r.json()["key"]
    yield {"url": gw.url, "db": db, "keys": keys, "collector": collector, "gw": gw}
    gw.stop()
    mock.stop()
    collector.stop()
    os.unlink(cfg)


def client(env, tenant):
    return openai.OpenAI(base_url=env["url"] + "/v1", api_key=env["keys"][tenant],
                         max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def traffic(env):
    """A known mix, each request named by its x-request-id."""
    a, b = client(env, "alpha"), client(env, "beta")
    msgs = [{"role": "user", "content": CANARY + ": say hello"}]
    sent = {}

    def ask(c, rid, model, stream=False, **extra):
        headers = {"x-request-id": rid, **extra.pop("headers", {})}
        if stream:
            chunks = list(c.chat.completions.create(
                model=model, messages=msgs, max_tokens=8, stream=True,
                stream_options={"include_usage": True}, extra_headers=headers, **extra))
            sent[rid] = chunks[-1].usage
        else:
            sent[rid] = c.chat.completions.create(
                model=model, messages=msgs, max_tokens=8, extra_headers=headers, **extra).usage

    ask(a, "tel-local", "smollm2-135m", temperature=0.5)
    ask(a, "tel-local-stream", "smollm2-135m", stream=True)
    ask(a, "tel-cloud", "frontier",
        headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    ask(a, "tel-cloud-stream", "frontier", stream=True)
    ask(b, "tel-beta-local", "smollm2-135m")
    ask(b, "tel-beta-cloud", "frontier")
    with pytest.raises(openai.NotFoundError):
        a.chat.completions.create(model="no-such-model-xyz", messages=msgs,
                                  extra_headers={"x-request-id": "tel-404"})
    a.close()
    b.close()
    return sent


def scrape(url: str) -> list[tuple[str, dict, float]]:
    text = httpx.get(url + "/metrics", timeout=10).text
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and not line.startswith("#"):
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def total(samples, name, **match) -> float:
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == want for k, want in match.items()))


def test_cost_metrics_match_the_usage_totals(env, traffic):
    usage = httpx.get(env["url"] + "/v1/usage", timeout=10,
                      headers={"authorization": f"Bearer {env['keys']['alpha']}"}).json()["totals"]
    assert usage["requests"] == 7
    # A stream's row is committed just after its last event: give the last one a moment.
    deadline = time.monotonic() + 5
    while total(m := scrape(env["url"]), "tierlm_ledger_requests_total") < 7:
        assert time.monotonic() < deadline, m
        time.sleep(0.05)
    assert total(m, "tierlm_ledger_requests_total") == usage["requests"]
    assert total(m, "tierlm_ledger_tokens_total", kind="prompt") == usage["prompt_tokens"]
    assert total(m, "tierlm_ledger_tokens_total", kind="completion") == usage["completion_tokens"]
    for metric, key in [("tierlm_cost_usd_total", "cost_usd"),
                        ("tierlm_counterfactual_cost_usd_total", "counterfactual_cost_usd"),
                        ("tierlm_savings_usd_total", "savings_usd")]:
        assert abs(Decimal(str(total(m, metric))) - Decimal(usage[key])) < Decimal("1e-12"), metric
    assert Decimal(usage["savings_usd"]) > 0
    assert total(m, "tierlm_ledger_requests_total", route="cloud") == usage["cloud_requests"] == 3
    assert total(m, "tierlm_ledger_requests_total", route="local") == usage["local_requests"] == 3
    assert total(m, "tierlm_ledger_request_duration_seconds_count") == 7
    # Every row's write on the request path is timed (the row-queue append and its
    # disk sync), and each took well under a second.
    writes = total(m, "tierlm_ledger_write_seconds_count")
    assert writes == 7
    assert total(m, "tierlm_ledger_write_seconds_bucket", le="1") == writes
    assert total(m, "tierlm_ledger_write_seconds_sum") > 0


def test_cost_metric_labels_are_bounded(env, traffic):
    m = scrape(env["url"])
    series = [l for n, l, _ in m if n == "tierlm_ledger_requests_total"]
    # max_tenants = 1: the first tenant keeps its label, the second is `other`.
    assert {l["tenant"] for l in series} == {"alpha", "other"}
    # Unknown model names never become labels.
    assert {l["model"] for l in series} == {"smollm2-135m", "frontier", "other"}
    assert total(m, "tierlm_ledger_requests_total", model="other", route="error") == 1
    assert total(m, "tierlm_ledger_requests_total", tenant="other") == 2


def test_streamed_rows_have_a_time_to_first_token(env, traffic):
    rows = {r[0]: r[1:] for r in sqlite3.connect(ledger_committed(env["db"])).execute(
        "SELECT request_id, ttft_ms, latency_ms, status FROM requests").fetchall()}
    for rid in ["tel-local-stream", "tel-cloud-stream"]:
        ttft, latency, status = rows[rid]
        assert status == 200
        assert ttft is not None and 0 <= ttft <= latency, (rid, ttft, latency)
    for rid in ["tel-local", "tel-cloud", "tel-404"]:
        assert rows[rid][0] is None, (rid, rows[rid])


def wait_for_spans(collector, n, timeout=10):
    deadline = time.monotonic() + timeout
    while len(collector.spans()) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return collector.spans()


def test_every_request_is_one_otlp_span(env, traffic):
    col = env["collector"]
    spans = wait_for_spans(col, 7)
    by_id = {attrs(s).get("tierlm.request_id"): s for s in spans}
    assert set(by_id) >= {"tel-local", "tel-local-stream", "tel-cloud", "tel-cloud-stream",
                          "tel-beta-local", "tel-beta-cloud", "tel-404"}, by_id.keys()
    for p in col.posts:
        assert p["path"] == "/v1/traces"
        assert p["headers"]["content-type"] == "application/json"
        assert p["headers"]["x-otlp-token"] == OTLP_TOKEN
        resource = {a["key"]: a["value"]["stringValue"]
                    for a in p["json"]["resourceSpans"][0]["resource"]["attributes"]}
        assert resource["service.name"] == "tierlm-e2e"
        assert CANARY.encode() not in p["raw"], "spans must never carry message content"

    cloud = by_id["tel-cloud"]
    a = attrs(cloud)
    assert cloud["name"] == "chat frontier"
    assert cloud["traceId"] == TRACE_ID and cloud["parentSpanId"] == PARENT_ID
    assert re.fullmatch(r"[0-9a-f]{16}", cloud["spanId"]) and cloud["spanId"] != PARENT_ID
    assert int(cloud["endTimeUnixNano"]) >= int(cloud["startTimeUnixNano"]) > 1.7e18
    usage = traffic["tel-cloud"]
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "mock"
    assert a["gen_ai.request.model"] == "frontier"
    assert a["gen_ai.response.model"] == "gpt-4o-mini"
    assert a["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert a["gen_ai.request.max_tokens"] == 8
    assert a["tierlm.route"] == "cloud"
    assert a["tierlm.tenant"] == "alpha"
    assert a["tierlm.cost_usd"] > 0
    assert a["http.response.status_code"] == 200

    local = attrs(by_id["tel-local"])
    assert local["gen_ai.provider.name"] == "tierlm.local"
    assert local["gen_ai.request.model"] == "smollm2-135m"
    assert local["gen_ai.request.temperature"] == 0.5
    assert local["tierlm.route"] == "local"
    assert local["gen_ai.usage.output_tokens"] == traffic["tel-local"].completion_tokens
    assert "parentSpanId" not in by_id["tel-local"]
    assert by_id["tel-local"]["traceId"] != TRACE_ID

    stream = attrs(by_id["tel-cloud-stream"])
    assert stream["gen_ai.usage.input_tokens"] == traffic["tel-cloud-stream"].prompt_tokens
    assert stream["tierlm.ttft_ms"] >= 0
    assert attrs(by_id["tel-beta-cloud"])["tierlm.tenant"] == "beta"

    failed = attrs(by_id["tel-404"])
    assert failed["http.response.status_code"] == 404 and failed["error.type"] == "404"
    assert failed["tierlm.route"] == "error"

    m = scrape(env["url"])
    assert total(m, "tierlm_otlp_spans_dropped_total") == 0
    assert total(m, "tierlm_otlp_spans_exported_total") >= 7
