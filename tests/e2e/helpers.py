"""Shared constants and assertions for the end-to-end tests."""

from __future__ import annotations

import os
import time

import httpx

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("TIERLM_BIN", os.path.join(REPO_ROOT, "target", "release", "tierlm"))
CONFIG = os.path.join(REPO_ROOT, "tests", "e2e", "tierlm-e2e.toml")

SMOL = "smollm2-135m"
GEMMA = "gemma3-270m"
EMBED = "all-minilm-l6-v2"
CHAT_MODELS = [SMOL, GEMMA]

# CPU inference on a small machine is slow: keep generations short.
SHORT = 16


def assert_error(resp: httpx.Response, status: int, *, code: str | None = None,
                 param: str | None = None) -> dict:
    """Assert an OpenAI-shaped error: {"error": {"message", "type", "param", "code"}}.

    Returns the inner error object for further checks."""
    assert resp.status_code == status, (
        f"expected HTTP {status}, got {resp.status_code}: {resp.text[:500]}"
    )
    ctype = resp.headers.get("content-type", "")
    assert ctype.startswith("application/json"), f"error content-type is {ctype!r}: {resp.text[:500]}"
    body = resp.json()
    assert isinstance(body, dict) and set(body) == {"error"}, f"not an error envelope: {body}"
    err = body["error"]
    assert isinstance(err, dict), body
    for key in ("message", "type", "param", "code"):
        assert key in err, f"error object lacks {key!r}: {body}"
    assert isinstance(err["message"], str) and err["message"], body
    assert isinstance(err["type"], str) and err["type"], body
    assert err["param"] is None or isinstance(err["param"], str), body
    assert err["code"] is None or isinstance(err["code"], str), body
    if code is not None:
        assert err["code"] == code, f"expected code {code!r}: {body}"
    if param is not None:
        assert err["param"] == param, f"expected param {param!r}: {body}"
    return err


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def ledger_committed(db: str, timeout: float = 10.0) -> str:
    """Wait until the gateway's SQLite row queue (`DB-queue-a`, `DB-queue-b`) holds no
    rows, i.e. every acknowledged row is committed to `db`, and return `db`. Another
    process reading the file sees rows once the writer thread commits them, a few
    milliseconds after their responses; the gateway's own reads see them at once."""
    deadline = time.monotonic() + timeout
    while True:
        pending = 0
        for suffix in ("-queue-a", "-queue-b"):
            try:
                with open(db + suffix, "rb") as f:
                    pending += max(0, f.read().count(b"\n") - 1)
            except FileNotFoundError:
                pass
        if pending == 0:
            return db
        assert time.monotonic() < deadline, f"{pending} rows still queued for {db}"
        time.sleep(0.005)


def metric(url: str, name: str) -> float:
    """The first sample of metric `name` on the gateway at `url` (0 when absent)."""
    for line in httpx.get(url + "/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
