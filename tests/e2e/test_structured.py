"""Constrained decoding: response_format json_schema and json_object."""

from __future__ import annotations

import json

import jsonschema

from helpers import SMOL, user

PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_json_schema(client):
    resp = client.chat.completions.create(
        model=SMOL,
        messages=user("Alice is 30 years old. Give her name and age as JSON."),
        max_tokens=64,
        temperature=0,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True},
        },
    )
    choice = resp.choices[0]
    content = choice.message.content
    assert choice.finish_reason == "stop", f"ran out of tokens before the JSON closed: {content!r}"
    value = json.loads(content)
    jsonschema.validate(value, PERSON_SCHEMA)


def test_json_object(client):
    resp = client.chat.completions.create(
        model=SMOL,
        messages=user('Reply with a JSON object with one key "color" whose value is the color of the sky.'),
        # Room for the model's whole object: at temperature 0 its answer still differs by
        # CPU (AVX2 vs AVX-512 kernels round differently); on an AMD EPYC it took 65 tokens.
        max_tokens=256,
        temperature=0,
        response_format={"type": "json_object"},
    )
    choice = resp.choices[0]
    content = choice.message.content
    assert choice.finish_reason == "stop", f"ran out of tokens before the JSON closed: {content!r}"
    assert isinstance(json.loads(content), dict)
