"""Client errors: HTTP status plus OpenAI's {"error": {...}} shape, one case per test."""

from __future__ import annotations

import json
import re
import socket
import time
from urllib.parse import urlsplit

import openai
import pytest

from helpers import EMBED, SMOL, assert_error, user

CHAT = "/v1/chat/completions"


def chat_body(**overrides):
    body = {"model": SMOL, "messages": user("Hi"), "max_tokens": 4}
    body.update(overrides)
    return body


def test_malformed_json(http):
    r = http.post(CHAT, content=b'{"model": "smollm2-135m", "messages": [', headers={"content-type": "application/json"})
    assert_error(r, 400)


def test_messages_wrong_type(http):
    r = http.post(CHAT, json=chat_body(messages="hello"))
    assert_error(r, 400)


def test_unknown_model(http):
    r = http.post(CHAT, json=chat_body(model="no-such-model"))
    err = assert_error(r, 404, code="model_not_found")
    assert "no-such-model" in err["message"]


def test_unknown_model_sdk(client):
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="no-such-model", messages=user("Hi"), max_tokens=4)
    assert exc.value.status_code == 404
    assert exc.value.code == "model_not_found"


def test_empty_messages(http):
    r = http.post(CHAT, json=chat_body(messages=[]))
    assert_error(r, 400)


def test_max_tokens_zero(http):
    r = http.post(CHAT, json=chat_body(max_tokens=0))
    assert_error(r, 400, param="max_tokens")


def test_max_tokens_zero_sdk(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=SMOL, messages=user("Hi"), max_tokens=0)
    assert exc.value.status_code == 400
    assert exc.value.param == "max_tokens"


LONG_PROMPT = " ".join(["word"] * 3000)


def test_context_length_exceeded(http):
    r = http.post(CHAT, json=chat_body(messages=user(LONG_PROMPT)))
    assert_error(r, 400, code="context_length_exceeded")


def test_context_length_exceeded_sdk(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=SMOL, messages=user(LONG_PROMPT), max_tokens=4)
    assert exc.value.code == "context_length_exceeded"


def test_invalid_json_schema(http):
    body = chat_body(response_format={
        "type": "json_schema",
        "json_schema": {"name": "bad", "schema": {"type": 12}},
    })
    r = http.post(CHAT, json=body)
    assert_error(r, 400)


@pytest.mark.parametrize("field,value", [("n", 100), ("temperature", 5)])
def test_out_of_range_value(http, field, value):
    r = http.post(CHAT, json=chat_body(**{field: value}))
    err = assert_error(r, 400)
    assert err["param"] in (None, field), err


def test_unknown_field(http):
    r = http.post(CHAT, json=chat_body(frobnicate_level=3))
    err = assert_error(r, 400)
    assert "frobnicate_level" in err["message"] or err["param"] == "frobnicate_level", err


def test_wrong_method(http):
    r = http.get(CHAT)
    assert_error(r, 405)


def test_unknown_path(http):
    r = http.get("/v1/does-not-exist")
    assert_error(r, 404)


def test_unknown_path_post(http):
    r = http.post("/v1/does-not-exist", json={})
    assert_error(r, 404)


def test_embeddings_unknown_model(http):
    r = http.post("/v1/embeddings", json={"model": "no-such-embedder", "input": "x"})
    assert_error(r, 404, code="model_not_found")


def test_embeddings_wrong_input_type(http):
    r = http.post("/v1/embeddings", json={"model": EMBED, "input": {"not": "text"}})
    assert_error(r, 400)


def _strip_interim(raw: bytes) -> bytes:
    """Drop any 1xx interim responses (e.g. 100 Continue) before the final one."""
    while re.match(rb"HTTP/1\.[01] 1\d\d", raw) and b"\r\n\r\n" in raw:
        raw = raw.partition(b"\r\n\r\n")[2]
    return raw


class _RawResponse:
    """Just enough of an HTTP response for assert_error()."""

    def __init__(self, raw: bytes):
        raw = _strip_interim(raw)
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_code = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = _unchunk(body)
        elif "content-length" in self.headers:
            body = body[: int(self.headers["content-length"])]
        self.text = body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.text)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return out


def _complete(raw: bytes) -> bool:
    raw = _strip_interim(raw)
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    headers = head.lower()
    if b"transfer-encoding: chunked" in headers:
        return body.endswith(b"0\r\n\r\n")
    for line in headers.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def test_body_too_large(base_url):
    """A 20 MB body gets 413. Sent over a raw socket with Expect: 100-continue so that a
    server that rejects early (by Content-Length) and closes can still be read reliably."""
    size = 20 * 1024 * 1024
    url = urlsplit(base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=60)
    try:
        sock.sendall(
            (f"POST {CHAT} HTTP/1.1\r\nHost: {url.netloc}\r\n"
             f"Content-Type: application/json\r\nContent-Length: {size}\r\n"
             "Expect: 100-continue\r\n\r\n").encode()
        )
        received = b""
        sock.settimeout(2)
        try:
            received = sock.recv(65536)
        except socket.timeout:
            pass  # servers may ignore Expect and wait for the body
        if not _strip_interim(received):
            sock.settimeout(60)
            prefix = b'{"model": "smollm2-135m", "messages": [{"role": "user", "content": "'
            chunk = b"a" * (1 << 20)
            sent = 0
            try:
                sock.sendall(prefix)
                sent = len(prefix)
                while sent < size:
                    piece = chunk[: min(len(chunk), size - sent)]
                    sock.sendall(piece)
                    sent += len(piece)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered early and closed; read what it sent
        sock.settimeout(60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            received += data
            if _complete(received):
                break
    finally:
        sock.close()
    assert received, "no response to a 20 MB body"
    assert_error(_RawResponse(received), 413)
