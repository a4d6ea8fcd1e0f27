"""Property: a hostile string in ANY string slot of a spec (every str field, list item and
mapping key) is either refused with bounded, printable problems, or rendered into files
that parse and still say exactly what the spec said."""

from __future__ import annotations

import copy
import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from hardhouse.render import render, sql_statements
from hardhouse.spec import load_spec
from hardhouse.spec.errors import SpecError
from tests.helpers import PASSWORDS, write_password_file

Slot = tuple[str, tuple[Any, ...]]  # ("value" | "key", path to it)

# Pieces an attacker or an accident puts in a string: controls, XML and shell syntax,
# quotes, traversal, Unicode separators and bidi overrides, lone surrogates, non-characters.
FRAGMENTS = [
    "\n",
    "\r",
    "\x00",
    "\t",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\ud800",
    "\ufffe",
    "\u202e",
    "'",
    '"',
    "<",
    ">",
    "&",
    "]]>",
    "<!--",
    ";",
    "$(id)",
    "`id`",
    "../",
    "..",
    "//",
    "--",
    "{x}",
    "%eth0",
    "\\",
    "\\1",
    " ",
    "é",
    "default",
    "system",
    "0.0.0.0",
    "::",
    "/etc/passwd",
    "DROP TABLE x",
    "String",
]
HOSTILE_PIECE = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6))
HOSTILE_SHORT = st.lists(HOSTILE_PIECE, min_size=1, max_size=6).map("".join)
# The same without control characters: what the free-text fields accept, so that the
# rendering half of the property is exercised as often as the refusing half.
PRINTABLE_PIECE = st.one_of(
    st.sampled_from([f for f in FRAGMENTS if f.isprintable()]),
    st.text(st.characters(min_codepoint=32, max_codepoint=0x7E), max_size=6),
)
PRINTABLE_SHORT = st.lists(PRINTABLE_PIECE, min_size=1, max_size=6).map("".join)
HOSTILE_LONG = st.builds(
    lambda piece, times: piece * times, st.one_of(HOSTILE_SHORT, PRINTABLE_SHORT), st.integers(100, 2000)
)
HOSTILE = st.one_of(HOSTILE_SHORT, PRINTABLE_SHORT, HOSTILE_LONG)

MAX_MESSAGE = 1000  # characters per problem, whatever the input's size


def full_spec(password_file: str) -> dict[str, Any]:
    """A valid 24.8 spec that uses every string field the model has."""
    return {
        "clickhouse_version": "24.8",
        "listen_hosts": ["10.0.0.5", "fe80::1%eth0"],
        "ports": {"https": 8443, "native_tls": 9440},
        "tls": {
            "certificate": "/etc/clickhouse-server/tls/server.crt",
            "private_key": "/etc/clickhouse-server/tls/server.key",
            "ca_certificate": "/etc/clickhouse-server/tls/ca.crt",
            "min_protocol": "tlsv1_2",
            "verify_clients": True,
        },
        "default_user": "lock",
        "password_hash": "auto",
        "users": [
            {
                "name": "ingest",
                "password_env": "CH_INGEST_PASSWORD",
                "networks": ["10.0.0.0/8"],
                "profile": "writer",
                "quota": "hourly",
                "password_hash": "sha256",
            },
            {
                "name": "analyst",
                "password_file": password_file,
                "networks": ["10.1.2.0/24", "2001:db8::/64"],
                "profile": "readonly",
            },
            {
                "name": "app",
                "password_sha256_hex": hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                "networks": ["10.2.0.0/16"],
                "databases": ["app"],
            },
            {
                "name": "admin",
                "certificate_common_name": "admin.logs.example",
                "networks": ["10.9.9.9"],
                "databases": ["app"],
            },
        ],
        "profiles": {"writer": {"max_execution_time": 300, "log_comment": "ingest"}, "readonly": {"readonly": 1}},
        "quotas": {"hourly": {"queries": 1000}},
        "query_masking": {"rules": [{"name": "card_numbers", "regexp": r"(card=)\d{16}", "replace": r"\1****"}]},
        "log_databases": {
            "audit": {
                "tables": {
                    "events": {"columns": {"ts": "DateTime64(3, 'UTC')", "message": "String"}, "time_column": "ts"}
                },
                "writers": ["ingest"],
                "readers": ["analyst"],
                "owners": ["admin"],
                "encryption": {"key_file": "/etc/clickhouse-server/secrets/log-keys.xml"},
            },
            "traces": {
                "tables": {
                    "spans": {"columns": {"at": "DateTime", "body": "LowCardinality(String)"}, "time_column": "at"}
                },
                "owners": ["admin"],
                "readers": ["analyst"],
                "encryption": {"key_env": "CH_TRACES_KEY"},
            },
        },
    }


