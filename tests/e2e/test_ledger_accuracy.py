"""Ledger exactness and budget concurrency, end to end.

- 1,000 mixed requests (OpenAI, Anthropic and Gemini wire formats, streamed and not,
  varied prompts and max_tokens, a flaky upstream that needs retries) through tierlm to
  tierlm-mockcloud: the ledger's tokens per model equal the mock's own accounting
  exactly, and every row's cost and counterfactual cost equal the configured prices
  times its tokens, to the pico-dollar.
- 200 parallel requests against a key whose budget covers 50: the overspend stays
  within one request's maximum cost."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import openai
import pytest

from cloud_fixtures import PROVIDERS, TIERLM_BIN, mock_stats, start_gateway, start_mock
from helpers import REPO_ROOT, ledger_committed

PICO = Decimal(10) ** 12
PRICES = {  # USD per million tokens: (input, output)
    "gpt-4o-mini": ("0.15", "0.60"),
    "claude-3-5-haiku": ("0.8", "4"),
    "gemini-2.0-flash": ("0.1", "0.4"),
    "house-model": ("0.075", "0.3"),
    "flaky-model": ("1.25", "10"),
    "gpt-4o": ("2.5", "10"),  # the baseline
}

CONFIG = """
[server]
host = "127.0.0.1"
port = 0

""" + PROVIDERS + """
[[providers]]
name = "flaky"
kind = "openai_compatible"
base_url = "{flaky}/v1"
max_retries = 4
retry_base_ms = 1
breaker_failures = 100000

[[cloud_models]]
name = "m-oai"
targets = ["oai/gpt-4o-mini"]

[[cloud_models]]
name = "m-anth"
targets = ["anth/claude-3-5-haiku"]

[[cloud_models]]
name = "m-gem"
targets = ["gem/gemini-2.0-flash"]

[[cloud_models]]
name = "m-compat"
targets = ["compat/house-model"]

[[cloud_models]]
name = "m-flaky"
targets = ["flaky/flaky-model"]

