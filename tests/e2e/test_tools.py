"""Tool calling: forced function, required, and a tool-result round trip."""

from __future__ import annotations

import json

import pytest

from helpers import SMOL, user

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
QUESTION = "What is the weather like in Paris right now?"


def check_tool_call(resp):
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    calls = choice.message.tool_calls
    assert calls and len(calls) == 1, calls
    call = calls[0]
    assert call.type == "function"
    assert call.id, "tool call has no id"
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert isinstance(args, dict) and isinstance(args.get("city"), str), args
    return call


@pytest.fixture(scope="module")
def forced_call(client):
    resp = client.chat.completions.create(
        model=SMOL,
        messages=user(QUESTION),
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=32,
        temperature=0,
    )
    return resp


def test_tool_choice_named_function(forced_call):
    check_tool_call(forced_call)


def test_tool_choice_required(client):
    resp = client.chat.completions.create(
        model=SMOL,
        messages=user(QUESTION),
        tools=[WEATHER_TOOL],
        tool_choice="required",
        max_tokens=32,
        temperature=0,
    )
    check_tool_call(resp)


def test_tool_result_round_trip(client, forced_call):
    call = check_tool_call(forced_call)
    messages = user(QUESTION) + [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments},
            }],
        },
        {
            "role": "tool",
            "tool_call_id": call.id,
            "content": json.dumps({"temperature_c": 21, "condition": "sunny"}),
        },
    ]
    resp = client.chat.completions.create(
        model=SMOL, messages=messages, tools=[WEATHER_TOOL], tool_choice="none",
        max_tokens=32, temperature=0,
    )
    choice = resp.choices[0]
    assert choice.finish_reason in ("stop", "length")
    assert not choice.message.tool_calls
    assert choice.message.content and choice.message.content.strip()
