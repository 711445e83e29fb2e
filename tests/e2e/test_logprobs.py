"""Token log-probabilities."""

from __future__ import annotations

import math

from helpers import SMOL, user

EPS = 1e-4


def test_logprobs(client):
    resp = client.chat.completions.create(
        model=SMOL,
        messages=user("Write a long story about a dragon."),
        max_tokens=8,
        temperature=0,
        logprobs=True,
        top_logprobs=3,
    )
    choice = resp.choices[0]
    entries = choice.logprobs.content
    n = resp.usage.completion_tokens
    if choice.finish_reason == "length":
        assert len(entries) == n
    else:  # an end-of-generation token may or may not be reported
        assert len(entries) in (n, n - 1), (len(entries), n)
    assert entries
    for e in entries:
        assert isinstance(e.token, str)
        assert e.logprob <= 1e-6, e
        top = e.top_logprobs
        assert len(top) == 3, top
        values = [t.logprob for t in top]
        assert values == sorted(values, reverse=True), values
        assert all(v <= 1e-6 for v in values), values
        assert sum(math.exp(v) for v in values) <= 1 + EPS, values
        # Greedy decoding picks the most likely token.
        assert abs(e.logprob - values[0]) <= EPS, (e.logprob, values)
        assert top[0].token == e.token or abs(top[0].logprob - top[1].logprob) <= EPS, e
