"""The router (`model: "auto"`) end to end, with the official openai SDK.

A tierlm with SmolLM2 as the local model, MiniLM for the classifier and the mock cloud
as the cloud model. Four hand-written task profiles: `sentiment` (routine, labels,
cascade threshold 0 so the local answer is always trusted), `ticket` (routine, labels,
calibrated threshold 1.5 so the local answer is never trusted), `code` (complex) and
`secrets` (a rule refuses it). Then `tierlm eval` on a small hand-written workload.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import tomllib

import httpx
import openai
import pytest

from cloud_fixtures import local_and_mock, TIERLM_BIN, start_gateway, start_mock
from helpers import REPO_ROOT, assert_error

SENTIMENT = "Is this movie review positive or negative? Answer with one word.\n\nReview: {}"
TICKET = "Is this customer support ticket urgent or routine? Answer with one word.\n\nTicket: {}"
CODE = "Write a Python function that {}. Return only the code."

CONFIG = """
[embeddings]
name = "all-minilm-l6-v2"
path = "models/all-MiniLM-L6-v2"

[[cloud_models]]
name = "frontier"
targets = ["mock/gpt-4o"]

[router]
local_model = "smollm2-135m"
cloud_model = "frontier"
default_route = "cloud"

[router.thresholds]
ticket = 1.5

[[router.rules]]
profile = "secrets"
route = "refuse"

[[router.profiles]]
name = "sentiment"
class = "routine"
examples = [
  "Is this movie review positive or negative? Review: a wonderful, moving film",
  "Is this movie review positive or negative? Review: dull plot and wooden acting",
  "Movie review sentiment: the best film of the year, superb cast",
]
labels = ["positive", "negative"]
instructions = "Classify the sentiment of the movie review. Answer with the label only."
few_shot = [
  { input = "Is this movie review positive or negative? Answer with one word.\\n\\nReview: I loved every minute.", output = "positive" },
  { input = "Is this movie review positive or negative? Answer with one word.\\n\\nReview: A boring waste of time.", output = "negative" },
]
min_confidence = 0.0
max_tokens = 4

[[router.profiles]]
name = "ticket"
class = "routine"
examples = [
  "Is this customer support ticket urgent or routine? Ticket: the checkout page is down for all customers",
  "Is this customer support ticket urgent or routine? Ticket: please update my billing address",
]
labels = ["urgent", "routine"]
min_confidence = 0.5
max_tokens = 4

[[router.profiles]]
name = "code"
class = "complex"
examples = [
  "Write a Python function that parses a date string. Return only the code.",
  "Write a Python function that merges two sorted lists. Return only the code.",
  "Implement a JavaScript function that debounces calls",
]

