"""JOBSTORE_DATABASE_URL: a TCP address, or a Unix socket directory as libpq takes it (?host=/path)."""
from __future__ import annotations

from pathlib import Path

import pytest

from jobstore.adapters.settings import Settings, SettingsError


def parts(url: str) -> dict[str, str]:
    return Settings(home=Path("/tmp/unused"), database_url=url).postgres()


def test_a_tcp_url_gives_host_port_user_password_and_database() -> None:
    assert parts("postgresql://jobs:s%40cret@db.internal:6432/jobstore") == {
        "host": "db.internal", "port": "6432", "user": "jobs", "password": "s@cret", "dbname": "jobstore"}


def test_a_unix_socket_directory_is_given_as_the_host_parameter() -> None:
    assert parts("postgresql://postgres@/jobstore?host=/run/postgresql&port=5433") == {
        "host": "/run/postgresql", "port": "5433", "user": "postgres", "password": "", "dbname": "jobstore"}


@pytest.mark.parametrize("url", ["postgresql:///jobstore", "mysql://u@h/db", "postgresql://u@h/"])
def test_a_url_without_a_host_or_database_is_refused_with_the_shape_expected(url: str) -> None:
    with pytest.raises(SettingsError, match=r"postgresql://user:password@host:port/dbname.*\?host="):
        parts(url)


def test_the_idempotency_records_one_api_key_keeps_are_a_setting_of_1_or_more() -> None:
    assert Settings.from_environment({}).idempotency_records_per_key == 1_000_000
    assert Settings.from_environment({"JOBSTORE_IDEMPOTENCY_RECORDS_PER_KEY": "50"}).idempotency_records_per_key == 50
    for wrong in ("0", "-1", "many"):
        with pytest.raises(SettingsError, match="JOBSTORE_IDEMPOTENCY_RECORDS_PER_KEY"):
            Settings.from_environment({"JOBSTORE_IDEMPOTENCY_RECORDS_PER_KEY": wrong})
