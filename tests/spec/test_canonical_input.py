"""Canonical input: whole-string patterns, no control characters, one host-path rule, the
any-network and any-interface guards judged in the IPv4-mapped view, bounded messages and
no secret echoed. (The table in test_bad_specs.py covers one mistake per row; these are the
rules themselves and what still passes.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from lxml import etree
from pydantic_core import PydanticCustomError

from hardhouse.cli import main
from hardhouse.render import render
from hardhouse.spec import load_spec
from hardhouse.spec.errors import SpecError, excerpt, field_path
from hardhouse.spec.fields import (
    check_address,
    check_env_name,
    check_host_path,
    check_name,
    check_sha256_hex,
    everything_covered,
    has_control_character,
    is_plain_host_path,
    listens_everywhere,
    parse_network,
)

# ---------------------------------------------------------------- whole-string patterns


@pytest.mark.parametrize(
    ("check", "valid"),
    [
        (lambda v: check_name(v, "user name"), "ingest"),
        (lambda v: check_env_name(v, "CH_X"), "CH_INGEST_PASSWORD"),
        (check_sha256_hex, "a" * 64),
        (check_host_path, "/etc/clickhouse-server/tls/server.crt"),
        (check_address, "10.0.0.5"),
    ],
)
@pytest.mark.parametrize("suffix", ["\n", "\r\n", "\x00", " "])
def test_a_value_followed_by_anything_is_not_the_value(check: Any, valid: str, suffix: str) -> None:
    assert check(valid) == valid
    with pytest.raises(PydanticCustomError):
        check(valid + suffix)


@pytest.mark.parametrize(
    "char",
    [
        "\x00",
        "\t",
        "\n",
        "\r",
        "\x1b",
        "\x7f",
        "\x80",
        "\x85",
        "\x9f",
        "\u2028",
        "\u2029",
        "\ud800",
        "\udfff",
        "\ufffe",
        "\uffff",
    ],
)
def test_control_characters_are_recognised(char: str) -> None:
    assert has_control_character(f"a{char}b")


@pytest.mark.parametrize("text", ["plain", "é ü ß", "<>&'\"]]>", "\u00a0", "\U0001f600", "\ufffd"])
def test_printable_text_is_not_a_control_character(text: str) -> None:
    assert not has_control_character(text)


# ---------------------------------------------------------------- host paths


@pytest.mark.parametrize(
    "path",
    [
        "/etc/clickhouse-server/tls/server.crt",
        "/etc/ssl/private/db+1@site.key",
        "/a",
        "/opt/pki/.hidden/ca-bundle_2.pem",
    ],
)
def test_plain_host_paths(path: str) -> None:
    assert is_plain_host_path(path)
    assert check_host_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "relative/server.crt",
        "./server.crt",
        "~/server.crt",
        "/etc//server.crt",
        "/etc/server.crt/",
        "/etc/./server.crt",
        "/etc/../server.crt",
        "/..",
        "/etc/server crt",
        "/etc/server\n.crt",
        "/etc/server\x00.crt",
        "/etc/$(id).crt",
        "/etc/`id`.crt",
        "/etc/a;b",
        "/etc/a<b>",
        "/etc/a&b",
        "/etc/'a'",
        '/etc/"a"',
        "/etc/a\\b",
        "/etc/caf\u00e9.crt",
        "/etc/a*",
        "/" + "a" * 4096,
    ],
)
def test_not_plain_host_paths(path: str) -> None:
    assert not is_plain_host_path(path)
    with pytest.raises(PydanticCustomError) as error:
        check_host_path(path)
    assert "e.g. /" in error.value.context["fix"]


def test_host_path_predicate_takes_anything() -> None:
    assert not is_plain_host_path(None)
    assert not is_plain_host_path(b"/etc/x")


def test_the_longest_plain_host_path_is_4096_bytes() -> None:
    assert is_plain_host_path("/" + "a" * 4095)
    assert not is_plain_host_path("/" + "a" * 4096)


# ---------------------------------------------------------------- addresses and networks


def test_an_ipv6_zone_of_plain_characters_is_kept(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    spec_dict["listen_hosts"] = ["10.0.0.5", "fe80::1%eth0.100"]
    listen = next(f for f in render(load_spec(spec_dict), environ) if f.path.endswith("listen.xml"))
    hosts = [
        e.text for e in etree.fromstring(listen.content.encode()).findall("listen_host") if e.get("remove") is None
    ]
    assert hosts == ["10.0.0.5", "fe80::1%eth0.100"]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "::ffff:0.0.0.0", "::ffff:0:0", "0:0:0:0:0:ffff:0:0"])
def test_every_wildcard_listens_everywhere(host: str) -> None:
    assert listens_everywhere(host)


@pytest.mark.parametrize("host", ["10.0.0.5", "::1", "::ffff:10.0.0.5", "fe80::1%eth0"])
def test_specific_addresses_do_not_listen_everywhere(host: str) -> None:
    assert not listens_everywhere(host)


def test_mapped_wildcard_is_allowed_when_asked_for(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    spec_dict["listen_hosts"] = ["::ffff:0.0.0.0"]
    spec_dict["allow_all_interfaces"] = True
    render(load_spec(spec_dict), environ)


@pytest.mark.parametrize(
    ("networks", "covered"),
    [
        (["0.0.0.0/1", "128.0.0.0/1"], ["every IPv4 address"]),
        (["::ffff:0:0/97", "::ffff:128.0.0.0/97"], ["every IPv4 address"]),
        ([f"{i * 32}.0.0.0/3" for i in range(8)], ["every IPv4 address"]),
        (["2000::/4", "3000::/4"], ["every public IPv6 address (2000::/3)"]),
        (["::/0"], ["every IPv4 address", "every public IPv6 address (2000::/3)"]),
        (["::/64"], ["every IPv4 address"]),  # ::ffff:0:0/96 lies inside ::/64
        (["0.0.0.0/1"], []),
        (["0.0.0.0/2", "128.0.0.0/1"], []),
        (["10.0.0.0/8", "2001:db8::/32"], []),
        (["2000::/4"], []),
    ],
)
def test_union_of_networks_in_the_mapped_view(networks: list[str], covered: list[str]) -> None:
    assert everything_covered(map(parse_network, networks)) == covered


def test_a_single_any_network_is_reported_alone_and_the_union_adds_what_it_misses(spec_dict: dict[str, Any]) -> None:
    # 0.0.0.0/0 alone covers IPv4; the two IPv6 halves cover 2000::/3 only together.
    spec_dict["users"][0]["networks"] = ["0.0.0.0/0", "2000::/4", "3000::/4"]
    with pytest.raises(SpecError) as error:
        load_spec(spec_dict)
    assert [(p.path, p.problem) for p in error.value.problems] == [
        ("users[0].networks[0]", "0.0.0.0/0 lets 'ingest' log in from any address (it covers every IPv4 address)"),
        (
            "users[0].networks",
            "these networks together cover every public IPv6 address (2000::/3), "
            "so 'ingest' may log in from any of them",
        ),
    ]


@pytest.mark.parametrize("version", ["18.16", "24.8", "26.9"])
def test_a_covering_union_is_refused_on_every_target_and_allowed_when_asked_for(
    spec_dict: dict[str, Any], environ: dict[str, str], version: str
) -> None:
    spec_dict["clickhouse_version"] = version
    spec_dict["users"][0]["networks"] = ["0.0.0.0/1", "128.0.0.0/1"]
    with pytest.raises(SpecError) as error:
        load_spec(spec_dict)
    assert [p.path for p in error.value.problems] == ["users[0].networks"]
    spec_dict["users"][0]["allow_any_network"] = True
    render(load_spec(spec_dict), environ)


# ---------------------------------------------------------------- bounded messages


HUGE = "A\n" * 500_000  # a megabyte, with a control character every other byte


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("default_user", HUGE),
        ("clickhouse_version", HUGE),
        ("listen_hosts", [HUGE]),
        ("users.0.name", HUGE),
        ("users.0.networks", [HUGE]),
        ("users.0.profile", HUGE),
        ("users.0.databases", [HUGE]),
        ("ports.https", 10**5000),
        ("ports", [[[[[["x"] * 1000] * 10]]]]),
        ("profiles", {HUGE: {"readonly": 1}}),
        ("profiles.writer", {"log_comment": HUGE}),
        ("tls.min_protocol", HUGE),
        ("query_masking", {"rules": [{"name": "x", "regexp": HUGE}]}),
        ("log_databases", {"audit": {"tables": {"e": {"columns": {"ts": HUGE}, "time_column": HUGE}}}}),
        (
            "log_databases",
            {"audit": {"tables": {"e": {"columns": {"ts": "DateTime"}, "time_column": HUGE}}, "owners": [HUGE]}},
        ),
        (HUGE, 1),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else type(value).__name__,
)
def test_no_message_grows_with_the_input(
    spec_dict: dict[str, Any], environ: dict[str, str], path: str, value: Any
) -> None:
    node: Any = spec_dict
    *parents, last = path.split(".") if path != HUGE else [HUGE]
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    with pytest.raises(SpecError) as error:
        render(load_spec(spec_dict), environ)
    text = str(error.value)
    assert len(text) < 4000, text[:500]
    assert all(p.path.isprintable() and p.problem.isprintable() and p.fix.isprintable() for p in error.value.problems)


def test_a_shared_structure_is_not_expanded_into_the_message(spec_dict: dict[str, Any]) -> None:
    # What a YAML alias bomb becomes once loaded: 9**8 leaves behind 8 shared lists.
    bomb: Any = ["lol"] * 9
    for _ in range(8):
        bomb = [bomb] * 9
    spec_dict["default_user"] = bomb
    with pytest.raises(SpecError) as error:
        load_spec(spec_dict)
    assert len(str(error.value)) < 1000
    assert "more than 100000 values" in str(error.value)


def test_excerpt_escapes_and_cuts() -> None:
    assert excerpt("a\nb") == "'a\\nb'"
    assert excerpt("x" * 1000) == "'" + "x" * 60 + "'... (1000 characters)"
    assert excerpt("\u202eevil") == "'\\u202eevil'"
    assert excerpt(10**5000) == "a 16610-bit number"
    assert len(excerpt([["x" * 100] * 100] * 100)) <= 123


def test_a_key_from_the_input_is_quoted_in_the_field_path() -> None:
    assert field_path(["profiles", "a\nb", "x"]) == "profiles['a\\nb'].x"
    assert field_path(["users", 0, "networks", 1]) == "users[0].networks[1]"


def test_more_than_a_hundred_problems_are_counted_not_listed(spec_dict: dict[str, Any]) -> None:
    spec_dict["users"][0]["networks"] = ["not a network"] * 500
    with pytest.raises(SpecError) as error:
        load_spec(spec_dict)
    problems = error.value.problems
    assert len(problems) == 101
    assert problems[-1].problem == "400 more problems are not listed"


# ---------------------------------------------------------------- secrets never echoed


PASTED = "hunter2-Tr0ub4dor&3"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("users.0.password_env", PASTED),
        ("users.0.password_env", ["hunter2", PASTED]),
        ("users.0.password_env", {PASTED: 1}),
        ("users.0.password_sha256_hex", PASTED),
        ("users.0.password_file", PASTED + "\n"),
        ("users.0.token", PASTED),
        ("users.0.api_key", PASTED),
        ("users.0.client_secret", PASTED),
        ("tls.private_key", "-----BEGIN PRIVATE KEY-----" + PASTED),
        (
            "log_databases",
            {
                "audit": {
                    "tables": {"e": {"columns": {"ts": "DateTime"}, "time_column": "ts"}},
                    "readers": ["analyst"],
                    "encryption": {"key_env": PASTED},
                }
            },
        ),
        (
            "log_databases",
            {
                "audit": {
                    "tables": {"e": {"columns": {"ts": "DateTime"}, "time_column": "ts"}},
                    "readers": ["analyst"],
                    "encryption": {"key_file": PASTED},
                }
            },
        ),
        (
            "log_databases",
            {
                "audit": {
                    "tables": {"e": {"columns": {"ts": "DateTime"}, "time_column": "ts"}},
                    "readers": ["analyst"],
                    "encryption": {"key_env": [PASTED]},
                }
            },
        ),
        ("profiles.writer", {"password": [PASTED]}),
    ],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_a_pasted_secret_is_never_echoed(
    tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str], path: str, value: Any, as_json: bool
) -> None:
    node: Any = spec_dict
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value
    if path.startswith("users.0.password_") and path != "users.0.password_env":
        del spec_dict["users"][0]["password_env"]
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec_dict))
    result = CliRunner().invoke(
        main, ["check", "--spec", str(spec_file), *(["--json"] if as_json else [])], env=environ
    )
    assert result.exit_code == 2, result.output
    assert "hunter2" not in result.output
    assert "Tr0ub4dor" not in result.output
    if as_json:
        assert json.loads(result.output)["ok"] is False


def test_an_unset_variable_is_named_only_when_it_reads_like_one(spec_dict: dict[str, Any]) -> None:
    spec_dict["users"][0]["password_env"] = "CH_INGEST_PASSWORD"
    spec_dict["users"][1]["password_env"] = "Hunter2isMyPassword"  # a valid name, but not a conventional one
    with pytest.raises(SpecError) as error:
        render(load_spec(spec_dict), {})
    first, second = error.value.problems
    assert "CH_INGEST_PASSWORD" in first.problem and "CH_INGEST_PASSWORD" in first.fix
    assert "Hunter2" not in str(second) and "not set" in second.problem
