"""End-to-end fixtures: one real `tierlm serve` process for the whole session.

The server is the release binary (target/release/tierlm, or $TIERLM_BIN) started from the
repository root with tests/e2e/tierlm-e2e.toml on a free port. Clients are the official
`openai` SDK (no workarounds) and httpx for raw HTTP cases.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
import time

import httpx
import openai
import pytest

from helpers import BINARY, CONFIG, REPO_ROOT, SMOL, user

START_TIMEOUT_S = 120
READY_TIMEOUT_S = 120
LISTEN_RE = re.compile(r"tierlm listening on (http://[^\s/]+)")


def _stderr_tail(path: str, limit: int = 8000) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-limit:]
    except OSError as e:
        return f"(could not read stderr: {e})"


@pytest.fixture(scope="session")
def server():
    """Start tierlm, wait until it listens and reports ready; yield its base URL."""
    if not os.path.isfile(BINARY):
        pytest.fail(f"{BINARY} not found; build it first: cargo build --release --workspace --bins")

    env = dict(os.environ, TIERLM_LOG="warn", TIERLM_DATA_DIR=tempfile.mkdtemp(prefix="tierlm-e2e-data-"))
    stderr_file = tempfile.NamedTemporaryFile(prefix="tierlm-e2e-", suffix=".stderr", delete=False)
    proc = subprocess.Popen(
        [BINARY, "serve", "--port", "0", "--config", CONFIG],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        text=True,
        bufsize=1,
    )

    # Read stdout on a thread for the whole session, so the pipe never fills up.
    lines: queue.Queue[str | None] = queue.Queue()
    stdout_seen: list[str] = []

    def pump():
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="tierlm-stdout", daemon=True).start()

    def die(msg: str):
        _stop(proc)
        pytest.fail(
            f"{msg}\n--- stdout ---\n{''.join(stdout_seen)[-4000:]}"
            f"\n--- stderr ---\n{_stderr_tail(stderr_file.name)}",
            pytrace=False,
        )

    base_url = None
    deadline = time.monotonic() + START_TIMEOUT_S
    while base_url is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            die(f"tierlm did not print 'tierlm listening on http://HOST:PORT' within {START_TIMEOUT_S} s")
        try:
            line = lines.get(timeout=min(remaining, 1.0))
        except queue.Empty:
            if proc.poll() is not None:
                die(f"tierlm exited with status {proc.returncode} before listening")
            continue
        if line is None:
            proc.wait(timeout=10)
            die(f"tierlm closed stdout (exit status {proc.returncode}) before listening")
        stdout_seen.append(line)
        m = LISTEN_RE.search(line)
        if m:
            base_url = m.group(1)

    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer yet"
    while True:
        if proc.poll() is not None:
            die(f"tierlm exited with status {proc.returncode} while loading")
        try:
            r = httpx.get(base_url + "/ready", timeout=5)
            if r.status_code == 200:
                break
            last = f"HTTP {r.status_code}: {r.text[:200]}"
        except httpx.HTTPError as e:
            last = repr(e)
        if time.monotonic() > deadline:
            die(f"GET /ready did not return 200 within {READY_TIMEOUT_S} s (last: {last})")
        time.sleep(0.25)

    yield base_url

    _stop(proc)
    os.unlink(stderr_file.name)


def _stop(proc: subprocess.Popen):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def base_url(server) -> str:
    return server


@pytest.fixture(scope="session")
def client(server) -> openai.OpenAI:
    c = openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0, timeout=120)
    yield c
    c.close()


@pytest.fixture(scope="session")
def http(server) -> httpx.Client:
    """Raw HTTP client for cases the SDK cannot express (bad bodies, wrong methods)."""
    with httpx.Client(base_url=server, timeout=120) as c:
        yield c


GREEDY_PROMPT = "Write one sentence about the ocean."


@pytest.fixture(scope="session")
def smol_greedy(client):
    """A temperature-0 non-streaming SmolLM2 answer, shared by the tests that compare with it."""
    params = dict(model=SMOL, messages=user(GREEDY_PROMPT), max_tokens=24, temperature=0, seed=7)
    resp = client.chat.completions.create(**params)
    return params, resp
