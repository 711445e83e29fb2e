"""The data guard end to end: sensitive values found before anything leaves, replaced
by placeholders for the cloud and restored in the answer (streamed too), kept local or
refused by policy, and every egress on the audit chain that `tierlm audit verify`
checks. The mock cloud records every body it receives, so the tests can prove what left.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
import time

import httpx
import openai
import pytest

from cloud_fixtures import local_and_mock, TIERLM_BIN, start_gateway, start_mock
from helpers import REPO_ROOT, assert_error

CONFIG = """
[[cloud_models]]
name = "frontier"
targets = ["mock/gpt-4o-mini"]
fallback_local = "smollm2-135m"

[[cloud_models]]
name = "sealed"
targets = ["mock/gpt-4o-mini"]
fallback_local = "smollm2-135m"

[guard]
default_action = "redact"
audit_path = "{audit}"

[guard.actions]
CREDIT_CARD = "block"
US_SSN = "block"

[[guard.policies]]
model = "sealed"
default_action = "local_only"
"""


def guarded_gateway(extra: str = ""):
    """A recording mock and a gateway with CONFIG (plus `extra`) in front of it."""
    record = tempfile.NamedTemporaryFile(prefix="guard-record-", suffix=".jsonl", delete=False)
    record.close()
    audit_dir = tempfile.mkdtemp(prefix="guard-audit-")
    audit = os.path.join(audit_dir, "audit.jsonl")
    mock = start_mock("--record", record.name)
    try:
        gw, cfg = start_gateway(
            local_and_mock(mock.url) + CONFIG.replace("{audit}", audit) + extra,
            "--no-embeddings", log="debug")
    except RuntimeError:
        mock.stop()
        raise
    yield {"url": gw.url, "gw": gw, "mock": mock, "record": record.name, "audit": audit}
    gw.stop()
    mock.stop()
    for p in (cfg, record.name):
        os.unlink(p)


@pytest.fixture(scope="module")
def env():
    yield from guarded_gateway()


@pytest.fixture(scope="module")
def strict_env():
    """The same gateway with the detectors in strict mode."""
    yield from guarded_gateway("\n[guard.detectors]\nstrict = true\n")


@pytest.fixture(scope="module")
def client(env):
    c = openai.OpenAI(base_url=env["url"] + "/v1", api_key="unused", max_retries=0, timeout=120)
    yield c
    c.close()


def recorded(env) -> str:
    """The mock's record file, once its writer thread has caught up."""
    last = None
    for _ in range(50):
        with open(env["record"]) as f:
            text = f.read()
        if text == last:
            return text
        last = text
        time.sleep(0.05)
    return last


def recorded_body_hashes(env) -> list[str]:
    """sha256 of each recorded body, from the raw bytes the mock received."""
    out = []
    for line in recorded(env).splitlines():
        raw = line[line.index('"body":') + len('"body":'):-1]
        out.append(hashlib.sha256(raw.encode()).hexdigest())
    return out


def test_values_are_redacted_for_the_cloud_and_restored_in_the_answer(env, client):
    text = "Email jane.doe@example.com or call +1 415 555 0134 about Jane Doe's order."
    raw = client.chat.completions.with_raw_response.create(
        model="frontier", messages=[{"role": "user", "content": text}], max_tokens=40)
    answer = raw.parse().choices[0].message.content
    # The mock echoes the text it received: placeholders went out, originals came back.
    assert "jane.doe@example.com" in answer, answer
    body = recorded(env)
    assert "<EMAIL_1>" in body and "jane.doe@example.com" not in body
    assert "415 555 0134" not in body


def test_a_streamed_answer_is_restored_too(env, client):
    text = "Forward the invoice to ops.team@example.org please"
    stream = client.chat.completions.create(
        model="frontier", messages=[{"role": "user", "content": text}], max_tokens=40, stream=True)
    answer = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert "ops.team@example.org" in answer, answer
    assert "ops.team@example.org" not in recorded(env)


