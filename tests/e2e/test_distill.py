"""The distillation flywheel end to end, with the official openai SDK.

A gateway with SmolLM2, MiniLM (static classifier) and the mock cloud as the teacher,
one label task (`sentiment`), the data guard on and capture on:

1. teacher traffic is captured — redacted, as the cloud saw it — and exported;
2. `tierlm distill train` trains a label student and puts the task in shadow;
3. after a restart the student is compared with the teacher on live traffic and, once it
   agrees often enough, the route is promoted: the student answers (`x-tierlm-reason:
   student`) with no model call;
4. a topic shift raises a drift alarm that hands the route back to the teacher;
5. `promote` / `demote` / `events` on the command line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import tempfile

import httpx
import openai
import pytest

from cloud_fixtures import TIERLM_BIN, local_and_mock, start_gateway, start_mock
from helpers import REPO_ROOT, metric

PROMPT = "Is this movie review positive or negative? Answer with one word.\n\nReview: {}"
GOOD = ["wonderful", "superb", "delightful", "moving", "brilliant", "charming", "gripping",
        "beautiful", "hilarious", "touching"]
BAD = ["dull", "boring", "tedious", "awful", "clumsy", "lifeless", "painful", "messy",
       "forgettable", "dreadful"]
SUBJECTS = ["the plot", "the acting", "the soundtrack", "the ending", "the dialogue",
            "the pacing", "the cast", "the visuals"]
TEMPLATES = ["{s} was {a}", "I found {s} {a}", "Honestly, {s} felt {a} throughout"]
OFF_TOPIC = [
    "Translate into French: where is the train station, please?",
    "What is the capital city of Peru and how many people live there?",
    "Write a haiku about the autumn rain falling on a tin roof.",
    "How many grams of flour go into a loaf of sourdough bread?",
    "Explain how a bicycle derailleur shifts between the gears.",
    "List three prime numbers larger than one hundred.",
    "What time zone is Auckland in during the southern summer?",
    "Suggest a name for a small grey kitten with white paws.",
    "Convert 72 degrees Fahrenheit into Celsius, step by step.",
    "Which planets in the solar system have rings around them?",
]

CONFIG = """
[embeddings]
name = "all-minilm-l6-v2"
path = "models/all-MiniLM-L6-v2"

[[cloud_models]]
name = "frontier"
targets = ["mock/gpt-4o-mini"]

[router]
local_model = "smollm2-135m"
cloud_model = "frontier"
default_route = "cloud"
min_similarity = 0.0

[router.thresholds]
sentiment = 1.5

[[router.profiles]]
name = "sentiment"
class = "routine"
examples = [
  "Is this movie review positive or negative? Review: a wonderful, moving film",
  "Is this movie review positive or negative? Review: dull plot and wooden acting",
]
labels = ["positive", "negative"]
max_tokens = 4

[guard]

[distill]
path = "{dir}/distill.db"
students_dir = "{dir}/students"
student_min_confidence = 0.8

[distill.capture]
enabled = true

[distill.promotion]
min_samples = 30
min_agreement = 0.9

