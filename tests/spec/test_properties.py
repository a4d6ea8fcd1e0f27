"""Property: any valid spec renders into well-formed XML that says what the spec says."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.column_types import families, parse_column_type
from hardhouse.render import render, sql_statements
from hardhouse.spec import load_spec
from hardhouse.spec.fields import (
    everything_covered,
    has_control_character,
    is_any_network,
    listens_everywhere,
    parse_network,
)
from hardhouse.spec.rights import user_access

NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z")
VERSIONS = st.sampled_from(["18.16", "22.8", "23.3", "23.8", "24.3", "24.8", "25.3", "25.8", "26.9"])
ADDRESSES = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str).filter(lambda a: not listens_everywhere(a))


def as_ipv4(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The IPv4 network an 18.16-style ::ffff:A.B.C.D/(N+96) stands for; others unchanged."""
    if network.version == 6 and network.prefixlen >= 96 and network.network_address.ipv4_mapped is not None:
        return ipaddress.ip_network(f"{network.network_address.ipv4_mapped}/{network.prefixlen - 96}")
    return network


@st.composite
def networks(draw: st.DrawFn) -> str:
    address = draw(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
    prefix = draw(st.integers(min_value=1, max_value=address.max_prefixlen))
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    assume(not is_any_network(network))  # valid specs only: any-address needs allow_any_network
    return str(network)


SETTING_VALUES = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31),
    st.booleans(),
    st.text(st.characters(min_codepoint=32), max_size=30).filter(lambda t: not has_control_character(t)),
)


ALL_TYPES = ["String", "LowCardinality(String)", "UInt64", "Nullable(String)", "Map(String, String)", "Array(String)"]
CA_CERTIFICATE = "/etc/clickhouse-server/tls/ca.crt"
REGEXPS = st.sampled_from([r"secret-[0-9a-f]{8}", r"(key=)\w+", r"\d{4}-\d{4}"])
ALL_TIME_TYPES = ["DateTime", "DateTime64(3)", "Date", "DateTime('UTC')"]


def types_for(version: versions.Version, choices: list[str]) -> st.SearchStrategy[str]:
    """The column types the version can create (18.16 lacks some families)."""
    if version != versions.LEGACY:
        return st.sampled_from(choices)
    legacy = [t for t in choices if families(parse_column_type(t)) <= versions.LEGACY_TYPE_FAMILIES]
    return st.sampled_from(legacy)


