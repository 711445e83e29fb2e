"""The ledger end to end: one row per request — local, cloud, streamed, failed — priced
exactly, with the all-frontier counterfactual; `/v1/usage` and `tierlm report` agree
with what the answers said; no message content is stored."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import tempfile
from decimal import Decimal

import httpx
import openai
import pytest

from cloud_fixtures import local_and_mock, TIERLM_BIN, start_gateway, start_mock
from helpers import REPO_ROOT, assert_error, ledger_committed

CONFIG = """
[[cloud_models]]
name = "frontier"
targets = ["mock/gpt-4o-mini"]

[ledger]
database_url = "sqlite://{db}"
baseline_model = "gpt-4o"
local_cost_per_mtok = "0.05"
"""

SECRET_PROMPT = "ledger-canary-7731: say hello"


@pytest.fixture(scope="module")
def env():
    tmp = tempfile.mkdtemp(prefix="ledger-")
    db = os.path.join(tmp, "ledger.db")
    mock = start_mock()
    try:
        gw, cfg = start_gateway(local_and_mock(mock.url) + CONFIG.replace("{db}", db),
                                "--no-embeddings")
    except RuntimeError:
        mock.stop()
        raise
    yield {"url": gw.url, "db": db}
    gw.stop()
    mock.stop()
    os.unlink(cfg)


@pytest.fixture(scope="module")
def traffic(env):
    """Send a known mix; return what the answers said."""
    c = openai.OpenAI(base_url=env["url"] + "/v1", api_key="unused", max_retries=0, timeout=120)
    seen = {"local": 0, "cloud": 0, "cloud_cost": Decimal(0), "tokens": []}
    for model in ["smollm2-135m", "smollm2-135m", "frontier", "frontier"]:
        raw = c.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": SECRET_PROMPT}], max_tokens=8)
        r = raw.parse()
        route = raw.headers["x-tierlm-route"]
        seen[route] += 1
        seen["tokens"].append((r.usage.prompt_tokens, r.usage.completion_tokens))
        if route == "cloud":
            seen["cloud_cost"] += Decimal(raw.headers["x-tierlm-cost-usd"])
    for model in ["smollm2-135m", "frontier"]:
        chunks = list(c.chat.completions.create(
            model=model, messages=[{"role": "user", "content": SECRET_PROMPT}], max_tokens=8,
            stream=True, stream_options={"include_usage": True}))
        u = chunks[-1].usage
        seen["tokens"].append((u.prompt_tokens, u.completion_tokens))
        seen["local" if model.startswith("smollm") else "cloud"] += 1
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    c.close()
    return seen


def test_every_request_has_one_row_with_exact_tokens(env, traffic):
    rows = sqlite3.connect(ledger_committed(env["db"])).execute(
        "SELECT route, model, prompt_tokens, completion_tokens, status FROM requests ORDER BY time_ms"
    ).fetchall()
    assert len(rows) == 7, rows
    ok = [(p, c) for (route, _, p, c, status) in rows if status == 200]
    assert sorted(ok) == sorted(traffic["tokens"])
    assert [r for r in rows if r[4] == 404][0][0] == "error"


def test_usage_totals_match_the_answers(env, traffic):
    u = httpx.get(env["url"] + "/v1/usage", timeout=10).json()
    t = u["totals"]
    assert t["requests"] == 7
    assert t["local_requests"] == traffic["local"] == 3
    assert t["cloud_requests"] == traffic["cloud"] == 3
    # Cloud costs: the non-streamed answers' x-tierlm-cost-usd plus the streamed one; local
    # tokens at $0.05 per million.
    assert Decimal(t["cost_usd"]) >= traffic["cloud_cost"] > 0
    assert Decimal(t["counterfactual_cost_usd"]) > Decimal(t["cost_usd"])
    assert Decimal(t["savings_usd"]) == Decimal(t["counterfactual_cost_usd"]) - Decimal(t["cost_usd"])
    routes = {g["key"]: g for g in httpx.get(env["url"] + "/v1/usage?group_by=route", timeout=10).json()["groups"]}
    assert set(routes) == {"local", "cloud", "error"}
    local_tokens = sum(p + c for p, c in traffic["tokens"][:2]) + sum(traffic["tokens"][4])
    assert Decimal(routes["local"]["cost_usd"]) == Decimal(local_tokens) * Decimal("0.05") / 10**6


def test_usage_rejects_bad_parameters(env):
    assert_error(httpx.get(env["url"] + "/v1/usage?group_by=colour", timeout=10), 400,
                 code="invalid_parameter", param="group_by")
    assert_error(httpx.get(env["url"] + "/v1/usage?from=yesterday", timeout=10), 400,
                 code="invalid_parameter", param="from")
    empty = httpx.get(env["url"] + "/v1/usage?from=2000-01-01&to=2000-02-01", timeout=10).json()
    assert empty["totals"]["requests"] == 0


def test_report_agrees_and_no_content_is_stored(env, traffic):
    run = subprocess.run([TIERLM_BIN, "report", "--database", "sqlite://" + env["db"], "--format", "json"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    rep = json.loads(run.stdout)
    api = httpx.get(env["url"] + "/v1/usage", timeout=10).json()["totals"]
    assert rep["totals"]["cost_usd"] == api["cost_usd"]
    assert rep["totals"]["requests"] == 7
    table = subprocess.run([TIERLM_BIN, "report", "--database", "sqlite://" + env["db"]],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert table.returncode == 0 and "route=local" in table.stdout, table.stdout + table.stderr
    for path in (env["db"], env["db"] + "-wal"):
        if os.path.exists(path):
            assert b"ledger-canary-7731" not in open(path, "rb").read()
