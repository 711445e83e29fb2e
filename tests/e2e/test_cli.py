"""The binary's other commands: `models pull` (with resume and checksum) and `--check-config`."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from helpers import BINARY, CONFIG, REPO_ROOT

MB = 1024 * 1024


def run_tierlm(*args, timeout=120):
    if not os.path.isfile(BINARY):
        pytest.fail(f"{BINARY} not found; build it first: cargo build --release --workspace --bins")
    return subprocess.run(
        [BINARY, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, env=dict(os.environ, TIERLM_LOG="warn"),
    )


class FileServer:
    """A threaded HTTP server for one in-memory file, with Range support; records requests."""

    def __init__(self, name: str, data: bytes):
        self.name, self.data = name, data
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self, head: bool):
                rng = self.headers.get("Range")
                outer.requests.append((self.command, self.path, rng))
                if self.path.split("?")[0] != "/" + outer.name:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                total = len(outer.data)
                start, end = 0, total - 1
                status = 200
                if rng:
                    spec = rng.strip()
                    if not spec.startswith("bytes=") or "," in spec:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{total}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    first, _, last = spec[len("bytes="):].partition("-")
                    if first == "":  # suffix range: last N bytes
                        start = max(0, total - int(last))
                    else:
                        start = int(first)
                        end = min(int(last), total - 1) if last else total - 1
                    if start >= total or start > end:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{total}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                body = outer.data[start:end + 1]
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{total}")
                self.end_headers()
                if not head:
                    try:
                        self.wfile.write(body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass

            def do_GET(self):
                self._serve(head=False)

            def do_HEAD(self):
                self._serve(head=True)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def blob():
    data = os.urandom(3 * MB)
    return data, hashlib.sha256(data).hexdigest()


def test_models_pull(tmp_path, blob):
    data, digest = blob
    with FileServer("tiny.gguf", data) as srv:
        r = run_tierlm("models", "pull", srv.url, "--dir", str(tmp_path), "--sha256", digest)
    assert r.returncode == 0, r.stderr
    final = tmp_path / "tiny.gguf"
    assert final.read_bytes() == data
    assert not (tmp_path / "tiny.gguf.part").exists()


def test_models_pull_wrong_checksum(tmp_path, blob):
    data, _ = blob
    wrong = hashlib.sha256(b"something else").hexdigest()
    with FileServer("tiny.gguf", data) as srv:
        r = run_tierlm("models", "pull", srv.url, "--dir", str(tmp_path), "--sha256", wrong)
    assert r.returncode != 0, r.stdout + r.stderr
    assert not (tmp_path / "tiny.gguf").exists(), "a file that failed its checksum was left in place"


def test_models_pull_resumes(tmp_path, blob):
    data, digest = blob
    (tmp_path / "tiny.gguf.part").write_bytes(data[:MB])
    with FileServer("tiny.gguf", data) as srv:
        r = run_tierlm("models", "pull", srv.url, "--dir", str(tmp_path), "--sha256", digest)
        requests = list(srv.requests)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "tiny.gguf").read_bytes() == data
    ranges = [rng for method, _, rng in requests if method == "GET"]
    assert f"bytes={MB}-" in [(x or "").replace(" ", "") for x in ranges], requests


def test_check_config_valid():
    r = run_tierlm("serve", "--check-config", "--config", CONFIG, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_config_unknown_key(tmp_path):
    with open(CONFIG) as f:
        text = f.read()
    assert "port = 0\n" in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("port = 0\n", "port = 0\ntemprature = 0.7\n", 1))
    r = run_tierlm("serve", "--check-config", "--config", str(bad), timeout=60)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "temprature" in r.stderr, r.stderr
