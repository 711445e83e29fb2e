"""Fixtures for the cloud tests: mock clouds and a tierlm configured to reach them.

Every provider kind points at `tierlm-mockcloud` instances started on free ports: a
healthy one, a flaky one (30% of requests fail with 500 or 429), a dead one, one that
cuts streams after three chunks, one that rejects every request with 400 and one that
requires a key tierlm does not have.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
import time

import httpx
import pytest

from helpers import REPO_ROOT

MOCK_BIN = os.environ.get("TIERLM_MOCK_BIN", os.path.join(REPO_ROOT, "target", "release", "tierlm-mockcloud"))
TIERLM_BIN = os.environ.get("TIERLM_BIN", os.path.join(REPO_ROOT, "target", "release", "tierlm"))
MOCK_KEY = "mock-key-123"


class Proc:
    """A child process that prints `... listening on http://HOST:PORT` when ready."""

    def __init__(self, argv: list[str], env: dict | None = None):
        self.stderr = tempfile.NamedTemporaryFile(prefix="e2e-", suffix=".stderr", delete=False)
        self.proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=env or dict(os.environ), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self.stderr, text=True, bufsize=1,
        )
        lines: queue.Queue = queue.Queue()

        def pump():
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 60
        self.url = None
        while self.url is None:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{argv[0]} did not start: {self.stderr_text()}")
            m = re.search(r"listening on (https?://\S+)", line)
            if m:
                self.url = m.group(1).rstrip("/")

    def stderr_text(self) -> str:
        return self.stderr_text_full()[-4000:]

    def stderr_text_full(self) -> str:
        with open(self.stderr.name, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_mock(*flags: str) -> Proc:
    if not os.path.isfile(MOCK_BIN):
        pytest.fail(f"{MOCK_BIN} not found; build it: cargo build --release --workspace --bins")
    return Proc([MOCK_BIN, "--port", "0", *flags])


def local_and_mock(mock_url: str, context_size: int = 1024) -> str:
    """The start of most test gateways' configs: a free port, SmolLM2, and the mock
    cloud as an OpenAI-compatible provider named `mock`."""
    return f"""
[server]
host = "127.0.0.1"
port = 0

[[models]]
name = "smollm2-135m"
path = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
context_size = {context_size}
parallel = 2

[[providers]]
name = "mock"
kind = "openai_compatible"
base_url = "{mock_url}/v1"
"""


def start_gateway(config: str, *flags: str, log: str = "warn", env: dict | None = None) -> tuple[Proc, str]:
    """Write `config` to a temporary file and start tierlm on it (with `env` added to
    the environment); wait for /ready.

    Returns the process and the config path (the caller removes it)."""
    cfg = tempfile.NamedTemporaryFile("w", prefix="tierlm-e2e-", suffix=".toml", delete=False)
    cfg.write(config)
    cfg.close()
    # Each gateway keeps its default files (ledger, audit) in a folder of its own, so
    # gateways running side by side never share an audit chain.
    full_env = dict(os.environ, TIERLM_LOG=log, E2E_MOCK_KEY=MOCK_KEY, E2E_WRONG_KEY="sk-wrong-secret-456",
                    TIERLM_DATA_DIR=tempfile.mkdtemp(prefix="tierlm-e2e-data-"), **(env or {}))
    gw = Proc([TIERLM_BIN, "serve", "--config", cfg.name, *flags], env=full_env)
    deadline = time.monotonic() + 120
    while httpx.get(gw.url + "/ready", timeout=5).status_code != 200:
        if time.monotonic() > deadline or gw.proc.poll() is not None:
            gw.stop()
            raise RuntimeError("tierlm not ready: " + gw.stderr_text())
        time.sleep(0.2)
    return gw, cfg.name


def mock_stats(mock: Proc) -> dict:
    return httpx.get(mock.url + "/mock/stats", timeout=10).json()


# One provider of each wire format, all on the mock at `{ok}`.
PROVIDERS = """
[[providers]]
name = "oai"
kind = "openai"
base_url = "{ok}/v1"
api_key = "env::E2E_MOCK_KEY"

[[providers]]
name = "anth"
kind = "anthropic"
base_url = "{ok}"
api_key = "env::E2E_MOCK_KEY"

[[providers]]
name = "gem"
kind = "gemini"
base_url = "{ok}"
api_key = "env::E2E_MOCK_KEY"

[[providers]]
name = "compat"
kind = "openai_compatible"
base_url = "{ok}/v1"
"""

CONFIG = """
[server]
host = "127.0.0.1"
port = 0

[[models]]
name = "smollm2-135m"
path = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
context_size = 1024
parallel = 2

""" + PROVIDERS + """
[[providers]]
name = "flaky"
kind = "openai"
base_url = "{flaky}/v1"
api_key = "env::E2E_MOCK_KEY"
max_retries = 2
retry_base_ms = 1
breaker_failures = 100000

[[providers]]
name = "dead"
kind = "openai"
base_url = "{dead}/v1"
max_retries = 1
retry_base_ms = 1
breaker_failures = 100000

[[providers]]
name = "dead2"
kind = "anthropic"
base_url = "{dead}"
max_retries = 1
retry_base_ms = 1
breaker_failures = 100000

