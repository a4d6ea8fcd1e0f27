"""A verdict is never PASS on an open server. Each tree here was seen served open by Debian's
18.16 (a wildcard bind, or a passwordless login from an address no network lists; the live
proof is tests/audit/test_oracle.py) and once passed the audit. Each is planted after
hardhouse's files in a hardened tree, the way an attacker or a careless hand would, and must
fail the control it opens (exit 1) or be undecided (exit 2), with and without --spec.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from hardhouse.cli import main
from hardhouse.clickhouse.stock import EMPTY_SHA256
from hardhouse.render import render, write_files
from hardhouse.spec import load_spec
from tests.audit.test_audit import spec_data
from tests.helpers import PASSWORDS, run_cli_capped, stock_tree

# Planted users read only: on 18.16 any other profile keeps every table function (HH-EGRESS-2),
# which would fail beside the control each case is about.
READ_ONLY = "<profile>readonly</profile><quota>default</quota>"


def user(name: str, auth: str, networks: str) -> str:
    return f"<{name}>{auth}<networks>{networks}</networks>{READ_ONLY}</{name}>"


def users_file(*users: str, root: str = "yandex") -> str:
    return f"<{root}><users>{''.join(users)}</users></{root}>\n"


def config_file(body: str, root: str = "yandex") -> str:
    return f"<{root}>{body}</{root}>\n"


PASSWORDLESS_ANYWHERE = users_file(user("bob", "<password></password>", "<ip>::/0</ip>"))
HASHED = f"<password_sha256_hex>{hashlib.sha256(secrets.token_bytes(18)).hexdigest()}</password_sha256_hex>"

# kind -> (files to plant, the control that must not pass, the dialect it is judged by)
PLANTED: dict[str, tuple[dict[str, str], str, str]] = {
    # 1. ClickHouse opens the users file named by the raw text: "users.xml " is another file.
    "users_config with a trailing space": (
        {
            "config.d/zzz-users.xml": config_file("<users_config>users.xml </users_config>"),
            "users.xml ": PASSWORDLESS_ANYWHERE,
        },
        "HH-AUTH-1",
        "18.16",
    ),
    # 2. Address patterns are read by the prefix of their key.
    "<ipv6>::/0": (
        {"users.d/zzz.xml": users_file(user("bob", HASHED, "<ipv6>::/0</ipv6>"))},
        "HH-NET-1",
        "18.16",
    ),
    "<ip2>0.0.0.0/0": (
        {"users.d/zzz.xml": users_file(user("bob", HASHED, "<ip>10.0.0.1</ip><ip2>0.0.0.0/0</ip2>"))},
        "HH-NET-1",
        "18.16",
    ),
    "<host_regexp_x>.*": (
        {"users.d/zzz.xml": users_file(user("bob", HASHED, "<host_regexp_x>.*</host_regexp_x>"))},
        "HH-NET-1",
        "18.16",
    ),
    "<like_x>% on modern": (
        {"users.d/zzz.xml": users_file(user("bob", HASHED, "<like_x>%</like_x>"))},
        "HH-NET-1",
        "modern",
    ),
    "<ip>/0 (an empty address is 0.0.0.0)": (
        {"users.d/zzz.xml": users_file(user("bob", HASHED, "<ip>/0</ip>"))},
        "HH-NET-1",
        "18.16",
    ),
    "a mask of 0.0.0.0": (
        {"users.d/zzz.xml": users_file(user("bob", HASHED, "<ip>127.0.0.1/0.0.0.0</ip>"))},
        "HH-NET-1",
        "18.16",
    ),
    "a prefix of 256 wraps to 0 on 18.16": (
        {"users.d/zzz.xml": users_file(user("bob", HASHED, "<ip>10.0.0.0/256</ip>"))},
        "HH-NET-1",
        "18.16",
    ),
    "an IPv4 prefix length: 18.16 applies it to the IPv6 form": (
        {"users.d/zzz.xml": users_file(user("bob", HASHED, "<ip>10.0.0.1/32</ip>"))},
        "HH-NET-1",
        "18.16",
    ),
    "a second <bob> is the user bob[1]": (
        {
            "users.d/zzz.xml": users_file(
                user("bob", HASHED, "<ip>127.0.0.1</ip>"), user("bob", "<password></password>", "<ip>::/0</ip>")
            )
        },
        "HH-AUTH-1",
        "18.16",
    ),
    # 3. Poco's ${} substitution, in every value.
    "listen_host ${x}": (
        {"config.d/zzz.xml": config_file("<listen_host>${x}</listen_host><x>0.0.0.0</x>")},
        "HH-LISTEN-1",
        "18.16",
    ),
    "listen_host ${s.t[@a]}": (
        {"config.d/zzz.xml": config_file('<listen_host>${s.t[@a]}</listen_host><s><t a="::"/></s>')},
        "HH-LISTEN-1",
        "18.16",
    ),
    "a password hash ${h}": (
        {
            "users.d/zzz.xml": users_file(
                user("bob", "<password_sha256_hex>${h}</password_sha256_hex>", "<ip>::1</ip>")
            ).replace("</yandex>", f"<h>{EMPTY_SHA256}</h></yandex>")
        },
        "HH-AUTH-1",
        "18.16",
    ),
    "an upper-case empty hash": (
        {
            "users.d/zzz.xml": users_file(
                user("bob", f"<password_sha256_hex>{EMPTY_SHA256.upper()}</password_sha256_hex>", "<ip>::1</ip>")
            )
        },
        "HH-AUTH-1",
        "18.16",
    ),
    # 4. Numeric forms glibc reads as the any-address.
    **{
        f"listen_host {text!r}": (
            {"config.d/zzz.xml": config_file(f"<listen_host>{text}</listen_host>")},
            "HH-LISTEN-1",
            "18.16",
        )
        for text in ("0", "0.0", "0x0", "000.0.0.0", " 0.0.0.0 ", "::ffff:0.0.0.0")
    },
    # 5. Modern servers also read upper-case .XML files, whatever the root element says.
    "an .XML file under a <yandex> root": (
        {"config.d/zzz.XML": config_file("<listen_host>0.0.0.0</listen_host>", root="yandex")},
        "HH-LISTEN-1",
        "modern",
    ),
}

# kind -> (files to plant, the control that cannot be decided)
UNDECIDABLE: dict[str, tuple[dict[str, str], str]] = {
    "listen_host from_env": ({"config.d/zzz.xml": config_file('<listen_host from_env="LISTEN"/>')}, "HH-LISTEN-1"),
    "listen_host ${system.env.X}": (
        {"config.d/zzz.xml": config_file("<listen_host>${system.env.LISTEN}</listen_host>")},
        "HH-LISTEN-1",
    ),
    "listen_host by name": ({"config.d/zzz.xml": config_file("<listen_host>db.example</listen_host>")}, "HH-LISTEN-1"),
    "networks from /etc/metrika.xml": (
        {
            "users.d/zzz.xml": users_file(
                user("bob", HASHED, "").replace("<networks></networks>", '<networks incl="networks"/>')
            )
        },
        "HH-NET-1",
    ),
    "a user from ZooKeeper": (
        {"users.d/zzz.xml": users_file('<bob from_zk="/clickhouse/users/bob" replace="1"/>')},
        "HH-AUTH-1",
    ),
}


@pytest.fixture
def hardened(tmp_path: Path) -> Path:
    """Debian's stock tree with hardhouse's 18.16 render dropped in: it passes."""
    tree = stock_tree(tmp_path / "etc")
    write_files(render(load_spec(spec_data("18.16")), PASSWORDS), tree)
    return tree


def audit(*args: str, default_include: str | None = "none") -> Result:
    """The CLI; by default for a server without /etc/metrika.xml, as Debian's."""
    includes = ["--default-include", default_include] if default_include else []
    return CliRunner().invoke(main, ["audit", *args, *includes], env=PASSWORDS)