@st.composite
def log_database(
    draw: st.DrawFn, version: versions.Version, users: list[dict[str, Any]], profiles: dict[str, Any]
) -> dict[str, Any]:
    """A log database the cross-checks accept: every user either holds a role in it or is
    confined by its own allow-list; roles only where the version can enforce them."""
    grants = versions.has(version, "users_xml_grants")
    db: dict[str, Any] = {"tables": {}, "writers": [], "readers": [], "owners": []}
    for index in range(draw(st.integers(1, 2))):
        time_types, types = types_for(version, ALL_TIME_TYPES), types_for(version, ALL_TYPES)
        columns = {"ts": draw(time_types), **{f"c{i}": draw(types) for i in range(draw(st.integers(1, 3)))}}
        db["tables"][f"t{index}"] = {"columns": columns, "time_column": "ts"}
    for user in users:
        roles = ["owners", "readers"] + (["writers"] if grants else []) + ([None] if "databases" in user else [])
        role = draw(st.sampled_from(roles))
        if role is None:
            continue
        db[role].append(user["name"])
        if role == "readers" and not grants:
            profiles["hh_reader"] = {"readonly": 1}
            user["profile"] = "hh_reader"
    if versions.has(version, "table_ttl"):
        db["retention_days"] = draw(st.one_of(st.none(), st.integers(1, 3650)))
    else:
        db["retention_days"] = None
    if versions.has(version, "encrypted_disk") and draw(st.booleans()):
        db["encryption"] = {"key_env": "HH_TEST_LOG_KEY"}
    return db


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    version = draw(VERSIONS)
    profile_names = NAMES.filter(lambda n: n != "hardhouse_locked")
    # `constraints` is the key of a profile's constraints mapping, never a setting with a value.
    settings = st.dictionaries(NAMES.filter(lambda n: n != "constraints"), SETTING_VALUES, max_size=3)
    profiles = draw(st.dictionaries(profile_names, settings, max_size=3))
    user_names = draw(st.lists(NAMES.filter(lambda n: n != "default"), min_size=1, max_size=4, unique=True))
    # valid specs only: together, the networks must not cover every address either
    user_networks = st.lists(networks(), min_size=1, max_size=3).filter(
        lambda n: not everything_covered(map(parse_network, n))
    )
    users = []
    for name in user_names:
        users.append(
            {
                "name": name,
                # A random preimage: the hash of nothing guessable.
                "password_sha256_hex": hashlib.sha256(draw(st.binary(min_size=16, max_size=16))).hexdigest(),
                "networks": draw(user_networks),
                "profile": draw(st.sampled_from(sorted({"default", "readonly", *profiles}))),
                **({"databases": draw(st.lists(NAMES, min_size=1, max_size=3))} if draw(st.booleans()) else {}),
            }
        )
    https, native_tls = draw(st.lists(st.integers(1, 65535), min_size=2, max_size=2, unique=True))
    verify_clients = draw(st.booleans())
    parsed = versions.parse_version(version)
    if verify_clients and versions.has(parsed, "ssl_certificate_auth") and draw(st.booleans()):
        users[0].pop("password_sha256_hex")
        users[0]["certificate_common_name"] = draw(NAMES) + ".example"
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["log_databases"] = {"hh_logs_" + draw(NAMES): draw(log_database(parsed, users, profiles))}
    if versions.has(parsed, "query_masking_rules") and draw(st.booleans()):
        extra["query_masking"] = {
            "builtin_rules": draw(st.sampled_from([None, True, False])),
            "rules": [
                {"name": f"rule_{i}", "regexp": draw(REGEXPS), "replace": "***"} for i in range(draw(st.integers(0, 2)))
            ],
        }
    return {
        **extra,
        "clickhouse_version": version,
        "listen_hosts": draw(st.lists(ADDRESSES, min_size=1, max_size=3, unique=True)),
        "ports": {"https": https, "native_tls": native_tls},
        "tls": {
            "certificate": "/etc/clickhouse-server/tls/" + draw(NAMES) + ".crt",
            "private_key": "/etc/clickhouse-server/tls/" + draw(NAMES) + ".key",
            "min_protocol": draw(st.sampled_from(["tlsv1_2", "tlsv1_3"])),
            **({"verify_clients": True, "ca_certificate": CA_CERTIFICATE} if verify_clients else {}),
        },
        "default_user": draw(st.sampled_from(["remove", "lock"])),
        "users": users,
        "profiles": profiles,
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_any_valid_spec_renders_well_formed_xml_that_matches_it(spec_dict: dict[str, Any]) -> None:
    files = render(load_spec(spec_dict), environ={})
    parsed = {f.path.split("/")[-1]: etree.fromstring(f.content.encode()) for f in files if f.path.endswith(".xml")}
    sql = [f for f in files if f.path.endswith(".sql")]
    databases = spec_dict.get("log_databases", {})
    assert len(sql) == (1 if databases else 0)
    if sql:
        statements = sql_statements(sql[0].content)
        assert len(statements) == sum(1 + len(db["tables"]) for db in databases.values())
    assert all(root.tag == "clickhouse" for root in parsed.values())
    users = parsed["zz-hardhouse-users.xml"].find("users")
    spec = load_spec(spec_dict)
    for user, model in zip(spec_dict["users"], spec.users, strict=True):
        element = users.find(user["name"])
        if "certificate_common_name" in user:
            assert element.findtext("ssl_certificates/common_name") == user["certificate_common_name"]
            assert element.find("password_sha256_hex") is None
        else:
            assert element.findtext("password_sha256_hex") == user["password_sha256_hex"]
        rendered = [as_ipv4(ipaddress.ip_network(ip.text)) for ip in element.findall("networks/ip")]
        assert rendered == [as_ipv4(ipaddress.ip_network(n)) for n in user["networks"]]
        grants, databases = user_access(spec, model)
        assert [q.text for q in element.findall("grants/query")] == (grants or [])
        assert [d.text for d in element.findall("allow_databases/database")] == (databases or [])
        # users.d refuses grants next to allow_databases; the renderer never writes both.
        assert not (element.find("grants") is not None and element.find("allow_databases") is not None)
    listed = [e.text for e in parsed["zz-hardhouse-listen.xml"].findall("listen_host") if e.get("remove") is None]
    assert listed == spec_dict["listen_hosts"]
    for name, settings_ in spec_dict["profiles"].items():
        profile = parsed["zz-hardhouse-profiles.xml"].find(f"profiles/{name}")
        for setting, value in settings_.items():
            expected = str(int(value)) if isinstance(value, bool) else str(value)
            assert (profile.findtext(setting) or "") == expected