[[providers]]
name = "reset"
kind = "openai"
base_url = "{reset}/v1"

[[providers]]
name = "rejecting"
kind = "openai"
base_url = "{rejecting}/v1"

[[providers]]
name = "badkey"
kind = "openai"
base_url = "{keyed}/v1"
api_key = "env::E2E_WRONG_KEY"

[[providers]]
name = "breaker"
kind = "openai"
base_url = "{breaker}/v1"
max_retries = 0
breaker_failures = 3
breaker_cooldown_ms = 1500

[[cloud_models]]
name = "gpt-mock"
targets = ["oai/gpt-4o-mini"]

[[cloud_models]]
name = "claude-mock"
targets = ["anth/claude-3-5-haiku-latest"]

[[cloud_models]]
name = "gemini-mock"
targets = ["gem/gemini-2.0-flash"]

[[cloud_models]]
name = "compat-mock"
targets = ["compat/qwen2.5-7b-instruct"]

[[cloud_models]]
name = "resilient"
targets = ["flaky/gpt-4o-mini", "oai/gpt-4o-mini"]

[[cloud_models]]
name = "doomed"
targets = ["dead/gpt-4o", "dead2/claude-3-5-sonnet"]

[[cloud_models]]
name = "doomed-with-local"
targets = ["dead/gpt-4o"]
fallback_local = "smollm2-135m"

[[cloud_models]]
name = "breaking"
targets = ["reset/gpt-4o-mini"]

[[cloud_models]]
name = "rejected"
targets = ["rejecting/gpt-4o-mini"]

[[cloud_models]]
name = "unauthorised"
targets = ["badkey/gpt-4o-mini"]

[[cloud_models]]
name = "guarded"
targets = ["breaker/gpt-4o-mini", "oai/gpt-4o-mini"]
"""


@pytest.fixture(scope="module")
def cloud():
    """Start the mocks and a tierlm wired to them; yield a dict of URLs and procs."""
    record = tempfile.NamedTemporaryFile(prefix="mock-record-", suffix=".jsonl", delete=False)
    record.close()
    mocks = {
        "ok": start_mock("--record", record.name),
        "flaky": start_mock("--error-rate", "0.3", "--error-statuses", "500,429", "--retry-after", "0"),
        "dead": start_mock("--error-rate", "1", "--error-statuses", "503"),
        "reset": start_mock("--reset-after-chunks", "3"),
        "rejecting": start_mock("--error-rate", "1", "--error-statuses", "400"),
        "keyed": start_mock("--require-key", MOCK_KEY),
        "breaker": start_mock("--error-rate", "1", "--error-statuses", "500"),
    }
    try:
        gw, cfg = start_gateway(CONFIG.format(**{k: m.url for k, m in mocks.items()}), "--no-embeddings")
    except RuntimeError:
        for m in mocks.values():
            m.stop()
        raise
    yield {"url": gw.url, "gateway": gw, "mocks": mocks, "record": record.name}
    gw.stop()
    for m in mocks.values():
        m.stop()
    os.unlink(cfg)
    os.unlink(record.name)


# The dialect tests' gateway: SmolLM2, the mock as an OpenAI-compatible (`frontier`) and an
# Anthropic (`claude-mock`) cloud model, a router whose `sentiment` profile stays local and
# whose `code` profile goes to the cloud, and a SQLite ledger the tests read.
DIALECTS_CONFIG = """
[embeddings]
name = "all-minilm-l6-v2"
path = "models/all-MiniLM-L6-v2"

[[providers]]
name = "anth"
kind = "anthropic"
base_url = "{mock}"

[[cloud_models]]
name = "frontier"
targets = ["mock/gpt-4o"]

[[cloud_models]]
name = "claude-mock"
targets = ["anth/claude-3-5-haiku-latest"]

[ledger]
database_url = "sqlite://{db}"

[router]
local_model = "smollm2-135m"
cloud_model = "frontier"
default_route = "cascade"

[[router.profiles]]
name = "sentiment"
class = "routine"
examples = [
  "Is this movie review positive or negative? Review: a wonderful, moving film",
  "Is this movie review positive or negative? Review: dull plot and wooden acting",
]
labels = ["positive", "negative"]
min_confidence = 0.0
max_tokens = 4

[[router.profiles]]
name = "code"
class = "complex"
examples = [
  "Write a Python function that parses a date string. Return only the code.",
  "Implement a JavaScript function that debounces calls",
]
"""


@contextlib.contextmanager
def dialects_gateway():
    """A mock and a gateway on DIALECTS_CONFIG; the gateway's `db` is its ledger file."""
    mock = start_mock()
    db = os.path.join(tempfile.mkdtemp(prefix="dialects-ledger-"), "tierlm.db")
    try:
        gw, cfg = start_gateway(local_and_mock(mock.url, 2048) + DIALECTS_CONFIG.format(mock=mock.url, db=db))
    except RuntimeError:
        mock.stop()
        raise
    gw.db = db
    try:
        yield gw
    finally:
        gw.stop()
        mock.stop()
        os.unlink(cfg)
