"""The ledger and virtual keys on PostgreSQL, end to end: `tierlm migrate` creates the
schema once; two gateway replicas share one database, so a key created with the CLI works
on both, every request on either has its row, and the usage API, `tierlm report` and the
rows agree; no message content is stored."""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal

import httpx
import openai
import pytest

from cloud_fixtures import TIERLM_BIN, local_and_mock, start_gateway, start_mock
from helpers import REPO_ROOT
from pg import FreshDatabase, psql

CONFIG = """
[[cloud_models]]
name = "frontier"
targets = ["mock/gpt-4o-mini"]

[ledger]
database_url = "{db}"
baseline_model = "gpt-4o"

[auth]
require_keys = true
"""

CANARY = "pg-canary-5521: say hello"


def tierlm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TIERLM_BIN, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def db():
    d = FreshDatabase()
    yield d
    d.drop()


def test_migrate_creates_the_schema_once(db):
    first = tierlm("migrate", "--database", db.url)
    assert first.returncode == 0, first.stderr
    assert "applied 3 migrations; schema version 3" in first.stdout
    again = tierlm("migrate", "--database", db.url)
    assert again.returncode == 0, again.stderr
    assert "applied 0 migrations; schema version 3" in again.stdout
    tables = {r[0] for r in psql(db.url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"requests", "api_keys", "schema_migrations"} <= tables


def test_a_bad_database_url_is_a_clear_error():
    out = tierlm("migrate", "--database", "postgres://u:s3cret@127.0.0.1:1/none")
    assert out.returncode == 2
    assert "cannot connect" in out.stderr and "127.0.0.1:1" in out.stderr
    assert "s3cret" not in out.stderr


def test_two_replicas_share_keys_rows_and_usage(db):
    made = tierlm("keys", "create", "--database", db.url, "--tenant", "shared", "--budget-usd", "5")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("tk-")
    mock = start_mock()
    replicas = []
    try:
        for _ in range(2):
            replicas.append(start_gateway(local_and_mock(mock.url) + CONFIG.replace("{db}", db.url),
                                          "--no-embeddings"))
        answers = []
        for i, (gw, _) in enumerate(replicas * 3):
            c = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=120)
            model = "frontier" if i % 2 == 0 else "smollm2-135m"
            raw = c.chat.completions.with_raw_response.create(
                model=model, max_tokens=6, messages=[{"role": "user", "content": CANARY}],
                extra_headers={"x-request-id": f"pg-e2e-{i}"})
            r = raw.parse()
            answers.append((f"pg-e2e-{i}", raw.headers["x-tierlm-route"], r.usage.prompt_tokens,
                            r.usage.completion_tokens))
        rows = {r[0]: r for r in psql(db.url, "SELECT request_id, route, prompt_tokens, completion_tokens, "
                                              "tenant, cost FROM requests")}
        for rid, route, p, c_tokens in answers:
            assert rid in rows, f"{rid} has no row"
            assert rows[rid][1:5] == [route, str(p), str(c_tokens), "shared"]
        assert len(rows) == len(answers)
        cloud_cost = sum(int(r[5]) for r in rows.values())
        assert cloud_cost > 0

        # Either replica reports both replicas' rows.
        for gw, _ in replicas:
            usage = httpx.get(gw.url + "/v1/usage", headers={"authorization": f"Bearer {key}"},
                              timeout=30).json()
            assert usage["totals"]["requests"] == len(answers)
            assert Decimal(usage["totals"]["cost_usd"]) == Decimal(cloud_cost) / Decimal(10**12)
        report = tierlm("report", "--database", db.url, "--format", "json")
        assert report.returncode == 0, report.stderr
        assert json.loads(report.stdout)["totals"]["requests"] == len(answers)
        listed = tierlm("keys", "list", "--database", db.url, "--json")
        assert json.loads(listed.stdout)[0]["tenant"] == "shared"

        # Nothing of the message is kept, in any column of any table.
        dump = psql(db.url, "SELECT row_to_json(r)::text FROM requests r "
                            "UNION ALL SELECT row_to_json(k)::text FROM api_keys k")
        text = "\n".join(x[0] for x in dump)
        assert "canary" not in text and key not in text
    finally:
        for gw, cfg in replicas:
            gw.stop()
            os.unlink(cfg)
        mock.stop()