def test_a_name_given_once_is_redacted_in_every_later_turn(env, client):
    # The later turns alone hold no name the detectors would find: "Okabe" and
    # "Tadanori" are found there because the system message names Mr. Tadanori Okabe.
    messages = [
        {"role": "system", "content": "You answer for the claims desk. The customer is Mr. Tadanori Okabe."},
        {"role": "user", "content": "Hi, it's about my claim."},
        {"role": "assistant", "content": "Of course. What happened?"},
        {"role": "user", "content": "Tadanori says the form was sent twice; Okabe signed it."},
    ]
    before = len(recorded(env).splitlines())
    answer = client.chat.completions.create(
        model="frontier", messages=messages, max_tokens=40).choices[0].message.content
    body = "\n".join(recorded(env).splitlines()[before:])
    assert body and "Okabe" not in body and "Tadanori" not in body, body
    assert "<PERSON_" in body
    assert "Okabe" in answer, answer


def test_participant_names_leave_as_labels(env, client):
    before = len(recorded(env).splitlines())
    r = client.chat.completions.create(model="frontier", max_tokens=40, messages=[
        {"role": "user", "name": "svetlana_orlova", "content": "Can you summarise my last order?"}])
    assert r.choices[0].message.content
    body = json.loads(recorded(env).splitlines()[before])["body"]
    assert "svetlana" not in json.dumps(body).lower(), body
    assert re.fullmatch(r"PERSON_\d+", body["messages"][0]["name"]), body


def test_user_and_metadata_leave_as_pseudonyms(env, client):
    before = len(recorded(env).splitlines())
    client.chat.completions.create(
        model="frontier", max_tokens=8, user="lena.berg@example.net",
        metadata={"ticket": "T-1042", "requester": "lena.berg@example.net"},
        messages=[{"role": "user", "content": "Status of my ticket?"}])
    body = json.loads(recorded(env).splitlines()[before])["body"]
    assert "lena.berg" not in json.dumps(body), body
    assert re.fullmatch(r"EMAIL_[0-9a-f]{16}", body["user"]), body
    # keyed: not the bare sha256 anyone could compute from a guessed address
    assert body["user"][6:] != hashlib.sha256(b"lena.berg@example.net").hexdigest()[:16]
    assert body["metadata"] == {"ticket": "T-1042", "requester": body["user"]}, body


def test_block_names_the_types_not_the_values(env):
    r = httpx.post(env["url"] + "/v1/chat/completions", timeout=30, json={
        "model": "frontier",
        "messages": [{"role": "user", "content": "Charge card 4111 1111 1111 1111 for the order"}]})
    err = assert_error(r, 403, code="refused_by_policy")
    assert "CREDIT_CARD" in err["message"]
    assert "4111" not in err["message"]
    assert "4111 1111 1111 1111" not in recorded(env)


def test_local_only_never_leaves(env, client):
    before = recorded(env)
    raw = client.chat.completions.with_raw_response.create(
        model="sealed", messages=[{"role": "user", "content": "Summarise: patient mail is x.y@example.net"}],
        max_tokens=8)
    assert raw.headers["x-tierlm-route"] == "local"
    assert raw.headers["x-tierlm-reason"] == "guard_local_only"
    assert recorded(env) == before


def test_clean_requests_go_out_unchanged_and_every_egress_is_audited(env, client):
    text = "What is the capital of France?"
    client.chat.completions.create(model="frontier", messages=[{"role": "user", "content": text}],
                                   max_tokens=8)
    assert text in recorded(env)
    entries = [json.loads(line) for line in open(env["audit"])]
    # One entry per body that reached the provider, with the hash of its exact bytes.
    assert sorted(e["body_sha256"] for e in entries) == sorted(recorded_body_hashes(env))
    assert entries[-1]["provider"] == "mock" and entries[-1]["model"] == "gpt-4o-mini"
    assert any(e["redacted"].get("EMAIL") for e in entries)
    run = subprocess.run([TIERLM_BIN, "audit", "verify", "--file", env["audit"]],
                         capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(entries)} entries" in run.stdout


