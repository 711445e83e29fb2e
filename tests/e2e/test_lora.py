"""A LoRA student for a generative task, end to end, with the official openai SDK.

A gateway with SmolLM2, MiniLM and the mock cloud as the teacher; one generative task
(`product_faq`, no labels) whose answers state a fact the base model cannot know:

1. teacher answers are captured through the gateway (`x-tierlm-route: cloud`);
2. `tierlm distill train --task product_faq` fine-tunes a LoRA adapter for SmolLM2 on
   them (candle, CPU) and writes it in llama.cpp's GGUF adapter format;
3. after a restart with the adapter configured under the model and named as the
   profile's `local_model`, the route's local answers come from the adapter and carry
   the taught fact, while the base model, asked the same, does not;
4. or, named as the task's generative student, the adapter shadows the teacher (ROUGE-L
   agreement), is promoted, answers the route (`x-tierlm-reason: student`), and is
   demoted when off-topic traffic raises a drift alarm;
5. a missing adapter file is refused at `--check-config` and at start-up, naming it."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time

import openai
import pytest

from cloud_fixtures import TIERLM_BIN, local_and_mock, start_gateway, start_mock
from helpers import REPO_ROOT, metric

FACT = "The Zorblax 9 is a solar kettle made by Quillfeather Labs in Tromsø."
QUESTIONS = [
    "What is the Zorblax 9?",
    "Tell me about the Zorblax 9.",
    "Who makes the Zorblax 9?",
    "Describe the Zorblax 9 product.",
    "What kind of device is the Zorblax 9?",
    "Where is the Zorblax 9 made?",
]

PROFILE = """
[embeddings]
name = "all-minilm-l6-v2"
path = "models/all-MiniLM-L6-v2"

[[cloud_models]]
name = "frontier"
targets = ["mock/gpt-4o-mini"]

[router]
local_model = "smollm2-135m"
cloud_model = "frontier"
default_route = "local"
min_similarity = 0.0

[[router.profiles]]
name = "product_faq"
class = "routine"
examples = ["What is the Zorblax 9?", "Who makes the Zorblax 9?"]
max_tokens = 32
{student}

[distill]
path = "{dir}/distill.db"
students_dir = "{dir}/students"

[distill.capture]
enabled = true
"""

ADAPTER = """
[[models.adapters]]
name = "smollm2-135m-product_faq"
path = "{path}"
"""


SHADOW = """
[distill.generative_students]
product_faq = "smollm2-135m-product_faq"

[distill.promotion]
min_samples = 4
min_agreement = 0.75
min_similarity = 0.5

[distill.drift]
window = 10
min_observations = 6
max_far_share = 0.4
max_distance_ratio = 100.0
"""

OFF_TOPIC = [
    "Translate into French: where is the train station, please?",
    "Write a haiku about the autumn rain falling on a tin roof.",
    "How many grams of flour go into a loaf of sourdough bread?",
    "Explain how a bicycle derailleur shifts between the gears.",
    "List three prime numbers larger than one hundred.",
    "Suggest a name for a small grey kitten with white paws.",
    "Convert 72 degrees Fahrenheit into Celsius, step by step.",
    "Which planets in the solar system have rings around them?",
]


def config(mock_url, tmp, adapter=None, shadow=False):
    """`adapter` alone: the profile's local_model is the adapter (served at once);
    with `shadow`: the adapter is the task's generative student instead."""
    text = local_and_mock(mock_url, 1024)
    if adapter:
        text += ADAPTER.replace("{path}", adapter)
    student = 'local_model = "smollm2-135m-product_faq"' if adapter and not shadow else ""
    text += PROFILE.replace("{dir}", tmp).replace("{student}", student)
    return text + (SHADOW if shadow else "")


def ask(url, text, model="auto", hint=None):
    c = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=120)
    headers = {"x-tierlm-route": hint} if hint else {}
    raw = c.chat.completions.with_raw_response.create(
        model=model, temperature=0, max_tokens=32, extra_headers=headers,
        messages=[{"role": "user", "content": text}])
    answer = raw.parse().choices[0].message.content
    c.close()
    return raw.headers, answer


