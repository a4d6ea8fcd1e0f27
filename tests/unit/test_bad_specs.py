"""A table of mistakes a person makes in a spec. Each must give exactly one problem that
names the field, says what is wrong and how to fix it; the CLI must exit 2 and write nothing."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hardhouse.cli import main
from hardhouse.problems import SpecError
from hardhouse.render import render
from hardhouse.spec import load_spec
from tests.unit.conftest import PASSWORDS, VALID_SPEC

Mutation = Callable[[dict[str, Any], dict[str, str]], None]


def set_path(path: str, value: Any) -> Mutation:
    """Set a dotted path (users.0.networks) to value."""

    def mutate(spec: dict[str, Any], environ: dict[str, str]) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def delete(path: str) -> Mutation:
    def mutate(spec: dict[str, Any], environ: dict[str, str]) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return mutate


def env(name: str, value: str | None) -> Mutation:
    def mutate(spec: dict[str, Any], environ: dict[str, str]) -> None:
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(spec: dict[str, Any], environ: dict[str, str]) -> None:
        for mutation in mutations:
            mutation(spec, environ)

    return mutate


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


LEAKABLE = "Tr0ub4dor&3-plain"  # a plaintext a user wrongly put in a spec; must never be echoed

BAD_SPECS = [
    pytest.param(set_path("listen_host", ["10.0.0.5"]), "listen_host", "unknown field", "listen_hosts", id="typo in a top-level field"),
    pytest.param(set_path("users.0.password", LEAKABLE), "users[0].password", "plaintext password", "password_env", id="plaintext password"),
    pytest.param(set_path("clickhouse_version", 22.10), "clickhouse_version", "is a number", "quote it", id="version as a YAML number"),
    pytest.param(set_path("clickhouse_version", "20.3"), "clickhouse_version", "not a supported target", "18.16", id="unsupported version"),
    pytest.param(set_path("clickhouse_version", "24"), "clickhouse_version", "major.minor", "supported targets", id="malformed version"),
    pytest.param(set_path("listen_hosts", ["0.0.0.0"]), "listen_hosts[0]", "every interface", "allow_all_interfaces", id="listen on every interface"),
    pytest.param(set_path("listen_hosts", ["10.0.0.5", "db.example"]), "listen_hosts[1]", "not an IP address", "explicit address", id="hostname as listen address"),
    pytest.param(set_path("listen_hosts", []), "listen_hosts", "no listen address", "list the addresses", id="no listen address"),
    pytest.param(set_path("users.0.networks", ["::/0"]), "users[0].networks[0]", "any address", "allow_any_network", id="user reachable from anywhere"),
    pytest.param(set_path("users.0.networks", ["10.0.0.300/8"]), "users[0].networks[0]", "not an IP network", "CIDR", id="malformed network"),
    pytest.param(set_path("users.0.networks", ["10.0.0.1/8"]), "users[0].networks[0]", "not an IP network", "10.0.0.0/8", id="network with host bits"),
    pytest.param(set_path("users.0.networks", []), "users[0].networks", "no client network", "list the networks", id="no networks"),
    pytest.param(delete("users.0.password_env"), "users[0]", "no password source", "exactly one", id="no password"),
    pytest.param(set_path("users.0.password_sha256_hex", sha("x" * 20)), "users[0]", "several password sources", "exactly one", id="two password sources"),
    pytest.param(both(delete("users.0.password_env"), set_path("users.0.password_sha256_hex", "ABC")), "users[0].password_sha256_hex", "64 lowercase hex", "sha256sum", id="malformed hash"),
    pytest.param(both(delete("users.0.password_env"), set_path("users.0.password_sha256_hex", sha(""))), "users[0].password_sha256_hex", "empty password", "strong password", id="hash of the empty password"),
    pytest.param(both(delete("users.0.password_env"), set_path("users.0.password_sha256_hex", sha("clickhouse"))), "users[0].password_sha256_hex", "well-known password", "strong password", id="hash of a well-known password"),
    pytest.param(env("CH_INGEST_PASSWORD", None), "users[0].password_env", "is not set", "export CH_INGEST_PASSWORD", id="password variable not set"),
    pytest.param(env("CH_INGEST_PASSWORD", ""), "users[0].password_env", "empty", "random password", id="empty password"),
    pytest.param(env("CH_INGEST_PASSWORD", "Zq8#xv"), "users[0].password_env", "fewer than 12", "at least 12", id="short password"),
    pytest.param(env("CH_INGEST_PASSWORD", "password1234"), "users[0].password_env", "trivially guessable", "random password", id="guessable password"),
    pytest.param(env("CH_INGEST_PASSWORD", "ingestingest"), "users[0].password_env", "trivially guessable", "random password", id="password made of the user name"),
    pytest.param(both(delete("users.0.password_env"), set_path("users.0.password_file", "/nonexistent/hardhouse-secret")), "users[0].password_file", "cannot read", "readable file", id="missing password file"),
    pytest.param(set_path("users.0.name", "log<writer>"), "users[0].name", "cannot be used", "starts with a letter", id="user name that breaks XML"),
    pytest.param(set_path("users.0.name", "default"), "users[0].name", "stock default user", "default_user", id="declaring the default user"),
    pytest.param(set_path("users.1.name", "ingest"), "users[1].name", "declared twice", "once", id="duplicate user"),
    pytest.param(delete("tls"), "tls", "no certificate and key", "tls.certificate", id="TLS port without certificate"),
    pytest.param(set_path("tls.private_key", "server.key"), "tls.private_key", "absolute path", "full path", id="relative key path"),
    pytest.param(set_path("tls.verify_clients", True), "tls", "no ca_certificate", "ca_certificate", id="client verification without CA"),
    pytest.param(set_path("tls.min_protocol", "tlsv1_1"), "tls.min_protocol", "not allowed", "tlsv1_2", id="TLS 1.1 as minimum"),
    pytest.param(set_path("tls.cert", "/x.crt"), "tls.cert", "unknown field", "certificate", id="typo in a TLS field"),
    pytest.param(both(set_path("clickhouse_version", "18.16"), set_path("ports.mysql", 9004)), "ports.mysql", "needs ClickHouse 22.8", "ports.mysql: null", id="feature the target lacks"),
    pytest.param(set_path("ports.https", 70000), "ports.https", "not a TCP port", "1 to 65535", id="port out of range"),
    pytest.param(set_path("ports.https", "8443"), "ports.https", "not a whole number", "without quotes", id="port as a string"),
    pytest.param(set_path("ports.native_tls", 8443), "ports.native_tls", "also used", "own port", id="two interfaces on one port"),
    pytest.param(set_path("ports", {"https": None, "native_tls": None}), "ports", "every port is closed", "open at least", id="every port closed"),
    pytest.param(set_path("users.0.profile", "writers"), "users[0].profile", "not defined", "writer", id="unknown profile"),
    pytest.param(set_path("users.0.quota", "hourly"), "users[0].quota", "not defined", "define it under quotas", id="unknown quota"),
    pytest.param(set_path("profiles.writer", {"max memory": 1}), "profiles", "setting name", "starts with a letter", id="setting name that breaks XML"),
    pytest.param(set_path("profiles.writer", {"log_comment": "a\x00b"}), "profiles", "control character", "single-line", id="control character in a setting"),
    pytest.param(set_path("profiles.hardhouse_locked", {"readonly": 1}), "profiles.hardhouse_locked", "reserved", "rename", id="reserved profile name"),
    pytest.param(set_path("default_user", "keep"), "default_user", "not allowed", "'remove' or 'lock'", id="unknown default_user mode"),
    pytest.param(set_path("users.0.databases", []), "users[0].databases", "empty allow-list", "omit databases", id="empty database allow-list"),
    pytest.param(set_path("users.0.databases", ["logs;drop"]), "users[0].databases[0]", "cannot be used", "starts with a letter", id="bad database name"),
    pytest.param(delete("users"), "users", "required field is missing", "users", id="no users section"),
    pytest.param(set_path("users.0.allow_any_network", "yes"), "users[0].allow_any_network", "not true or false", "true or false", id="boolean as a string"),
]


def problems_of(mutation: Mutation) -> tuple[list[Any], dict[str, str]]:
    spec, environ = copy.deepcopy(VALID_SPEC), dict(PASSWORDS)
    mutation(spec, environ)
    try:
        render(load_spec(spec), environ)
    except SpecError as error:
        return error.problems, environ
    return [], environ


@pytest.mark.parametrize(("mutation", "path", "problem", "fix"), BAD_SPECS)
def test_bad_spec_gives_one_clear_problem(mutation: Mutation, path: str, problem: str, fix: str) -> None:
    problems, _ = problems_of(mutation)
    assert len(problems) == 1, problems
    assert problems[0].path == path
    assert problem in problems[0].problem
    assert fix in problems[0].fix
    assert LEAKABLE not in str(problems[0])


@pytest.mark.parametrize(("mutation", "path", "problem", "fix"), BAD_SPECS)
def test_cli_exits_2_names_the_field_and_writes_nothing(tmp_path: Path, mutation: Mutation, path: str, problem: str, fix: str) -> None:
    spec, environ = copy.deepcopy(VALID_SPEC), dict(PASSWORDS)
    mutation(spec, environ)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", "--spec", str(spec_file), "--out", str(out)], env={**{k: None for k in PASSWORDS}, **environ})
    assert result.exit_code == 2, result.output
    assert f"{path}: " in result.output or (not path and "spec:" in result.output)
    assert "Traceback" not in result.output
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], "a staging directory was left behind"
    for secret in (*environ.values(), LEAKABLE):
        if len(secret) >= 6:
            assert secret not in result.output


def test_every_problem_is_reported_at_once(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    spec_dict["listen_hosts"] = ["db.example"]
    spec_dict["ports"]["https"] = 0
    spec_dict["users"][1]["networks"] = ["10.1.2.3/24"]
    with pytest.raises(SpecError) as error:
        load_spec(spec_dict)
    assert [p.path for p in error.value.problems] == ["listen_hosts[0]", "ports.https", "users[1].networks[0]"]


def test_all_secret_problems_are_reported_at_once(spec_dict: dict[str, Any]) -> None:
    with pytest.raises(SpecError) as error:
        render(load_spec(spec_dict), {})
    assert [p.path for p in error.value.problems] == ["users[0].password_env", "users[1].password_env"]


def test_spec_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(SpecError) as error:
        load_spec(["not", "a", "mapping"])
    assert "not a mapping" in str(error.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("clickhouse_version: \"24.8\"\nlisten_hosts: [10.0.0.5\n")
    result = CliRunner().invoke(main, ["check", "--spec", str(spec_file)])
    assert result.exit_code == 2
    assert "not valid YAML at line" in result.output


def test_missing_spec_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["render", "--spec", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "cannot read spec file" in result.output
    assert not (tmp_path / "out").exists()