def statuses(result: Result) -> dict[str, str]:
    (report,) = json.loads(result.output)["reports"]
    return {control["id"]: control["status"] for control in report["controls"]}


def plant(tree: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)


@pytest.mark.parametrize("version", ["18.16", "24.8"])
def test_the_hardened_tree_passes_before_anything_is_planted(hardened: Path, tmp_path: Path, version: str) -> None:
    write_files(render(load_spec(spec_data(version)), PASSWORDS), hardened)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_data(version)))
    result = audit("--json", str(hardened), "--spec", str(spec))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("kind", list(PLANTED))
def test_a_tree_the_server_runs_open_fails_its_control(hardened: Path, tmp_path: Path, kind: str) -> None:
    files, control, dialect = PLANTED[kind]
    plant(hardened, files)
    version = "18.16" if dialect == "18.16" else "24.8"
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_data(version)))
    for how in (["--dialect", dialect], [], ["--spec", str(spec)]):
        result = audit("--json", str(hardened), *how)
        assert result.exit_code == 1, (how, result.output)
        assert statuses(result)[control] == "fail", (how, result.output)


@pytest.mark.parametrize("kind", list(UNDECIDABLE))
def test_what_cannot_be_decided_offline_is_undecided_never_passed(hardened: Path, kind: str) -> None:
    files, control = UNDECIDABLE[kind]
    plant(hardened, files)
    include = None if "metrika" in kind else "none"
    result = audit("--json", str(hardened), "--dialect", "18.16", default_include=include)
    assert statuses(result)[control] == "undecided", result.output
    assert result.exit_code == 2, result.output
    text = audit(str(hardened), "--dialect", "18.16", default_include=include).output
    assert f"UNDECIDED {control}" in text and "cannot be decided offline" in text
    assert "NOT DECIDED" in text