[ledger]
database_url = "sqlite://{db}"
baseline_model = "gpt-4o"
""" + "".join(f"""
[pricing."{m}"]
input_per_mtok = "{i}"
output_per_mtok = "{o}"
""" for m, (i, o) in PRICES.items())

MODELS = {"m-oai": "gpt-4o-mini", "m-anth": "claude-3-5-haiku", "m-gem": "gemini-2.0-flash",
          "m-compat": "house-model", "m-flaky": "flaky-model"}


def pico(price: str, tokens: int) -> int:
    exact = Decimal(price) * tokens * PICO / Decimal(10**6)
    assert exact == exact.to_integral_value(), "choose prices exact in pico-dollars"
    return int(exact)


def cost(model: str, prompt: int, completion: int) -> int:
    i, o = PRICES[model]
    return pico(i, prompt) + pico(o, completion)


@pytest.fixture(scope="module")
def gateway():
    ok = start_mock()
    flaky = start_mock("--error-rate", "0.3", "--error-statuses", "500,503", "--seed", "7")
    db = os.path.join(tempfile.mkdtemp(prefix="accuracy-"), "ledger.db")
    config = CONFIG.replace("{ok}", ok.url).replace("{flaky}", flaky.url).replace("{db}", db)
    try:
        gw, cfg = start_gateway(config)
    except RuntimeError:
        ok.stop()
        flaky.stop()
        raise
    yield {"url": gw.url, "db": db, "ok": ok, "flaky": flaky}
    gw.stop()
    ok.stop()
    flaky.stop()
    os.unlink(cfg)


def one(url: str, i: int) -> int:
    rnd = random.Random(i)
    model = rnd.choice(list(MODELS))
    words = " ".join(rnd.choice(["invoice", "ticket", "refund", "shipping", "order", "42", "naïve"])
                     for _ in range(rnd.randint(1, 60)))
    c = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=60)
    args = dict(model=model, max_tokens=rnd.randint(1, 40),
                messages=[{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": f"{i}: {words}"}])
    try:
        if rnd.random() < 0.4:
            list(c.chat.completions.create(**args, stream=True, stream_options={"include_usage": True}))
        else:
            c.chat.completions.create(**args)
        return 200
    except openai.APIStatusError as e:
        return e.status_code
    finally:
        c.close()


def test_a_thousand_mixed_requests_are_priced_exactly(gateway):
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda i: one(gateway["url"], i), range(1000)))
    assert statuses.count(200) >= 950, {s: statuses.count(s) for s in set(statuses)}

    con = sqlite3.connect(ledger_committed(gateway["db"]))
    rows = con.execute("SELECT served_model, prompt_tokens, completion_tokens, cost, "
                       "counterfactual_cost, status FROM requests").fetchall()
    con.close()
    assert len(rows) == 1000, "one row per request"

    # Tokens: exactly what the upstream says it served, model by model.
    mock = {**mock_stats(gateway["ok"])["by_model"], **mock_stats(gateway["flaky"])["by_model"]}
    for model in MODELS.values():
        mine = [r for r in rows if r[0] == model]
        assert mine, f"no rows for {model}"
        served = mock[model]
        assert sum(r[1] for r in mine) == served["prompt_tokens"], model
        assert sum(r[2] for r in mine) == served["completion_tokens"], model
    assert mock_stats(gateway["flaky"])["errors"] > 0, "the flaky upstream never failed"

    # Money: each row is its tokens at the configured prices, to the pico-dollar.
    for model, p, c, row_cost, cf, status in rows:
        if status == 200:
            assert row_cost == cost(model, p, c), (model, p, c, row_cost)
        assert cf == cost("gpt-4o", p, c), (model, p, c, cf)


def test_two_hundred_parallel_requests_overspend_by_at_most_one(gateway):
    # Keys are optional on this gateway; a key sent is still enforced.
    body = {"model": "m-oai", "max_tokens": 20,
            "messages": [{"role": "user", "content": "Summarise: the parcel arrived late."}]}
    probe = httpx.post(gateway["url"] + "/v1/chat/completions", json=body, timeout=60).json()
    one_cost = cost("gpt-4o-mini", probe["usage"]["prompt_tokens"], probe["usage"]["completion_tokens"])
    budget = 50 * one_cost
    made = subprocess.run([TIERLM_BIN, "keys", "create", "--database", f"sqlite://{gateway['db']}",
                           "--tenant", "tight", "--period", "total",
                           "--budget-usd", str(Decimal(budget) / PICO)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()

    def send(_):
        r = httpx.post(gateway["url"] + "/v1/chat/completions", json=body, timeout=60,
                       headers={"authorization": f"Bearer {key}"})
        return r.status_code, r.json()

    with ThreadPoolExecutor(200) as pool:
        results = list(pool.map(send, range(200)))
    served = sum(1 for s, _ in results if s == 200)
    refused = [b for s, b in results if s == 429]
    assert served + len(refused) == 200, {s for s, _ in results}
    assert all(b["error"]["code"] == "budget_exceeded" for b in refused)
    assert 1 <= served and refused

    con = sqlite3.connect(ledger_committed(gateway["db"]))
    (key_id,) = con.execute("SELECT key_id FROM api_keys ORDER BY created_ms DESC LIMIT 1").fetchone()
    (spent,) = con.execute("SELECT SUM(cost) FROM requests WHERE key_id = ?", (key_id,)).fetchone()
    con.close()
    # The most one request could cost: every prompt byte a token, all max_tokens used.
    prompt_bytes = sum(len(m["content"].encode()) for m in body["messages"]) + 16
    max_one = cost("gpt-4o-mini", prompt_bytes, body["max_tokens"])
    print(f"budget {budget} pico for 50 requests: served {served}, spent {spent}, "
          f"overspend {max(0, spent - budget)} (bound {max_one})")
    assert spent - budget <= max_one
