"""The PostgreSQL test server for end-to-end tests: its URL from
TIERLM_TEST_POSTGRES_URL (scripts/test sets it from scripts/test-postgres), fresh
databases on it, and queries through psql. Without the variable the tests skip, except
under CI=true, where they fail: CI must not report a PostgreSQL path it did not test."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess

import pytest


def server_url() -> str:
    url = os.environ.get("TIERLM_TEST_POSTGRES_URL", "").strip()
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but TIERLM_TEST_POSTGRES_URL is not set (scripts/test-postgres start)")
    pytest.skip("TIERLM_TEST_POSTGRES_URL is not set")


def psql_bin() -> str:
    found = shutil.which("psql") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))), None)
    if not found:
        pytest.fail("psql not found (scripts/test-postgres installs PostgreSQL)")
    return found


def psql(url: str, sql: str) -> list[list[str]]:
    """Rows of `sql` on `url`, as lists of strings (tab-separated psql output)."""
    out = subprocess.run([psql_bin(), url, "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "\t", "-c", sql],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines() if line]


class FreshDatabase:
    """A new empty database on the test server; `drop()` removes it."""

    def __init__(self):
        self.server = server_url()
        self.name = "tierlm_e2e_" + secrets.token_hex(6)
        psql(self.server, f"CREATE DATABASE {self.name}")
        self.url = self.server.rsplit("/", 1)[0] + "/" + self.name

    def drop(self):
        psql(self.server, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