def test_an_include_only_the_server_has_is_undecided_until_it_is_given(hardened: Path, tmp_path: Path) -> None:
    plant(hardened, UNDECIDABLE["networks from /etc/metrika.xml"][0])
    given = CliRunner().invoke(main, ["audit", "--json", str(hardened), "--dialect", "18.16"], env=PASSWORDS)
    assert given.exit_code == 2 and statuses(given)["HH-NET-1"] == "undecided"
    metrika = tmp_path / "metrika.xml"
    metrika.write_text("<yandex><networks><ip>::/0</ip></networks></yandex>")
    opened = CliRunner().invoke(
        main, ["audit", "--json", str(hardened), "--dialect", "18.16", "--default-include", str(metrika)]
    )
    assert opened.exit_code == 1 and statuses(opened)["HH-NET-1"] == "fail", opened.output
    metrika.write_text("<yandex><networks><ip>::ffff:10.0.0.0/104</ip></networks></yandex>")
    closed = CliRunner().invoke(
        main, ["audit", "--json", str(hardened), "--dialect", "18.16", "--default-include", str(metrika)]
    )
    assert statuses(closed)["HH-NET-1"] == "pass", closed.output


def test_a_waiver_accepts_an_undecided_control_visibly(hardened: Path, tmp_path: Path) -> None:
    plant(hardened, UNDECIDABLE["listen_host from_env"][0])
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers:\n  - {control: HH-LISTEN-1, reason: set by the unit file, expires: 2099-01-01}\n")
    result = audit("--json", str(hardened), "--dialect", "18.16", "--waivers", str(waivers))
    assert result.exit_code == 0 and statuses(result)["HH-LISTEN-1"] == "waived", result.output
    (report,) = json.loads(result.output)["reports"]
    (listen,) = [c for c in report["controls"] if c["id"] == "HH-LISTEN-1"]
    assert listen["findings"][0]["undecided"] is True


