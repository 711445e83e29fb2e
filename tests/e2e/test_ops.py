"""Operational endpoints and robustness: health, readiness, metrics, client disconnects."""

from __future__ import annotations

import contextlib
import re
import time

import httpx

from helpers import EMBED, SMOL, user

METRIC_LINE = re.compile(
    r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? ([-+]?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$"
)
REQUIRED_METRICS = [
    "tierlm_requests_total",
    "tierlm_prompt_tokens_total",
    "tierlm_completion_tokens_total",
    "tierlm_time_to_first_token_seconds_bucket",
    "tierlm_inter_token_latency_seconds_bucket",
    "tierlm_queue_depth",
    "tierlm_batch_size_bucket",
]


def test_health(http):
    assert http.get("/health").status_code == 200


def test_ready(http):
    assert http.get("/ready").status_code == 200


def metric_total(text: str, name: str) -> float:
    """Sum of all series of one metric (any labels)."""
    pattern = re.compile(rf"^{name}(?:\{{.*\}})?\s+(\S+)(?:\s+-?\d+)?$")
    total = 0.0
    for line in text.splitlines():
        m = pattern.match(line)
        if m:
            total += float(m.group(1))
    return total


def test_metrics(client, http):
    # Make sure there is something to count: a streamed chat (time to first token,
    # inter-token latency) and an embedding.
    list(client.chat.completions.create(
        model=SMOL, messages=user("Count to five."), max_tokens=8, temperature=0, stream=True,
    ))
    client.embeddings.create(model=EMBED, input="metrics warm-up")

    r = http.get("/metrics")
    assert r.status_code == 200
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    text = r.text
    for name in REQUIRED_METRICS:
        assert re.search(rf"^{name}(\{{| )", text, re.M), f"{name} missing from /metrics"
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        assert METRIC_LINE.match(line), f"not Prometheus text format: {line!r}"
    assert metric_total(text, "tierlm_requests_total") >= 2
    assert metric_total(text, "tierlm_completion_tokens_total") > 0
    assert metric_total(text, "tierlm_prompt_tokens_total") > 0


def test_client_disconnect_frees_the_engine(client, base_url):
    """Open as many long streams as the model has parallel slots, read two chunks of each,
    hang up. If the server kept generating for them (500 tokens each, ~15 s on two cores),
    the next request would wait behind them."""
    slots = 4  # parallel = 4 for smollm2-135m in tierlm-e2e.toml
    body = {
        "model": SMOL, "messages": user("Tell me a very long story about a lighthouse keeper."),
        "max_tokens": 500, "temperature": 0.7, "seed": 3, "stream": True,
    }
    with contextlib.ExitStack() as stack:
        for _ in range(slots):
            http = stack.enter_context(httpx.Client(base_url=base_url, timeout=120))
            resp = stack.enter_context(http.stream("POST", "/v1/chat/completions", json=body))
            assert resp.status_code == 200
            assert resp.headers.get("content-type", "").startswith("text/event-stream")
            seen = 0
            for line in resp.iter_lines():
                if line.startswith("data:"):
                    seen += 1
                    if seen == 2:
                        break
            assert seen == 2
    # All streams are closed now.
    start = time.monotonic()
    resp = client.chat.completions.create(
        model=SMOL, messages=user("Say hi."), max_tokens=8, temperature=0, timeout=60,
    )
    elapsed = time.monotonic() - start
    assert resp.choices[0].message.content is not None
    assert elapsed < 8, f"request after disconnects took {elapsed:.1f} s; abandoned streams still running?"
