"""Local tiers on the embedded defaults (what `scripts/serve` runs): `auto` climbs
SmolLM2 then Qwen2.5-Coder-0.5B with no cloud and no key, and says so in its headers;
and the 0.5B model is first-class: JSON-schema output, required tool calls,
log-probabilities and the prefix cache work on it as on SmolLM2.

The 0.5B model is the biggest model the test suite runs, so every request here keeps
`max_tokens` small.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile

import httpx
import pytest

from cloud_fixtures import start_gateway
from helpers import REPO_ROOT, ledger_committed

QWEN = "qwen2.5-coder-0.5b"


@pytest.fixture(scope="module")
def defaults():
    """A gateway on the embedded defaults (a config file that names no models)."""
    if not os.path.isfile(os.path.join(REPO_ROOT, "models", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")):
        pytest.fail("models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf is missing: run scripts/fetch-models")
    db = os.path.join(tempfile.mkdtemp(prefix="tiers-ledger-"), "tierlm.db")
    gw, cfg = start_gateway(f'[ledger]\ndatabase_url = "sqlite://{db}"\n', "--context-size", "1024", "--parallel", "2")
    gw.db = db
    yield gw
    gw.stop()
    os.unlink(cfg)


def chat(url: str, body: dict) -> httpx.Response:
    r = httpx.post(url + "/v1/chat/completions", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r


def test_the_defaults_serve_two_tiers_and_a_routed_model(defaults):
    ids = {m["id"] for m in httpx.get(defaults.url + "/v1/models", timeout=10).json()["data"]}
    assert {"smollm2-135m", QWEN, "auto"} <= ids, ids


def test_auto_climbs_the_local_tiers_cheapest_first(defaults):
    r = chat(defaults.url, {"model": "auto", "max_tokens": 8, "temperature": 0, "messages": [
        {"role": "user", "content": "Classify this SMS as spam or ham: 'Win a free cruise!!! Reply now'"}]})
    h = r.headers
    assert h["x-tierlm-route"] == "local"
    assert h["x-tierlm-reason"] in {"cascade_confident", "tiers_exhausted"}, h["x-tierlm-reason"]
    tiers = [t.split("=") for t in h["x-tierlm-tiers"].split(", ")]
    assert tiers[0][0] == "smollm2-135m"
    assert all(len(t) == 2 and 0.0 <= float(t[1]) <= 1.0 for t in tiers), tiers
    # A second tier is asked only when the first was not sure enough.
    if len(tiers) == 2:
        assert tiers[1][0] == QWEN and float(tiers[0][1]) < 0.6
    # The answer is one tier's: the model header and body say which.
    assert h["x-tierlm-model"] == r.json()["model"] and h["x-tierlm-model"] in {t[0] for t in tiers}
    assert r.json()["choices"][0]["message"]["content"]
    # The ledger row keeps the same tiers, the one that answered starred.
    rid = h["x-request-id"]
    rows = sqlite3.connect(ledger_committed(defaults.db)).execute(
        "SELECT tiers, served_model FROM requests WHERE request_id = ?", (rid,)).fetchall()
    assert len(rows) == 1, rows
    ledger_tiers, served = rows[0]
    assert ledger_tiers.replace("*", "") == h["x-tierlm-tiers"].replace(", ", ",")
    assert f"{served}=" in ledger_tiers and ledger_tiers.count("*") == 1
    assert ledger_tiers.split(served + "=")[1].split(",")[0].endswith("*")


def test_json_schema_output_parses_on_the_second_tier(defaults):
    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": ["spam", "ham"]}},
              "required": ["label"], "additionalProperties": False}
    r = chat(defaults.url, {"model": QWEN, "max_tokens": 16, "temperature": 0,
                        "response_format": {"type": "json_schema", "json_schema": {"name": "v", "schema": schema}},
                        "messages": [{"role": "user", "content": "Is 'WIN CASH NOW' spam or ham?"}]})
    assert json.loads(r.json()["choices"][0]["message"]["content"])["label"] in {"spam", "ham"}


def test_a_required_tool_call_has_the_function_s_arguments(defaults):
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    r = chat(defaults.url, {"model": QWEN, "max_tokens": 40, "temperature": 0, "tools": [tool],
                        "tool_choice": "required",
                        "messages": [{"role": "user", "content": "What is the weather in Oslo?"}]})
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]["function"]
    assert call["name"] == "get_weather"
    assert isinstance(json.loads(call["arguments"])["city"], str)


def test_logprobs_and_the_prefix_cache(defaults):
    system = "You are a support assistant for ACME. " * 20
    before = _prefix_hits(defaults.url)
    for question in ["Where is my order?", "How do I reset my password?"]:
        r = chat(defaults.url, {"model": QWEN, "max_tokens": 3, "temperature": 0, "logprobs": True, "top_logprobs": 3,
                            "messages": [{"role": "system", "content": system},
                                         {"role": "user", "content": question}]})
        tokens = r.json()["choices"][0]["logprobs"]["content"]
        assert tokens and all(t["logprob"] <= 0 and len(t["top_logprobs"]) == 3 for t in tokens)
    # The second request reused the first one's cached system prompt.
    assert _prefix_hits(defaults.url) - before >= 100


def _prefix_hits(url: str) -> float:
    for line in httpx.get(url + "/metrics", timeout=30).text.splitlines():
        if line.startswith("tierlm_prefix_cache_hit_tokens_total{") and f'model="{QWEN}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_hint_can_name_one_local_tier(defaults):
    r = httpx.post(defaults.url + "/v1/chat/completions", timeout=120,
                   headers={"x-tierlm-route": f"local:{QWEN}"},
                   json={"model": "auto", "max_tokens": 4, "temperature": 0,
                         "messages": [{"role": "user", "content": "Say hello"}]})
    assert r.status_code == 200, r.text
    assert r.headers["x-tierlm-reason"] == "hint_local"
    assert r.headers["x-tierlm-tiers"].split("=")[0] == QWEN
    assert r.headers["x-tierlm-model"] == QWEN
    # A hint that names no tier is refused by name.
    bad = httpx.post(defaults.url + "/v1/chat/completions", timeout=30,
                     headers={"x-tierlm-route": "local:"},
                     json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    assert bad.status_code == 400 and "x-tierlm-route" in bad.text


def test_a_deterministic_request_gives_the_same_bytes_under_load(defaults):
    """`deterministic: true` (a tierlm extension; the SDK's extra_body) runs alone."""
    ask = {"model": QWEN, "max_tokens": 12, "temperature": 0, "deterministic": True,
           "messages": [{"role": "user", "content": "Describe the sea in one sentence."}]}
    alone = chat(defaults.url, ask).json()["choices"][0]["message"]["content"]

    async def together():
        import asyncio
        async with httpx.AsyncClient(timeout=120) as c:
            noise = {"model": QWEN, "max_tokens": 12, "temperature": 0,
                     "messages": [{"role": "user", "content": "Name three colours."}]}
            rs = await asyncio.gather(c.post(defaults.url + "/v1/chat/completions", json=noise),
                                      c.post(defaults.url + "/v1/chat/completions", json=ask),
                                      c.post(defaults.url + "/v1/chat/completions", json=noise))
            return [r.json() for r in rs]

    import asyncio
    answers = asyncio.run(together())
    assert answers[1]["choices"][0]["message"]["content"] == alone