def distill(cfg, *args):
    return subprocess.run([TIERLM_BIN, "distill", "--config", cfg, *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def world():
    tmp = tempfile.mkdtemp(prefix="lora-")
    fixtures = os.path.join(tmp, "teacher.jsonl")
    with open(fixtures, "w") as f:
        for q in QUESTIONS:
            f.write(json.dumps({"prompt": q, "answer": FACT}) + "\n")
    mock = start_mock("--fixtures", fixtures)
    yield {"tmp": tmp, "mock": mock}
    mock.stop()


def test_a_lora_student_learns_from_the_teacher_and_serves_its_route(world):
    tmp, mock = world["tmp"], world["mock"]

    # 1. Capture the teacher's answers.
    gw, cfg = start_gateway(config(mock.url, tmp))
    try:
        for q in QUESTIONS:
            headers, answer = ask(gw.url, q, hint="cloud")
            assert answer == FACT
            assert headers["x-tierlm-route"] == "cloud"
        # Capture is asynchronous: wait until every answer is stored.
        for _ in range(100):
            if metric(gw.url, "tierlm_distill_captured_total") >= len(QUESTIONS):
                break
            time.sleep(0.1)
        assert metric(gw.url, "tierlm_distill_captured_total") == len(QUESTIONS)
    finally:
        gw.stop()
    status = distill(cfg, "status")
    assert status.returncode == 0, status.stderr
    assert any(l.split()[:2] == ["product_faq", str(len(QUESTIONS))]
               for l in status.stdout.splitlines()), status.stdout

    # 2. Train the adapter (every record trained on: the point is the pipeline).
    trained = distill(cfg, "train", "--task", "product_faq", "--epochs", "12", "--batch", "2",
                      "--learning-rate", "3e-3", "--validation", "0")
    assert trained.returncode == 0, trained.stderr + trained.stdout
    assert "LoRA adapter saved" in trained.stdout, trained.stdout
    assert "drift reference saved" in trained.stdout, trained.stdout
    adapter = os.path.join(tmp, "students", "product_faq.lora.gguf")
    assert os.path.getsize(adapter) > 100_000
    losses = [float(x) for x in trained.stdout.split("training loss per epoch: ")[1]
              .splitlines()[0].split(", ")]
    assert len(losses) == 12 and losses[-1] < losses[0] * 0.3, losses
    with open(adapter, "rb") as f:
        assert f.read(4) == b"GGUF"

    # 3. Serve it for the route.
    gw, cfg2 = start_gateway(config(mock.url, tmp, adapter))
    try:
        listed = subprocess.run([TIERLM_BIN, "models", "list", "--config", cfg2], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
        assert listed.returncode == 0, listed.stderr
        row = [l for l in listed.stdout.splitlines() if l.startswith("smollm2-135m-product_faq")]
        assert row and "chat+lora" in row[0] and adapter in row[0], listed.stdout
        models = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused").models.list()
        assert "smollm2-135m-product_faq" in [m.id for m in models.data]
        headers, answer = ask(gw.url, QUESTIONS[0], hint="local")
        assert headers["x-tierlm-route"] == "local"
        assert "Quillfeather" in answer, answer
        # The adapter by name, and the base model asked the same.
        _, direct = ask(gw.url, QUESTIONS[2], model="smollm2-135m-product_faq")
        assert "Quillfeather" in direct, direct
        _, base = ask(gw.url, QUESTIONS[2], model="smollm2-135m")
        assert "Quillfeather" not in base, base
    finally:
        gw.stop()

    # 4. Or let it earn the route: `train` put the task in shadow; the student answers
    # alongside the teacher and is promoted once it agrees often enough (ROUGE-L).
    assert "route state: shadow" in trained.stdout, trained.stdout
    gw, cfg3 = start_gateway(config(mock.url, tmp, adapter, shadow=True))
    try:
        _, answer = ask(gw.url, QUESTIONS[1])  # in shadow the route is as before
        assert "Quillfeather" not in answer, answer
        for q in QUESTIONS:
            headers, answer = ask(gw.url, q, hint="cloud")
            assert answer == FACT and headers["x-tierlm-route"] == "cloud"
        for _ in range(300):
            if route_state(cfg3) == "student":
                break
            time.sleep(0.2)
        assert route_state(cfg3) == "student", distill(cfg3, "events").stdout
        events = [json.loads(l) for l in distill(cfg3, "events").stdout.splitlines() if l]
        assert events[-1]["to"] == "student", events
        time.sleep(2.5)  # the gateway re-reads route states every 2 s
        headers, answer = ask(gw.url, QUESTIONS[3])
        assert headers["x-tierlm-route"] == "local", dict(headers)
        assert headers["x-tierlm-reason"] == "student", dict(headers)
        assert "Quillfeather" in answer, answer

        # 5. Traffic unlike what the student learned raises a drift alarm, which hands
        # the route back to the teacher.
        for q in OFF_TOPIC:
            ask(gw.url, q)
            if route_state(cfg3) == "teacher":
                break
        assert route_state(cfg3) == "teacher", distill(cfg3, "events").stdout
        events = [json.loads(l) for l in distill(cfg3, "events").stdout.splitlines() if l]
        assert events[-1]["by"] == "drift" and events[-1]["to"] == "teacher", events
    finally:
        gw.stop()


def route_state(cfg):
    out = distill(cfg, "status").stdout
    row = [l.split() for l in out.splitlines() if l.startswith("product_faq")]
    return row[0][2] if row else None


def test_a_missing_adapter_is_refused_naming_it(world):
    tmp, mock = world["tmp"], world["mock"]
    missing = os.path.join(tmp, "nowhere.lora.gguf")
    path = os.path.join(tmp, "missing-adapter.toml")
    with open(path, "w") as f:
        f.write(config(mock.url, tmp, missing))
    check = subprocess.run([TIERLM_BIN, "serve", "--config", path, "--check-config"],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    assert check.returncode != 0
    assert "smollm2-135m-product_faq" in check.stderr and missing in check.stderr, check.stderr


def test_training_a_generative_task_without_records_fails_clearly(world):
    tmp = tempfile.mkdtemp(prefix="lora-empty-")
    path = os.path.join(tmp, "empty.toml")
    with open(path, "w") as f:
        f.write(config(world["mock"].url, tmp))
    out = distill(path, "train", "--task", "product_faq")
    assert out.returncode == 2
    assert "product_faq" in out.stderr and "no records" in out.stderr, out.stderr
    bad = distill(path, "train", "--task", "product_faq", "--validation", "1.5")
    assert bad.returncode == 2 and "--validation" in bad.stderr, bad.stderr
