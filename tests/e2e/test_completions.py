"""Legacy text completions endpoint."""

from __future__ import annotations

from helpers import SMOL


def test_completion(client):
    resp = client.completions.create(model=SMOL, prompt="The capital of France is", max_tokens=8)
    assert resp.object == "text_completion"
    assert resp.model == SMOL
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.text and choice.text.strip()
    assert choice.finish_reason in ("stop", "length")
    u = resp.usage
    assert u.prompt_tokens > 0 and 0 < u.completion_tokens <= 8
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens


def test_completion_streaming(client):
    chunks = list(client.completions.create(
        model=SMOL, prompt="The capital of France is", max_tokens=8, temperature=0, stream=True,
    ))
    assert chunks
    assert all(c.object == "text_completion" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text.strip()
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1 and finishes[0] in ("stop", "length"), finishes

    plain = client.completions.create(
        model=SMOL, prompt="The capital of France is", max_tokens=8, temperature=0,
    )
    assert text == plain.choices[0].text