# Types the detectors cover; the generator also labels jobs and organisations, which
# are not personal data on their own and are not looked for.
STRUCTURED = {"CREDIT_CARD", "IBAN", "US_SSN", "EMAIL", "PHONE", "IP_ADDRESS"}
FREE_FORM = {"PERSON", "POSTAL_ADDRESS", "DATE_OF_BIRTH"}
# Leak ceilings for the free-form types, from the measured recall (docs/BENCHMARKS.md,
# "Data guard"). By default the detectors want evidence for a name, an address or a
# birth date, and what they miss goes out: 8 of 610 names (1.3%); the 4 of 32 dates of
# birth missed all come from one template with no birth context ("It's like that since
# 25 February 1956"). Strict mode redacts every Title-case run with an unknown word,
# every listed or frequent census surname inside a sentence and every full date:
# nothing goes out.
# The same sentences in capitals (a form, a shouted message): by default a name in
# capitals needs a full name or a cue, so 41% go out; strict mode also takes
# every run of two or more words in capitals with an unknown word.
FREE_FORM_LEAK_CEILING = {
    ("default", "as written"): {"PERSON": 0.02, "POSTAL_ADDRESS": 0.03, "DATE_OF_BIRTH": 0.15},
    ("strict", "as written"): {"PERSON": 0.0, "POSTAL_ADDRESS": 0.0, "DATE_OF_BIRTH": 0.0},
    ("default", "capitals"): {"PERSON": 0.45, "POSTAL_ADDRESS": 0.05, "DATE_OF_BIRTH": 0.15},
    ("strict", "capitals"): {"PERSON": 0.02, "POSTAL_ADDRESS": 0.02, "DATE_OF_BIRTH": 0.0},
}


