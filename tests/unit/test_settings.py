"""JOBSTORE_DATABASE_URL: a TCP address, or a Unix socket directory as libpq takes it (?host=/path); the HTTP
server's connection limits."""
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


def test_the_connection_limits_have_defaults_and_are_read_from_the_environment() -> None:
    default = Settings.from_environment({})
    assert (default.http_request_timeout, default.http_keep_alive_timeout, default.http_max_connections) == \
        (30.0, 5, 1000)
    chosen = Settings.from_environment({"JOBSTORE_HTTP_REQUEST_TIMEOUT": "1.5", "JOBSTORE_HTTP_KEEP_ALIVE_TIMEOUT": "1",
                                        "JOBSTORE_HTTP_MAX_CONNECTIONS": "20"})
    assert (chosen.http_request_timeout, chosen.http_keep_alive_timeout, chosen.http_max_connections) == (1.5, 1, 20)


@pytest.mark.parametrize(("name", "value"), [
    ("JOBSTORE_HTTP_REQUEST_TIMEOUT", "0"), ("JOBSTORE_HTTP_REQUEST_TIMEOUT", "soon"),
    ("JOBSTORE_HTTP_REQUEST_TIMEOUT", "nan"), ("JOBSTORE_HTTP_KEEP_ALIVE_TIMEOUT", "0.5"),
    ("JOBSTORE_HTTP_MAX_CONNECTIONS", "0"), ("JOBSTORE_HTTP_MAX_CONNECTIONS", "1e3"),
])
def test_a_connection_limit_that_is_not_a_number_in_range_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"{name}={value!r} must be"):
        Settings.from_environment({name: value})


def test_a_keep_alive_timeout_longer_than_the_request_timeout_is_refused() -> None:
    with pytest.raises(SettingsError, match="JOBSTORE_HTTP_KEEP_ALIVE_TIMEOUT=60 must not exceed"):
        Settings.from_environment({"JOBSTORE_HTTP_KEEP_ALIVE_TIMEOUT": "60"})


def test_the_log_settings_are_read_and_checked() -> None:
    default = Settings.from_environment({"JOBSTORE_HOME": "/tmp/home-x"})
    assert default.signing_key_path == Path("/tmp/home-x/log-signing.key")
    assert (default.log_name, default.log_tree) == (None, True)
    chosen = Settings.from_environment({"JOBSTORE_LOG_SIGNING_KEY": "/keys/log.key", "JOBSTORE_LOG_NAME":
                                        "jobs.example.com/log", "JOBSTORE_LOG_TREE": "off"})
    assert (chosen.signing_key_path, chosen.log_name, chosen.log_tree) == (Path("/keys/log.key"),
                                                                           "jobs.example.com/log", False)
    for name, wrong in [("JOBSTORE_LOG_NAME", "a+b"), ("JOBSTORE_LOG_NAME", "a b"), ("JOBSTORE_LOG_TREE", "no")]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_environment({name: wrong})


def test_several_servers_and_libpq_parameters_are_kept_as_libpq_takes_them() -> None:
    assert parts("postgresql://jobs:pw@db1:5432,db2:5433/jobstore?target_session_attrs=read-write&sslmode=require") \
        == {"host": "db1,db2", "port": "5432,5433", "user": "jobs", "password": "pw", "dbname": "jobstore",
            "target_session_attrs": "read-write", "sslmode": "require"}
    assert parts("postgresql://jobs@db1,db2/jobstore")["port"] == "5432,5432"  # the default port for each


def test_reads_from_standbys_need_a_primary_and_say_where_they_fall_back() -> None:
    chosen = Settings.from_environment({"JOBSTORE_DATABASE_URL": "postgresql://u@db1/jobs",
                                        "JOBSTORE_READ_DATABASE_URL": "postgresql://u@db2,db3/jobs",
                                        "JOBSTORE_READ_FALLBACK": "none"})
    assert (chosen.read_database_url, chosen.read_fallback) == ("postgresql://u@db2,db3/jobs", False)
    assert chosen.postgres(chosen.read_database_url)["host"] == "db2,db3"
    assert Settings.from_environment({}).read_fallback is True
    with pytest.raises(SettingsError, match="set JOBSTORE_DATABASE_URL to the primary too"):
        Settings.from_environment({"JOBSTORE_READ_DATABASE_URL": "postgresql://u@db2/jobs"})
    with pytest.raises(SettingsError, match="JOBSTORE_READ_FALLBACK='standby' must be primary"):
        Settings.from_environment({"JOBSTORE_READ_FALLBACK": "standby"})
    with pytest.raises(SettingsError, match="JOBSTORE_READ_DATABASE_URL must look like"):
        Settings.from_environment({"JOBSTORE_DATABASE_URL": "postgresql://u@db1/jobs",
                                   "JOBSTORE_READ_DATABASE_URL": "postgresql://u@db2/"})
