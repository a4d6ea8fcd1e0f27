"""Property: any valid spec renders into well-formed XML that says what the spec says."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hardhouse.render import render
from hardhouse.spec import load_spec

NAMES = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z")
VERSIONS = st.sampled_from(["18.16", "22.8", "23.3", "23.8", "24.3", "24.8", "25.3", "25.8", "26.9"])
ADDRESSES = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).filter(lambda a: not a.is_unspecified).map(str)


@st.composite
def networks(draw: st.DrawFn) -> str:
    address = draw(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
    prefix = draw(st.integers(min_value=1, max_value=address.max_prefixlen))
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


SETTING_VALUES = st.one_of(
    st.integers(min_value=-(2**31), max_value=2**31),
    st.booleans(),
    st.text(st.characters(min_codepoint=32, exclude_categories=("Cs",)), max_size=30).filter(lambda t: "\ufffe" not in t and "\uffff" not in t),
)


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    version = draw(VERSIONS)
    profiles = draw(st.dictionaries(NAMES.filter(lambda n: n != "hardhouse_locked"), st.dictionaries(NAMES, SETTING_VALUES, max_size=3), max_size=3))
    user_names = draw(st.lists(NAMES.filter(lambda n: n != "default"), min_size=1, max_size=4, unique=True))
    users = []
    for name in user_names:
        users.append({
            "name": name,
            # A random preimage: the hash of nothing guessable.
            "password_sha256_hex": hashlib.sha256(draw(st.binary(min_size=16, max_size=16))).hexdigest(),
            "networks": draw(st.lists(networks(), min_size=1, max_size=3)),
            "profile": draw(st.sampled_from(sorted({"default", "readonly", *profiles}))),
            **({"databases": draw(st.lists(NAMES, min_size=1, max_size=3))} if draw(st.booleans()) else {}),
        })
    https, native_tls = draw(st.lists(st.integers(1, 65535), min_size=2, max_size=2, unique=True))
    return {
        "clickhouse_version": version,
        "listen_hosts": draw(st.lists(ADDRESSES, min_size=1, max_size=3, unique=True)),
        "ports": {"https": https, "native_tls": native_tls},
        "tls": {
            "certificate": "/etc/clickhouse-server/tls/" + draw(NAMES) + ".crt",
            "private_key": "/etc/clickhouse-server/tls/" + draw(NAMES) + ".key",
            "min_protocol": draw(st.sampled_from(["tlsv1_2", "tlsv1_3"])),
        },
        "default_user": draw(st.sampled_from(["remove", "lock"])),
        "users": users,
        "profiles": profiles,
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_any_valid_spec_renders_well_formed_xml_that_matches_it(spec_dict: dict[str, Any]) -> None:
    files = render(load_spec(spec_dict), environ={})
    parsed = {f.path.split("/")[-1]: etree.fromstring(f.content.encode()) for f in files}
    assert all(root.tag == "clickhouse" for root in parsed.values())
    users = parsed["zz-hardhouse-users.xml"].find("users")
    for user in spec_dict["users"]:
        element = users.find(user["name"])
        assert element.findtext("password_sha256_hex") == user["password_sha256_hex"]
        rendered = [ipaddress.ip_network(ip.text) for ip in element.findall("networks/ip")]
        assert rendered == [ipaddress.ip_network(n) for n in user["networks"]]
    listed = [e.text for e in parsed["zz-hardhouse-listen.xml"].findall("listen_host") if e.get("remove") is None]
    assert listed == spec_dict["listen_hosts"]
    for name, settings_ in spec_dict["profiles"].items():
        profile = parsed["zz-hardhouse-profiles.xml"].find(f"profiles/{name}")
        for setting, value in settings_.items():
            expected = str(int(value)) if isinstance(value, bool) else str(value)
            assert (profile.findtext(setting) or "") == expected