@pytest.fixture(scope="module")
def pii_sentences(tmp_path_factory):
    """The leak test's sentences: seed 2026, or the seed in $PII_SEED (new identities,
    to see how the detectors generalise; the ceilings are set on seed 2026)."""
    seed = os.environ.get("PII_SEED", "2026")
    out = (os.path.join(REPO_ROOT, "eval", "data", "pii") if seed == "2026"
           else str(tmp_path_factory.mktemp(f"pii-{seed}")))
    path = os.path.join(out, "sentences.jsonl")
    run = subprocess.run([".venv/bin/python", "eval/pii/build_pii.py", "--seed", seed,
                          "--out", out], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(path) as f:
        return [json.loads(line) for line in f]


def encodings(value: str) -> set[str]:
    """How a value can appear in a JSON body: raw, and JSON-escaped. The leak test looks
    for them as whole words: "Fran" inside "France" is no leak."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def fragments(value: str) -> set[str]:
    """The value, and each run of its digit groups holding at least six digits
    ("74 03 82" of "07633 74 03 82"): a value half redacted still leaks the rest."""
    groups = [m.span() for m in re.finditer(r"\d+", value)]
    out = {value}
    for i, (start, _) in enumerate(groups):
        for j in range(i, len(groups)):
            piece = value[start:groups[j][1]]
            if sum(c.isdigit() for c in piece) >= 6:
                out.add(piece)
    return out


def reached_cloud(value: str, bodies: str, structured: bool) -> bool:
    """Whether the value (for a structured type, any fragment of it) is in the bodies,
    as a whole word: "Fran" inside "France" is no leak."""
    for piece in fragments(value) if structured else {value}:
        for e in encodings(piece):
            if e in bodies and re.search(rf"(?<![\w]){re.escape(e)}(?![\w])", bodies):
                return True
    return False


def in_capitals(item: dict) -> dict:
    """The sentence and its values in upper case."""
    spans = [dict(span, value=span["value"].upper()) for span in item["spans"]]
    return dict(item, text=item["text"].upper(), spans=spans)


@pytest.mark.parametrize("case", ["as written", "capitals"])
@pytest.mark.parametrize("mode", ["default", "strict"])
def test_leak_test_no_detected_value_ever_reaches_the_cloud(mode, case, request, pii_sentences):
    env = request.getfixturevalue("env" if mode == "default" else "strict_env")
    assert len(pii_sentences) >= 1000
    if case == "capitals":
        pii_sentences = [in_capitals(item) for item in pii_sentences]
    before = len(recorded(env).splitlines())
    sealed = pii_sentences[:60]

    def send(item):
        model = "sealed" if item in sealed else "frontier"
        r = httpx.post(env["url"] + "/v1/chat/completions", timeout=120, json={
            "model": model, "max_tokens": 1 if model == "sealed" else 16,
            "messages": [{"role": "user", "content": item["text"]}]})
        assert r.status_code in (200, 403), r.text[:300]
        return r.headers.get("x-tierlm-route"), r.status_code

    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(send, pii_sentences))
    # What reached the provider: answers that came from the cloud (a `sealed` request in
    # which nothing was found is not kept local: local_only acts on what is found).
    sent = sum(1 for route, s in results if route == "cloud" and s == 200)
    bodies = "\n".join(recorded(env).splitlines()[before:])
    assert len(bodies.splitlines()) == sent
    leaks = {t: [0, 0] for t in STRUCTURED | FREE_FORM}
    for item in pii_sentences:
        for span in item["spans"]:
            if span["type"] not in leaks or len(span["value"]) < 4:
                continue
            leaks[span["type"]][1] += 1
            if reached_cloud(span["value"], bodies, span["type"] in STRUCTURED):
                leaks[span["type"]][0] += 1
                print(f"{mode}, {case}: {span['type']} {span['value']!r} went out")
    print(f"{mode}, {case}: leaked / values by type:", leaks)
    for t in STRUCTURED:
        assert leaks[t][0] == 0, f"{t}: {leaks[t][0]} of {leaks[t][1]} values reached the cloud"
    for t in FREE_FORM:
        leaked, total = leaks[t]
        ceiling = FREE_FORM_LEAK_CEILING[mode, case][t]
        assert total == 0 or leaked / total <= ceiling, (t, leaks[t])
    # local_only requests whose values were found never left.
    for item, (route, _) in zip(pii_sentences, results):
        if route == "local":
            assert item["text"] not in bodies


def test_no_raw_values_at_rest(env, pii_sentences):
    """Logs (debug level), the audit chain and the metrics hold no original value."""
    time.sleep(0.5)
    stores = {
        "server log": env["gw"].stderr_text_full(),
        "audit": open(env["audit"]).read(),
        "metrics": httpx.get(env["url"] + "/metrics", timeout=10).text,
    }
    values = {s["value"] for item in pii_sentences for s in item["spans"]
              if s["type"] in STRUCTURED | FREE_FORM and len(s["value"]) >= 6}
    values |= {"jane.doe@example.com", "ops.team@example.org", "4111 1111 1111 1111"}
    for name, text in stores.items():
        found = [v for v in values if v in text]
        assert not found, f"{name} holds original values: {found[:5]}"


def test_an_egress_that_cannot_be_audited_is_never_sent():
    """The audit entry is written before the request leaves: when the chain cannot be
    continued (here: someone appended to the file behind the gateway's back), nothing
    is sent to the provider; this model's local fallback answers instead."""
    audit = os.path.join(tempfile.mkdtemp(prefix="guard-audit-"), "audit.jsonl")
    mock = start_mock()
    gw = cfg = None
    try:
        gw, cfg = start_gateway(local_and_mock(mock.url) + CONFIG.replace("{audit}", audit),
                                "--no-embeddings")
        c = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0, timeout=60)
        c.chat.completions.create(model="frontier", max_tokens=4,
                                  messages=[{"role": "user", "content": "hello"}])
        sent = httpx.get(mock.url + "/mock/stats", timeout=10).json()["requests"]
        assert sent == 1
        with open(audit, "a") as f:
            f.write('{"forged": true}\n')
        raw = c.chat.completions.with_raw_response.create(
            model="frontier", max_tokens=4, messages=[{"role": "user", "content": "hello again"}])
        assert raw.headers["x-tierlm-reason"] == "cloud_failed_local_fallback"
        assert httpx.get(mock.url + "/mock/stats", timeout=10).json()["requests"] == sent
        assert "cannot write the egress audit" in gw.stderr_text_full()
        c.close()
    finally:
        if gw is not None:
            gw.stop()
        if cfg is not None:
            os.unlink(cfg)
        mock.stop()


def test_json_escapes_do_not_hide_values_from_the_guard(env, client):
    # Python's json.dumps escapes every non-ASCII character by default, and anyone can
    # escape ASCII: the detectors must read what the model reads.
    args = json.dumps({"customer": "Jörg Müller", "email": "joerg.mueller@example.com"})
    args = args.replace("@", "\\u0040")
    result = json.dumps({"contact": "Zoë Ångström", "phone": "+1 415 555 0199"})
    assert "\\u00fc" in args and "\\u0040" in args and "\\u00eb" in result
    before = len(recorded(env).splitlines())
    client.chat.completions.create(model="frontier", max_tokens=40, messages=[
        {"role": "user", "content": "Look up the customer and tell me who to call."},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "lookup", "arguments": args}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": result},
    ])
    body = "\n".join(recorded(env).splitlines()[before:])
    assert body
    sent = json.loads(body)["body"]
    outgoing = json.dumps(sent, ensure_ascii=False)
    for value in ("Müller", "Mueller", "mueller", "joerg", "Ångström", "555 0199"):
        assert value not in outgoing, outgoing
    for escaped in ("M\\\\u00fcller", "\\\\u0040", "\\\\u00c5ngstr"):
        assert escaped not in body, body
    # the arguments are still JSON, with placeholders where the values were
    call_args = json.loads(sent["messages"][1]["tool_calls"][0]["function"]["arguments"])
    assert "<PERSON_" in call_args["customer"] and "<EMAIL_" in call_args["email"], call_args