[[router.profiles]]
name = "secrets"
class = "routine"
examples = ["Tell me the administrator password of the production database server"]
"""


@pytest.fixture(scope="module")
def gateway():
    mock = start_mock()
    try:
        gw, cfg = start_gateway(local_and_mock(mock.url, 2048) + CONFIG)
    except RuntimeError:
        mock.stop()
        raise
    yield gw.url
    gw.stop()
    mock.stop()
    os.unlink(cfg)


@pytest.fixture(scope="module")
def client(gateway):
    c = openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0, timeout=120)
    yield c
    c.close()


def ask(client, text, **kwargs):
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": text}], temperature=0, **kwargs)
    return raw, raw.parse()


def test_auto_is_listed_as_a_routed_model(client):
    cards = {m.id: m for m in client.models.list().data}
    assert cards["auto"].owned_by == "tierlm-router"


def test_routine_label_work_is_answered_locally_with_a_label(client):
    raw, c = ask(client, SENTIMENT.format("An absolute delight, I laughed and cried."))
    h = raw.headers
    assert (h["x-tierlm-route"], h["x-tierlm-reason"]) == ("local", "cascade_confident")
    assert (h["x-tierlm-profile"], h["x-tierlm-class"]) == ("sentiment", "routine")
    assert 0.0 <= float(h["x-tierlm-confidence"]) <= 1.0
    assert c.model == "smollm2-135m"
    assert c.choices[0].message.content in ("positive", "negative")
    # The cascade asks the engine for log-probabilities; the client did not.
    assert c.choices[0].logprobs is None


def test_an_unsure_local_answer_escalates_to_the_cloud(client):
    raw, c = ask(client, TICKET.format("Our whole team cannot log in since this morning."))
    h = raw.headers
    assert (h["x-tierlm-route"], h["x-tierlm-reason"]) == ("escalated", "cascade_low_confidence")
    assert h["x-tierlm-profile"] == "ticket"
    assert float(h["x-tierlm-confidence"]) < 1.5
    assert c.model == "frontier" or c.model.startswith("gpt-4o")
    assert float(h["x-tierlm-cost-usd"]) > 0
    assert c.choices[0].message.content


def test_complex_work_goes_to_the_cloud(client):
    raw, c = ask(client, CODE.format("returns the n-th Fibonacci number"))
    h = raw.headers
    assert (h["x-tierlm-route"], h["x-tierlm-reason"]) == ("cloud", "classifier_complex")
    assert (h["x-tierlm-profile"], h["x-tierlm-class"]) == ("code", "complex")
    assert h["x-tierlm-provider"] == "mock"
    assert c.usage.completion_tokens > 0


def test_the_hint_header_forces_a_route(client):
    raw, c = ask(client, CODE.format("reverses a string"), extra_headers={"x-tierlm-route": "local"})
    assert (raw.headers["x-tierlm-route"], raw.headers["x-tierlm-reason"]) == ("local", "hint_local")
    assert c.model == "smollm2-135m"
    raw, _ = ask(client, SENTIMENT.format("Great fun."), extra_headers={"x-tierlm-route": "cloud"})
    assert (raw.headers["x-tierlm-route"], raw.headers["x-tierlm-reason"]) == ("cloud", "hint_cloud")
    # The profile is still reported: it shapes the request whichever way it goes.
    assert raw.headers["x-tierlm-profile"] == "sentiment"


def test_a_bad_hint_is_a_clear_400(gateway):
    r = httpx.post(gateway + "/v1/chat/completions", headers={"x-tierlm-route": "moon"}, timeout=30,
                   json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    assert_error(r, 400, code="invalid_parameter", param="x-tierlm-route")


def test_a_policy_rule_refuses_with_403(client):
    with pytest.raises(openai.PermissionDeniedError) as e:
        ask(client, "Tell me the administrator password of the production database server")
    assert e.value.body["code"] == "refused_by_policy"
    assert "policy_rule" in e.value.body["message"]


def test_streaming_replays_the_checked_local_answer(client):
    stream = client.chat.completions.create(
        model="auto", temperature=0, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": SENTIMENT.format("Terrible. I walked out.")}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text in ("positive", "negative")
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= 1


def test_streaming_an_escalated_answer_streams_from_the_cloud(client):
    with client.chat.completions.with_streaming_response.create(
            model="auto", temperature=0, stream=True,
            messages=[{"role": "user", "content": TICKET.format("Refund request for order 1234.")}]) as resp:
        assert resp.headers["x-tierlm-route"] == "escalated"
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    assert text


def test_logprobs_are_returned_only_as_asked(client):
    _, c = ask(client, SENTIMENT.format("Charming and clever."), logprobs=True, top_logprobs=2)
    tokens = c.choices[0].logprobs.content
    assert tokens and all(len(t.top_logprobs) <= 2 for t in tokens)


def test_metrics_count_routes_and_decision_time(gateway, client):
    ask(client, SENTIMENT.format("Lovely."))
    text = httpx.get(gateway + "/metrics", timeout=10).text
    assert 'tierlm_routed_requests_total{route="local",reason="cascade_confident",profile="sentiment"}' in text
    assert "tierlm_router_decision_seconds_count" in text


WORKLOAD = [
    ("s1", "sentiment", "routine", SENTIMENT.format("A triumph from start to finish."), "positive"),
    ("s2", "sentiment", "routine", SENTIMENT.format("Two hours I will never get back."), "negative"),
    ("t1", "ticket", "routine", TICKET.format("Production is down for every customer!"), "urgent"),
    ("c1", "code", "complex", CODE.format("checks whether a number is prime"), None),
]


def test_tierlm_eval_reports_and_calibrates(gateway, tmp_path):
    lines = []
    for id_, task, cls, text, label in WORKLOAD:
        item = {"id": id_, "task": task, "class": cls, "messages": [{"role": "user", "content": text}],
                "max_tokens": 8}
        if label:
            labels = ["positive", "negative"] if task == "sentiment" else ["urgent", "routine"]
            item.update(metric="label", labels=labels, expected=label, reference=label)
        else:
            item["max_tokens"] = 64  # the mock cuts its answer at max_tokens words
            item.update(metric="rouge_l", expected=None,
                        reference="def is_prime(n): return n > 1 and all(n % d for d in range(2, n))")
        lines.append(json.dumps(item))
    workload = tmp_path / "workload.jsonl"
    workload.write_text("\n".join(lines) + "\n")
    config = tmp_path / "gateway.toml"
    config.write_text(local_and_mock("http://127.0.0.1:9", 2048) + CONFIG)
    snippet, plot, obs = tmp_path / "thresholds.toml", tmp_path / "curve.svg", tmp_path / "obs.jsonl"
    run = subprocess.run(
        [TIERLM_BIN, "eval", "--workload", str(workload), "--config", str(config), "--json",
         "--calibrate", "--snippet", str(snippet), "--plot", str(plot), "--save-observations", str(obs)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, TIERLM_LOG="warn"), stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    for key in ("local_share", "quality_vs_cloud", "cost_vs_cloud", "routing_accuracy"):
        assert 0.0 <= report[key] <= 1.0, (key, report)
    assert report["requests"] == 4 and report["errors"] == 0
    assert report["consistency_mismatches"] == 0
    # The code item goes to the cloud; the ticket escalates; so at most 2 of 4 are local.
    assert report["local_share"] <= 0.5
    assert report["per_task"]["code"]["local_share"] == 0.0
    assert report["quality_cloud"] == 1.0
    # The snippet is valid TOML the router accepts, and the plot is an SVG.
    thresholds = tomllib.loads(snippet.read_text())["router"]["thresholds"]
    assert set(thresholds) <= {"sentiment", "ticket"}
    assert plot.read_text().startswith("<svg")
    # Re-reporting from the saved observations gives the same figures without a replay.
    again = subprocess.run(
        [TIERLM_BIN, "eval", "--workload", str(workload), "--config", str(config), "--json",
         "--from-observations", str(obs)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["local_share"] == report["local_share"]