def test_an_unknown_version_is_judged_by_both_dialects_and_the_worse_counts(hardened: Path) -> None:
    """The root element says nothing: Debian's <yandex> tree with an .XML file only modern reads."""
    plant(hardened, PLANTED["an .XML file under a <yandex> root"][0])
    assert audit("--json", str(hardened), "--dialect", "18.16").exit_code == 0
    result = audit("--json", str(hardened))
    (report,) = json.loads(result.output)["reports"]
    assert result.exit_code == 1 and report["dialect"] == "18.16 and modern"
    (listen,) = [c for c in report["controls"] if c["id"] == "HH-LISTEN-1"]
    assert listen["status"] == "fail" and listen["findings"][0]["dialect"] == "modern"
    assert "(by modern's rules)" in audit(str(hardened)).output


def test_a_yaml_file_modern_servers_would_read_stops_an_audit_of_unknown_version(hardened: Path) -> None:
    plant(hardened, {"config.d/zzz.yaml": "listen_host: 0.0.0.0\n"})
    assert audit(str(hardened), "--dialect", "18.16").exit_code == 0  # 18.16 reads no YAML
    result = audit(str(hardened))
    assert result.exit_code == 2 and "YAML" in result.output and "--dialect" in result.output


def test_names_and_values_with_control_or_bidi_characters_reach_no_terminal_raw(hardened: Path) -> None:
    plant(
        hardened,
        {"config.d/zz\u202ez.xml": config_file("<listen_host>::</listen_host><tcp_port>90\u2028\x8500</tcp_port>")},
    )
    result = audit(str(hardened), "--dialect", "18.16")
    assert result.exit_code == 1, result.output
    for raw in ("\u202e", "\u2028", "\x85"):
        assert raw not in result.output
    assert "HH-LISTEN-1 listen_host :: from config.d/zz\\u202ez.xml:1" in result.output
    assert "tcp_port 90\\u2028\\x8500 from config.d/zz\\u202ez.xml:1" in result.output


# Hostile trees built to make the audit itself hang: each ends, in a memory- and time-capped
# child, with the control undecided or failed, never a pass.
BACKTRACKING = r"^(?:attacker\.example|x|(?:.|.)*!)$"  # Python's re: 2**31 steps on the third name
# Eight levels (within Poco's ten), fifty references each, to an empty value: 50**8 lookups.
REFERENCE_BOMB = "".join(f"<hh_a{i}>{('${hh_a' + str(i + 1) + '}') * 50}</hh_a{i}>" for i in range(8)) + "<hh_a8/>"
HOSTILE: dict[str, tuple[dict[str, str], str, str]] = {
    "a host_regexp that backtracks": (
        {"users.d/zzz.xml": users_file(user("bob", HASHED, f"<host_regexp>{BACKTRACKING}</host_regexp>"))},
        "HH-NET-1",
        "pass",  # RE2 answers at once: it does not match every name
    ),
    "a host_regexp RE2 cannot read (a backreference)": (
        {"users.d/zzz.xml": users_file(user("bob", HASHED, r"<host_regexp>(a)\1</host_regexp>"))},
        "HH-NET-1",
        "undecided",
    ),
    "${} references fifty wide and eight deep to an empty value": (
        {"config.d/zzz.xml": config_file("<listen_host>${hh_a0}</listen_host>" + REFERENCE_BOMB)},
        "HH-LISTEN-1",
        "undecided",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_tree_built_to_hang_the_audit_ends_bounded_and_never_passes_what_it_cannot_read(
    hardened: Path, kind: str
) -> None:
    files, control, expected = HOSTILE[kind]
    plant(hardened, files)
    done = run_cli_capped("audit", "--json", str(hardened), "--dialect", "18.16", "--default-include", "none")
    (report,) = json.loads(done.stdout)["reports"]
    assert {c["id"]: c["status"] for c in report["controls"]}[control] == expected, done.stdout[-2000:]
    assert b"re2.cc" not in done.stderr  # RE2's own error log (quoting the pattern) stays off the terminal
