"""Chat completions: plain, streaming, determinism, n, stop, seed."""

from __future__ import annotations

import re

import pytest

from helpers import CHAT_MODELS, SHORT, SMOL, user


def check_usage(usage, max_tokens: int | None = None):
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    if max_tokens is not None:
        assert usage.completion_tokens <= max_tokens


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_chat_non_streaming(client, model):
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in one short sentence."},
        ],
        max_tokens=SHORT,
        temperature=0,
    )
    assert raw.headers.get("x-request-id"), "response lacks an x-request-id header"
    resp = raw.parse()
    assert resp.object == "chat.completion"
    assert resp.id.startswith("chatcmpl-")
    assert resp.model == model
    assert isinstance(resp.created, int) and resp.created > 1_600_000_000
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content and choice.message.content.strip()
    assert not choice.message.tool_calls
    assert choice.finish_reason in ("stop", "length")
    check_usage(resp.usage, SHORT)
    if choice.finish_reason == "length":
        assert resp.usage.completion_tokens == SHORT


def test_chat_streaming_matches_non_streaming(client, smol_greedy):
    params, plain = smol_greedy
    stream = client.chat.completions.create(
        **params, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks, "no chunks"

    ids = {c.id for c in chunks}
    assert len(ids) == 1 and next(iter(ids)).startswith("chatcmpl-"), ids
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert all(c.model == SMOL for c in chunks)

    *content_chunks, last = chunks
    # The final chunk carries usage and no choices; the others carry no usage.
    assert last.choices == [], f"final chunk should have empty choices: {last}"
    check_usage(last.usage, params["max_tokens"])
    assert all(c.usage is None for c in content_chunks)

    text = "".join(c.choices[0].delta.content or "" for c in content_chunks if c.choices)
    assert text.strip(), "streamed text is empty"
    finishes = [c.choices[0].finish_reason for c in content_chunks
                if c.choices and c.choices[0].finish_reason is not None]
    assert len(finishes) == 1, f"expected exactly one finish_reason, got {finishes}"
    assert finishes[0] in ("stop", "length")
    roles = [c.choices[0].delta.role for c in content_chunks if c.choices and c.choices[0].delta.role]
    assert roles and roles[0] == "assistant"

    # Same seed, temperature 0: streaming and non-streaming must agree exactly.
    assert text == plain.choices[0].message.content
    assert finishes[0] == plain.choices[0].finish_reason
    assert last.usage.completion_tokens == plain.usage.completion_tokens
    assert last.usage.prompt_tokens == plain.usage.prompt_tokens


def test_greedy_is_deterministic(client, smol_greedy):
    params, first = smol_greedy
    again = client.chat.completions.create(**params)
    assert again.choices[0].message.content == first.choices[0].message.content
    assert again.usage.completion_tokens == first.usage.completion_tokens


def test_same_seed_same_sample(client):
    params = dict(model=SMOL, messages=user("Invent a name for a cat."),
                  max_tokens=SHORT, temperature=0.8, seed=1234)
    a = client.chat.completions.create(**params)
    b = client.chat.completions.create(**params)
    assert a.choices[0].message.content == b.choices[0].message.content


def test_n_choices(client):
    resp = client.chat.completions.create(
        model=SMOL, messages=user("Name a color."), max_tokens=SHORT,
        temperature=1.0, seed=42, n=2,
    )
    assert sorted(c.index for c in resp.choices) == [0, 1]
    for c in resp.choices:
        assert c.finish_reason in ("stop", "length")
        assert c.message.role == "assistant"
    check_usage(resp.usage, 2 * SHORT)


def test_stop_newline(client):
    resp = client.chat.completions.create(
        model=SMOL, messages=user("List three fruits, one per line."),
        max_tokens=32, temperature=0, stop=["\n"],
    )
    content = resp.choices[0].message.content or ""
    assert "\n" not in content
    assert resp.choices[0].finish_reason in ("stop", "length")


def test_stop_string_truncates(client, smol_greedy):
    params, plain = smol_greedy
    full = plain.choices[0].message.content
    # A word well inside the greedy output, at its first occurrence.
    stop_word, cut = None, None
    for m in re.finditer(r"[A-Za-z]{4,}", full):
        if m.start() >= 8 and full.find(m.group()) == m.start():
            stop_word, cut = m.group(), m.start()
            break
    if stop_word is None:
        pytest.skip(f"greedy output has no usable stop word: {full!r}")
    resp = client.chat.completions.create(**params, stop=[stop_word])
    content = resp.choices[0].message.content or ""
    assert stop_word not in content
    assert resp.choices[0].finish_reason == "stop"
    assert content.rstrip() == full[:cut].rstrip(), (stop_word, full, content)


def test_every_required_field_of_openai_s_description_is_present(http):
    """`refusal` and `annotations` on the message and `logprobs` on the choice are required
    (nullable) in OpenAI's description: present even when empty."""
    r = http.post("/v1/chat/completions", json={"model": SMOL, "messages": user("Hi"), "max_tokens": 2})
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert "logprobs" in choice and choice["logprobs"] is None
    message = choice["message"]
    assert message["refusal"] is None and message["annotations"] == []
    assert message["role"] == "assistant" and "content" in message
