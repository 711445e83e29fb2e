"""Cloud providers over HTTPS: a private certificate authority (per provider, and for
all through `SSL_CERT_FILE`), a refused certificate, and connection reuse over TLS.

`trustme` makes a throw-away certificate authority and a certificate for 127.0.0.1;
`tierlm-mockcloud --tls-cert/--tls-key` serves HTTPS with it. tierlm trusts the
authority only where a provider names it in `ca_file`: the same server behind a
provider without it must be refused at the handshake, with an error that says why.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import tempfile

import httpx
import openai
import pytest
import trustme

from cloud_fixtures import TIERLM_BIN, start_gateway, start_mock

CONFIG = """
models = []

[server]
host = "127.0.0.1"
port = 0

[[providers]]
name = "private"
kind = "openai_compatible"
base_url = "{url}/v1"
ca_file = "{ca}"
max_retries = 0

[[providers]]
name = "untrusted"
kind = "openai_compatible"
base_url = "{url}/v1"
max_retries = 0

[[cloud_models]]
name = "internal-llm"
targets = ["private/qwen2.5-7b-instruct"]

[[cloud_models]]
name = "unverified-llm"
targets = ["untrusted/qwen2.5-7b-instruct"]
"""


@pytest.fixture(scope="module")
def tls_cloud():
    tmp = tempfile.mkdtemp(prefix="tierlm-tls-")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    paths = {name: os.path.join(tmp, name) for name in ("ca.pem", "cert.pem", "key.pem")}
    ca.cert_pem.write_to_path(paths["ca.pem"])
    server.private_key_pem.write_to_path(paths["key.pem"])
    # The leaf first, then any intermediates: what a server sends.
    with open(paths["cert.pem"], "wb") as f:
        for blob in server.cert_chain_pems:
            f.write(blob.bytes())
    mock = start_mock("--tls-cert", paths["cert.pem"], "--tls-key", paths["key.pem"])
    assert mock.url.startswith("https://"), mock.url
    try:
        # No machine bundle: only `ca_file` decides (an empty SSL_CERT_FILE is ignored).
        gw, cfg = start_gateway(CONFIG.format(url=mock.url, ca=paths["ca.pem"]), "--no-embeddings",
                                env={"SSL_CERT_FILE": ""})
    except RuntimeError:
        mock.stop()
        raise
    yield {"url": gw.url, "mock": mock, "ca": paths["ca.pem"], "tmp": tmp}
    os.unlink(cfg)
    gw.stop()
    mock.stop()


def mock_stats_tls(env) -> dict:
    # The mock's own statistics, fetched over the same TLS with the test's authority.
    trust = ssl.create_default_context(cafile=env["ca"])
    return httpx.get(env["mock"].url + "/mock/stats", timeout=10, verify=trust).json()


def test_a_provider_behind_a_private_authority_answers_and_streams(tls_cloud):
    c = openai.OpenAI(base_url=tls_cloud["url"] + "/v1", api_key="unused", max_retries=0, timeout=30)
    kw = dict(model="internal-llm", messages=[{"role": "user", "content": "Name three rivers."}], max_tokens=12)
    raw = c.chat.completions.with_raw_response.create(**kw)
    whole = raw.parse()
    assert raw.headers["x-tierlm-route"] == "cloud"
    assert raw.headers["x-tierlm-provider"] == "private"
    assert whole.choices[0].message.content
    streamed = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(**kw, stream=True)
                       if ch.choices)
    assert streamed == whole.choices[0].message.content


def test_tls_connections_are_reused(tls_cloud):
    # A handshake per request would add a round trip and a key exchange to every answer.
    c = openai.OpenAI(base_url=tls_cloud["url"] + "/v1", api_key="unused", max_retries=0, timeout=30)
    kw = dict(model="internal-llm", messages=[{"role": "user", "content": "Say yes."}], max_tokens=4)
    c.chat.completions.create(**kw)  # warms the pool
    before = mock_stats_tls(tls_cloud)
    for i in range(6):
        if i % 2:
            for _ in c.chat.completions.create(**kw, stream=True):
                pass
        else:
            c.chat.completions.create(**kw)
    after = mock_stats_tls(tls_cloud)
    # The test's own /mock/stats call is one more connection on each side of the window.
    assert after["requests"] - before["requests"] == 6
    assert after["connections"] - before["connections"] <= 2, (before, after)


def test_a_certificate_no_root_vouches_for_is_refused_with_a_reason(tls_cloud):
    r = httpx.post(tls_cloud["url"] + "/v1/chat/completions", timeout=30,
                   json={"model": "unverified-llm", "messages": [{"role": "user", "content": "hi"}],
                         "max_tokens": 4})
    # Unreachable, as a refused connection is: the next target would be tried.
    assert r.status_code == 503, r.text
    err = r.json()["error"]
    assert err["code"] == "provider_unavailable", err
    assert set(err) >= {"message", "type", "param", "code"}
    msg = err["message"]
    assert "untrusted" in msg and "UnknownIssuer" in msg and "ca_file" in msg, msg


def test_a_ca_file_that_is_not_a_certificate_stops_the_server_with_its_path(tls_cloud):
    bad = os.path.join(tls_cloud["tmp"], "not-a-ca.pem")
    with open(bad, "w") as f:
        f.write("this is not a certificate\n")
    cfg = os.path.join(tls_cloud["tmp"], "bad.toml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(url=tls_cloud["mock"].url, ca=bad))
    p = subprocess.run([TIERLM_BIN, "serve", "--config", cfg, "--no-embeddings"], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, TIERLM_DATA_DIR=tls_cloud["tmp"], SSL_CERT_FILE=""))
    assert p.returncode != 0
    assert "ca_file" in p.stderr and bad in p.stderr and "panicked" not in p.stderr, p.stderr


def test_ssl_cert_file_makes_every_https_provider_trust_the_bundle(tls_cloud):
    # The way a machine's own bundle (a company's TLS-inspecting proxy, say) is usually
    # handed to OpenSSL, curl and Python: the provider without `ca_file` now connects.
    with open(os.path.join(tls_cloud["tmp"], "bundle.pem"), "w") as f, open(tls_cloud["ca"]) as ca:
        f.write(ca.read())
    config = CONFIG.format(url=tls_cloud["mock"].url, ca=tls_cloud["ca"])
    gw, cfg = start_gateway(config, "--no-embeddings", env={"SSL_CERT_FILE": f.name})
    try:
        r = httpx.post(gw.url + "/v1/chat/completions", timeout=30,
                       json={"model": "unverified-llm", "messages": [{"role": "user", "content": "hi"}],
                             "max_tokens": 4})
        assert r.status_code == 200, r.text
        assert r.headers["x-tierlm-provider"] == "untrusted"
    finally:
        gw.stop()
        os.unlink(cfg)


def test_an_ssl_cert_file_that_does_not_exist_stops_the_server(tls_cloud):
    cfg = os.path.join(tls_cloud["tmp"], "ssl-cert-file.toml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(url=tls_cloud["mock"].url, ca=tls_cloud["ca"]))
    missing = os.path.join(tls_cloud["tmp"], "no-such-bundle.pem")
    p = subprocess.run([TIERLM_BIN, "serve", "--config", cfg, "--no-embeddings"], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, TIERLM_DATA_DIR=tls_cloud["tmp"], SSL_CERT_FILE=missing))
    assert p.returncode != 0
    assert "SSL_CERT_FILE" in p.stderr and missing in p.stderr and "panicked" not in p.stderr, p.stderr