def slots(node: Any, path: tuple[Any, ...] = ()) -> Iterator[Slot]:
    """Every string value (list items included) and every mapping key under node."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield "key", (*path, key)
            yield from slots(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from slots(item, (*path, index))
    elif isinstance(node, str):
        yield "value", path


def current(spec: dict[str, Any], slot: Slot) -> str:
    kind, path = slot
    if kind == "key":
        return str(path[-1])
    node: Any = spec
    for part in path:
        node = node[part]
    return node


def substitute(spec: dict[str, Any], slot: Slot, text: str) -> dict[str, Any]:
    kind, path = slot
    out = copy.deepcopy(spec)
    parent: Any = out
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if kind == "value":
        parent[last] = text
    else:  # rename the key, keeping the mapping's order
        items = [(text if key == last else key, value) for key, value in parent.items()]
        parent.clear()
        parent.update(items)
    return out


@pytest.fixture(scope="module")
def password_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("secrets") / "analyst"
    return str(write_password_file(path, secrets.token_urlsafe(24)))


ENVIRON = {**PASSWORDS}
SAMPLE_SLOTS = list(slots(full_spec("/run/secrets/analyst")))
# Slots whose values are free text, written verbatim: where a hostile value can be accepted.
FREE_TEXT = [
    slot
    for slot in SAMPLE_SLOTS
    if slot[0] == "value"
    and (slot[1][0] == "profiles" or slot[1][-1] in ("regexp", "replace", "certificate_common_name"))
]


def test_the_full_spec_is_valid_and_every_slot_is_listed(password_file: str) -> None:
    render(load_spec(full_spec(password_file)), ENVIRON)
    paths = {".".join(map(str, path)) for _, path in SAMPLE_SLOTS}
    for expected in (
        "users.0.name",
        "users.1.password_file",
        "users.3.certificate_common_name",
        "tls.ca_certificate",
        "profiles.writer.log_comment",
        "query_masking.rules.0.replace",
        "listen_hosts.1",
        "log_databases.audit.encryption.key_file",
        "log_databases.audit.tables.events.columns.ts",
        "log_databases.audit.writers.0",
        "users.2.databases.0",
        "clickhouse_version",
    ):
        assert expected in paths


def xml_of(files: list[Any]) -> dict[str, etree._Element]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return {
        Path(f.path).name: etree.fromstring(f.content.encode("utf-8"), parser) for f in files if f.path.endswith(".xml")
    }


def assert_meaning_kept(slot: Slot, text: str, files: list[Any]) -> None:
    """Where a slot's value is written verbatim, it reads back verbatim from the XML/SQL."""
    kind, path = slot
    xml = xml_of(files)  # every XML file parses
    sql = "".join(f.content for f in files if f.path.endswith(".sql"))
    statements = sql_statements(sql)
    assert len(statements) == 2 + 2  # two databases, one table each: nothing smuggled in
    users = [element for element in xml["zz-hardhouse-users.xml"].find("users") if isinstance(element.tag, str)]
    if kind == "value" and path[0] == "users" and path[2] == "name":
        assert users[path[1]].tag == text
    elif kind == "value" and path[0] == "tls" and path[1] in ("certificate", "private_key", "ca_certificate"):
        element = {"certificate": "certificateFile", "private_key": "privateKeyFile", "ca_certificate": "caConfig"}[
            path[1]
        ]
        assert xml["zz-hardhouse-tls.xml"].findtext(f"openSSL/server/{element}") == text
    elif kind == "value" and path[0] == "profiles":
        assert xml["zz-hardhouse-profiles.xml"].findtext(f"profiles/{path[1]}/{path[2]}") == text
    elif kind == "value" and path[:2] == ("query_masking", "rules") and path[3] in ("regexp", "replace"):
        rules = xml["zz-hardhouse-masking.xml"].find("query_masking_rules")
        assert [rule.findtext(path[3]) for rule in rules if rule.findtext("name") == "card_numbers"] == [text]
    elif kind == "value" and path[0] == "users" and path[2] == "certificate_common_name":
        assert users[path[1]].findtext("ssl_certificates/common_name") == text
    elif kind == "value" and path[0] == "listen_hosts":
        listed = [e.text for e in xml["zz-hardhouse-listen.xml"].findall("listen_host") if e.get("remove") is None]
        assert listed[path[1]] == text
    elif kind == "value" and path[-1] == "key_file":
        assert xml["zz-hardhouse-log-storage.xml"].findtext("include_from") == text
    elif kind == "value" and "columns" in path:
        assert f"    {path[-1]} {text}," in sql or f"    {path[-1]} {text}\n" in sql
    elif kind == "key" and path[0] == "profiles" and len(path) == 3:
        assert xml["zz-hardhouse-profiles.xml"].find(f"profiles/{path[1]}/{text}") is not None


def assert_refusal_is_bounded(error: SpecError, text: str) -> None:
    assert error.problems
    for problem in error.problems:
        for part in (problem.path, problem.problem, problem.fix):
            assert len(part) <= MAX_MESSAGE, part[:200]
            assert part.isprintable(), part[:200]  # every control character escaped
    if len(text) > 200:
        assert text[:200] not in str(error)  # never echoed whole


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    slot=st.one_of(st.sampled_from(SAMPLE_SLOTS), st.sampled_from(FREE_TEXT)),
    hostile=HOSTILE,
    placement=st.sampled_from(["alone", "after", "before"]),
)
def test_a_hostile_string_in_any_slot_is_refused_or_kept_intact(
    password_file: str, slot: Slot, hostile: str, placement: str
) -> None:
    spec = full_spec(password_file)
    original = current(spec, slot)
    text = {"alone": hostile, "after": f"{original}{hostile}", "before": f"{hostile}{original}"}[placement]
    try:
        files = render(load_spec(substitute(spec, slot, text)), ENVIRON)
    except SpecError as error:
        event("refused")
        assert_refusal_is_bounded(error, text)
        return
    event("rendered")
    for file in files:
        assert not any(ord(c) < 32 and c not in "\n" for c in file.content), file.path
    assert_meaning_kept(slot, text, files)