def test_tool_and_schema_texts_are_screened_and_stay_valid(env, client):
    # Applications put data in tool descriptions and schemas too: an address to
    # default to, the customers a field may name, a contact in a description.
    before = len(recorded(env).splitlines())
    client.chat.completions.create(model="frontier", max_tokens=40, messages=[
        {"role": "user", "content": "Open a ticket for the billing issue."}],
        tools=[{"type": "function", "function": {
            "name": "open_ticket",
            "description": "Opens a ticket; escalations go to dana.whitfield@example.com.",
            "parameters": {"type": "object", "required": ["owner"], "properties": {
                "owner": {"type": "string", "enum": ["lena.kowalski@example.com", "ops"]},
                "reference": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}}}}}],
        response_format={"type": "json_schema", "json_schema": {
            "name": "ticket", "schema": {"type": "object", "properties": {"note": {
                "type": "string", "default": "Call +1 415 555 0177 first"}}}}})
    body = "\n".join(recorded(env).splitlines()[before:])
    assert body
    for value in ("dana.whitfield", "lena.kowalski", "555 0177"):
        assert value not in body, body
    sent = json.loads(body)["body"]
    function = sent["tools"][0]["function"]
    assert "<EMAIL_" in function["description"], function
    owner = function["parameters"]["properties"]["owner"]
    assert owner["enum"][0].startswith("<EMAIL_") and owner["enum"][1] == "ops", owner
    # schema machinery is left as it was
    assert function["parameters"]["required"] == ["owner"]
    reference = function["parameters"]["properties"]["reference"]
    assert reference == {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}