[distill.drift]
window = 20
min_observations = 10
max_far_share = 0.4
max_distance_ratio = 100.0
max_low_confidence_share = 1.0
"""


def reviews():
    out = []
    for t in TEMPLATES:
        for s in SUBJECTS:
            for good, bad in zip(GOOD, BAD):
                out.append((t.format(s=s, a=good).capitalize() + ".", "positive"))
                out.append((t.format(s=s, a=bad).capitalize() + ".", "negative"))
    __import__("random").Random(7).shuffle(out)  # every split mixes templates and labels
    return out  # 480


def tierlm(cfg: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TIERLM_BIN, "distill", "--config", cfg, *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def world():
    data = reviews()
    tmp = tempfile.mkdtemp(prefix="distill-")
    fixtures = os.path.join(tmp, "teacher.jsonl")
    with open(fixtures, "w") as f:
        for text, label in data:
            f.write(json.dumps({"prompt": PROMPT.format(text), "answer": label}) + "\n")
    mock = start_mock("--fixtures", fixtures)
    config = local_and_mock(mock.url, 2048) + CONFIG.replace("{dir}", tmp)
    yield {"tmp": tmp, "mock": mock, "config": config, "data": data}
    mock.stop()


def ask(url, text, hint=None, stream=False):
    c = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=120)
    headers = {"x-tierlm-route": hint} if hint else {}
    raw = c.chat.completions.with_raw_response.create(
        model="auto", temperature=0, extra_headers=headers, stream=stream,
        messages=[{"role": "user", "content": text}])
    if stream:
        answer = "".join(ch.choices[0].delta.content or "" for ch in raw.parse() if ch.choices)
    else:
        answer = raw.parse().choices[0].message.content
    c.close()
    return raw.headers, answer


def test_the_flywheel(world):
    data, tmp = world["data"], world["tmp"]
    train, shadow, served = data[:200], data[200:300], data[300:360]

    # 1. Capture: the teacher answers (the hint sends the requests to the cloud).
    gw, cfg = start_gateway(world["config"])
    try:
        # Every fourth is streamed: a stream's answer is captured once it ended well.
        for i, (text, label) in enumerate(train):
            headers, answer = ask(gw.url, PROMPT.format(text), hint="cloud", stream=i % 4 == 0)
            assert answer == label
        secret = "Reply to jane.doe@example.com: " + PROMPT.format("the plot was wonderful")
        ask(gw.url, secret, hint="cloud")
        deadline = 100
        while metric(gw.url, "tierlm_distill_captured_total") < len(train) + 1 and deadline:
            deadline -= 1
            __import__("time").sleep(0.1)
        assert metric(gw.url, "tierlm_distill_captured_total") == len(train) + 1
        assert metric(gw.url, "tierlm_distill_capture_dropped_total") == 0
    finally:
        gw.stop()

    db = os.path.join(tmp, "distill.db")
    raw = open(db, "rb").read() + (open(db + "-wal", "rb").read() if os.path.exists(db + "-wal") else b"")
    assert b"jane.doe@example.com" not in raw, "a raw e-mail address reached the distill store"
    con = sqlite3.connect(db)
    stored = [r[0] for r in con.execute("SELECT messages FROM records")]
    # Streamed and JSON answers alike are whole, and normalised to their label.
    answers = con.execute("SELECT answer, label FROM records").fetchall()
    con.close()
    assert len(answers) == len(train) + 1
    odd = [(a, l) for a, l in answers if not (a == l and l in ("positive", "negative"))]
    assert len(odd) <= 1, odd  # the e-mail request's fixture-less answer may be any text
    assert any("EMAIL" in m for m in stored), "the redacted record kept no placeholder"

    status = tierlm(cfg, "status")
    assert status.returncode == 0, status.stderr
    assert "sentiment" in status.stdout and str(len(train) + 1) in status.stdout

    out = os.path.join(tmp, "export")
    exp = tierlm(cfg, "export", "--task", "sentiment", "--format", "openai", "--out", out)
    assert exp.returncode == 0, exp.stderr
    lines = [json.loads(l) for name in ("train", "validation")
             for l in open(os.path.join(out, f"sentiment.{name}.jsonl"))]
    assert len(lines) == len(train) + 1
    assert all(l["messages"][-1]["role"] == "assistant" for l in lines)

    # 2. Train a student; the task goes into shadow.
    trained = tierlm(cfg, "train", "--task", "sentiment")
    assert trained.returncode == 0, trained.stderr
    assert "route state: shadow" in trained.stdout, trained.stdout
    print(trained.stdout)
    # It reads the sentence encoder's vector of each review after the instruction
    # every request shares, not only the router's embedding.
    student = json.load(open(os.path.join(world["tmp"], "students", "sentiment.json")))
    assert student["features"]["encoder"] == "all-minilm-l6-v2", student["features"]
    assert student["features"]["prefix"].startswith("Is this movie review"), student["features"]
    assert student["dims"] == 2 * 384
    assert "reads the router's embedding + all-minilm-l6-v2" in trained.stdout

    # 3. Shadow on live teacher traffic until promoted; then the student answers.
    gw, cfg2 = start_gateway(world["config"])
    try:
        for text, _ in shadow[:40]:
            ask(gw.url, PROMPT.format(text), hint="cloud")
        agree = metric(gw.url, "tierlm_distill_shadow_agree_total")
        disagree = metric(gw.url, "tierlm_distill_shadow_disagree_total")
        # Sampling stops once the route is promoted (after min_samples = 30 here).
        assert agree + disagree == 30, (agree, disagree)
        assert agree / 30 >= 0.9, (agree, disagree)
        __import__("time").sleep(0.5)  # the last shadow samples are recorded off the request path
        events = tierlm(cfg, "events", "--task", "sentiment")
        assert '"student"' in events.stdout or "promot" in events.stdout, events.stdout

        teacher_before = httpx.get(world["mock"].url + "/mock/stats", timeout=10).json()["requests"]
        by_student = correct = 0
        for text, label in served:
            headers, answer = ask(gw.url, PROMPT.format(text))
            if headers.get("x-tierlm-reason") == "student":
                by_student += 1
                correct += answer == label
        teacher_after = httpx.get(world["mock"].url + "/mock/stats", timeout=10).json()["requests"]
        print(f"distill: student answered {by_student}/{len(served)}, {correct} correct; "
              f"teacher calls during that phase: {teacher_after - teacher_before}")
        assert by_student >= len(served) * 0.8
        assert correct >= by_student * 0.95
        assert metric(gw.url, "tierlm_distill_drift_alarms_total") == 0, "drift on familiar traffic"

        # 4. Topic shift: the drift monitor hands the route back to the teacher.
        for text in OFF_TOPIC * 3:
            ask(gw.url, text)
        assert metric(gw.url, "tierlm_distill_drift_alarms_total") >= 1
        events = tierlm(cfg, "events", "--task", "sentiment").stdout
        assert '"by":"drift"' in events.replace(" ", ""), events
        headers, _ = ask(gw.url, PROMPT.format(served[0][0]))
        assert headers.get("x-tierlm-reason") != "student"
    finally:
        gw.stop()
        os.unlink(cfg2)

    # 5. Manual promotion and demotion are logged.
    assert tierlm(cfg, "promote", "--task", "sentiment", "--reason", "reviewed").returncode == 0
    assert "student" in tierlm(cfg, "status").stdout
    assert tierlm(cfg, "demote", "--task", "sentiment", "--reason", "rollback").returncode == 0
    events = [json.loads(l) for l in tierlm(cfg, "events", "--task", "sentiment").stdout.splitlines()]
    assert [e["reason"] for e in events[-2:]] == ["reviewed", "rollback"]
    os.unlink(cfg)


def test_synthesize_stores_only_new_valid_examples(world):
    """`tierlm distill synthesize` asks the teacher through an OpenAI-compatible API (a
    small stand-in server here) and keeps only valid, new examples."""
    import http.server
    import threading

    reply = {"examples": [
        {"text": PROMPT.format("The soundtrack was a triumph."), "label": "positive"},
        {"text": PROMPT.format("The soundtrack was a triumph."), "label": "positive"},
        {"text": PROMPT.format("Nothing happened for two hours."), "label": "Negative"},
        {"text": PROMPT.format("It was fine, I guess."), "label": "neutral"},
        {"text": "", "label": "positive"},
    ]}
    seen = []

    class Teacher(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            seen.append(body)
            out = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                              "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": json.dumps(reply)}}],
                              "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Teacher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = tempfile.mkdtemp(prefix="synth-")
    cfg = os.path.join(tmp, "tierlm.toml")
    with open(cfg, "w") as f:
        f.write(world["config"].replace(world["tmp"], tmp))
    try:
        out = tierlm(cfg, "synthesize", "--task", "sentiment", "--n", "5",
                     "--base-url", f"http://127.0.0.1:{server.server_port}/v1")
        assert out.returncode == 0, out.stderr
        assert "2 synthetic examples stored from frontier; 3 rejected" in out.stdout, out.stdout
        assert seen and seen[0]["model"] == "frontier"
        asked = seen[0]["messages"][-1]["content"]
        assert "positive" in asked and "negative" in asked
        con = sqlite3.connect(os.path.join(tmp, "distill.db"))
        rows = con.execute("SELECT label, source FROM records ORDER BY label").fetchall()
        con.close()
        assert rows == [("negative", "synthetic"), ("positive", "synthetic")], rows
        again = tierlm(cfg, "synthesize", "--task", "sentiment", "--n", "5",
                       "--base-url", f"http://127.0.0.1:{server.server_port}/v1")
        assert "0 synthetic examples stored" in again.stdout, again.stdout
    finally:
        server.shutdown()
