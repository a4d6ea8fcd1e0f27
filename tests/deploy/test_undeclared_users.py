"""Users a host has that the spec does not declare, and the host judged whole after going live,
without a host: the fetch script run by a real shell on real trees (hardhouse.deploy.audit),
the trees merged as ClickHouse merges them, the deploy's operations driven as pyinfra drives
them. The live proof (logins over real sockets) is tests/deploy/test_deploy_sandbox.py.

The planted application user is the issue's: `grafana` with a plaintext `<password>` (made
per run, never written in the repository) and `::/0` networks, in the stock users.xml.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pyinfra.api import FunctionCommand
from pyinfra.context import ctx_host

from hardhouse.audit.model import AuditReport, ControlResult, Status
from hardhouse.cli import main
from hardhouse.controls.waivers import Waiver, parse_waivers
from hardhouse.deploy import audit, recheck
from hardhouse.deploy import users as users_module
from hardhouse.deploy.audit import FetchedTree
from hardhouse.deploy.recheck import judge_host
from hardhouse.deploy.settings import DATA_DEFAULTS, HardhouseDeployError, read_settings
from hardhouse.deploy.users import (
    HostUser,
    Removal,
    check_removal,
    plan_removal,
    refusal_lines,
    tree_users,
    undeclared,
)
from hardhouse.render import render
from hardhouse.spec import load_spec
from hardhouse_dev.sandbox import sandbox_spec, sandbox_waivers
from tests.deploy.test_audit_fetch import STOCK_CONFIG, STOCK_USERS, fetched_archive
from tests.deploy.test_snapshot import spec_trust
from tests.helpers import VALID_SPEC

CONFIG_DIR = "/etc/clickhouse-server"
TODAY = dt.date.today()


def grafana(password: str, networks: str = "<ip>::/0</ip>") -> str:
    return (
        "        <grafana>\n"
        f"            <password>{password}</password>\n"
        f"            <networks>{networks}</networks>\n"
        "            <profile>default</profile>\n"
        "            <quota>default</quota>\n"
        "        </grafana>\n"
    )


@pytest.fixture
def password() -> str:
    return secrets.token_urlsafe(18)


def make_spec(secrets_dir: Path, mode: str | None) -> Any:
    data = sandbox_spec("172.30.77.11", "172.30.77.1", "172.30.77.0/24", secrets_dir)
    if mode is not None:
        data["undeclared_users"] = mode
    return load_spec(data)


def stock_tree(tmp_path: Path, users_xml: str = STOCK_USERS) -> Path:
    tree = tmp_path / "clickhouse-server"
    (tree / "config.d").mkdir(parents=True)
    (tree / "users.d").mkdir()
    (tree / "config.xml").write_text(STOCK_CONFIG)
    (tree / "users.xml").write_text(users_xml)
    return tree


def with_grafana(password: str) -> str:
    return STOCK_USERS.replace("    </users>", grafana(password) + "    </users>")


def line_of(path: Path, needle: str, after: str | None = None) -> int:
    """The 1-based line of the first line holding needle (after the first one holding `after`)."""
    lines = path.read_text().splitlines()
    start = 0 if after is None else next(n for n, line in enumerate(lines) if after in line)
    return next(n for n, line in enumerate(lines[start:], start + 1) if needle in line)


def go_live(tree: Path, spec: Any, remove: list[str] | None = None) -> None:
    """Put the spec's rendered files live in the tree, as the deploy leaves them."""
    for file in render(spec, {}, remove_users=remove or []):
        path = tree / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file.content)


# --- reading a host's users ---------------------------------------------------------------


def test_users_the_spec_does_not_declare_are_named_with_the_file_and_line_that_defines_them(
    tmp_path: Path, secrets_dir: Path, password: str
) -> None:
    spec = make_spec(secrets_dir, None)
    tree = stock_tree(tmp_path, with_grafana(password))
    (tree / "users.d" / "metabase.xml").write_text(
        "<clickhouse><users>\n<metabase><password_sha256_hex>"
        + "ab" * 32
        + "</password_sha256_hex><networks><ip>10.0.0.1</ip></networks></metabase>\n</users></clickhouse>\n"
    )
    go_live(tree, spec)  # hardhouse's files are on the host already: a re-run
    archive = fetched_archive(tree)
    found = undeclared(tree_users(archive, CONFIG_DIR, spec, own={}), spec)
    # default (default_user decides), readonly (stock, always removed) and the spec's users are not among them.
    assert found == [
        HostUser("grafana", f"users.xml:{line_of(tree / 'users.xml', '<grafana>')}"),
        HostUser("metabase", "users.d/metabase.xml:2"),
    ]
    # As the live server has them: hardhouse's files removed default and readonly, not grafana.
    live = [user.name for user in tree_users(archive, CONFIG_DIR, spec)]
    assert "grafana" in live and "default" not in live and "readonly" not in live and "ingest" in live
    lines = refusal_lines(found, CONFIG_DIR)
    assert lines[0] == "the host has 2 users the spec does not declare (undeclared_users: refuse); nothing was changed:"
    assert lines[1] == f"  grafana ({CONFIG_DIR}/users.xml:{line_of(tree / 'users.xml', '<grafana>')})"
    assert lines[2] == f"  metabase ({CONFIG_DIR}/users.d/metabase.xml:2)"
    assert lines[3].startswith("Fix: declare each in hardhouse_spec.users") and "remove" in lines[3]
    assert "keep" in lines[3] and "hardhouse_waivers" in lines[3]
    assert not any(password in line for line in lines)


def test_a_tree_merged_once_is_reused_only_for_the_same_archive_directory_and_files(
    tmp_path: Path, secrets_dir: Path, password: str
) -> None:
    """tree_users keeps what it merged (the users check and the audit after going live ask for
    the same tree): any other archive, directory or set of hardhouse's files is merged anew."""
    spec = make_spec(secrets_dir, None)
    tree = stock_tree(tmp_path, with_grafana(password))
    archive = fetched_archive(tree)
    merges = []
    real = users_module._read_users

    def counted(*args: Any, **kwargs: Any) -> Any:
        merges.append(args[1:])
        return real(*args, **kwargs)

    users_module._MERGED.clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(users_module, "_read_users", counted)
        first = tree_users(archive, CONFIG_DIR, spec, own={})
        assert tree_users(archive, CONFIG_DIR, spec, own={}) == first and len(merges) == 1
        assert "grafana" in [user.name for user in first]
        planted = {"users.d/zz-hardhouse-users.xml": b"<clickhouse><users><grafana remove='1'/></users></clickhouse>"}
        assert "grafana" not in [user.name for user in tree_users(archive, CONFIG_DIR, spec, own=planted)]
        assert tree_users(archive, CONFIG_DIR, spec) is not None  # the tree as it is: another merge
        (tree / "users.d" / "metabase.xml").write_text(
            "<clickhouse><users><metabase><password_sha256_hex>" + "ab" * 32 + "</password_sha256_hex>"
            "</metabase></users></clickhouse>\n"
        )
        changed = tree_users(fetched_archive(tree), CONFIG_DIR, spec, own={})
        assert "metabase" in [user.name for user in changed]
        tree_users(archive, "/srv/clickhouse", spec, own={})  # another directory
        assert len(merges) == 5, merges


def test_remove_renders_each_user_by_name_and_the_merged_tree_no_longer_has_it(
    tmp_path: Path, secrets_dir: Path, password: str
) -> None:
    spec = make_spec(secrets_dir, "remove")
    tree = stock_tree(tmp_path, with_grafana(password))
    fetched = FetchedTree(fetched_archive(tree))
    removal = plan_removal(fetched, spec, CONFIG_DIR)
    assert removal.names == ["grafana"] and not removal.problems and removal.unreadable is None
    files = render(spec, {}, remove_users=removal.names)
    (stock,) = [f for f in files if f.path == "users.d/zz-hardhouse-stock-users.xml"]
    assert '<grafana remove="1"/>' in stock.content and "undeclared_users: remove" in stock.content
    own = {f.path: f.content.encode() for f in files if f.path.endswith(".xml")}
    assert check_removal(removal, fetched.archive, spec, CONFIG_DIR, own) == removal
    assert "grafana" not in [u.name for u in tree_users(fetched.archive, CONFIG_DIR, spec, own=own)]  # type: ignore[arg-type]


def test_a_user_a_later_file_defines_again_cannot_be_removed_and_that_file_is_named(
    tmp_path: Path, secrets_dir: Path, password: str
) -> None:
    spec = make_spec(secrets_dir, "remove")
    tree = stock_tree(tmp_path, with_grafana(password))
    (tree / "users.d" / "zzz-grafana.xml").write_text(
        "<clickhouse>\n<users>\n" + grafana(password, "<ip>10.0.0.0/8</ip>") + "</users>\n</clickhouse>\n"
    )
    fetched = FetchedTree(fetched_archive(tree))
    removal = plan_removal(fetched, spec, CONFIG_DIR)
    files = render(spec, {}, remove_users=removal.names)
    own = {f.path: f.content.encode() for f in files if f.path.endswith(".xml")}
    checked = check_removal(removal, fetched.archive, spec, CONFIG_DIR, own)
    assert checked.problems[0] == (
        "undeclared_users is remove, but a file merged after hardhouse's defines these users again:"
    )
    assert checked.problems[1] == f"  grafana ({CONFIG_DIR}/users.d/zzz-grafana.xml:3)"
    assert "rename their file to sort before zz-hardhouse-*" in checked.problems[2]
    assert not any(password in line for line in checked.problems)


def test_a_tree_that_cannot_be_read_is_no_permission_to_go_live(secrets_dir: Path) -> None:
    spec = make_spec(secrets_dir, "remove")
    removal = plan_removal(FetchedTree(None, "/etc/clickhouse-server is not a directory"), spec, CONFIG_DIR)
    assert removal == Removal(unreadable="/etc/clickhouse-server is not a directory")


# --- rendering ----------------------------------------------------------------------------


def test_render_removes_only_what_it_is_given_and_only_under_remove(secrets_dir: Path) -> None:
    keep = make_spec(secrets_dir, "keep")
    with pytest.raises(ValueError, match="undeclared_users is keep"):
        render(keep, {}, remove_users=["grafana"])
    remove = make_spec(secrets_dir, "remove")
    for name in ("ingest", "default", "readonly", "bad name", "x<y"):
        with pytest.raises(ValueError):
            render(remove, {}, remove_users=[name])
    plain = {f.path: f.content for f in render(remove, {})}
    assert "undeclared_users" not in plain["users.d/zz-hardhouse-stock-users.xml"]
    assert {f.path: f.content for f in render(make_spec(secrets_dir, None), {})} == plain


def test_a_standalone_render_says_it_cannot_remove_a_hosts_users(tmp_path: Path, secrets_dir: Path) -> None:
    import json

    import yaml

    data = sandbox_spec("172.30.77.11", "172.30.77.1", "172.30.77.0/24", secrets_dir)
    data["undeclared_users"] = "remove"
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["render", "--spec", str(spec_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Note: undeclared_users is remove, but a render has no host to read users from" in result.output
    assert "remove=" not in (tmp_path / "out" / "users.d" / "zz-hardhouse-stock-users.xml").read_text().replace(
        '<readonly remove="1"/>', ""
    ).replace('<default remove="1"/>', "")
    result = CliRunner().invoke(main, ["render", "--json", "--spec", str(spec_path), "--out", str(tmp_path / "o2")])
    assert json.loads(result.output)["notes"][0].startswith("undeclared_users is remove")


def test_a_bad_mode_is_refused_naming_the_field_and_the_fix_and_nothing_is_written(tmp_path: Path) -> None:
    import yaml

    data = copy.deepcopy(VALID_SPEC)
    data["undeclared_users"] = "delete"
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", "--spec", str(spec_path), "--out", str(out)])
    assert result.exit_code == 2 and not out.exists()
    assert "undeclared_users: 'delete' is not a choice. Fix: use refuse" in result.output
    assert "remove (the deploy deletes them) or keep" in result.output


# --- the host judged whole after going live -----------------------------------------------


class FakeState:
    is_executing = True


class FakeHost:
    name = "sandbox-1"
    current_op_hash = "audit"  # the step the re-check runs in (hardhouse.deploy.live_tree keeps its read)
    op_hash_order = ["audit"]

    def __init__(self, fetched: FetchedTree):
        self.fetched = fetched
        self.state = FakeState()  # each run its own, as pyinfra's: no read carries over
        self.logs: list[str] = []

    def get_fact(self, cls: type, **kwargs: Any) -> Any:
        return self.fetched

    def log(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.logs.append(message)


class Shown:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log_styled(self, line: str, **kwargs: Any) -> None:
        self.lines.append(line)


def audit_live(tree: Path, spec: Any, waivers: tuple[Waiver, ...] = ()) -> tuple[bool, list[str]]:
    """The re-check as pyinfra runs it: (the host passed, every line it printed), with the
    sandbox's own waivers beside the test's (hardhouse_dev.sandbox.sandbox_waivers)."""
    waivers = (*parse_waivers(sandbox_waivers()), *waivers)
    fake = FakeHost(FetchedTree(fetched_archive(tree)))
    with ctx_host.use(fake):
        commands = list(recheck.audit_live._inner(config_dir=CONFIG_DIR, spec=spec, waivers=waivers))
    if not commands:
        return True, fake.logs
    (command,) = commands
    assert isinstance(command, FunctionCommand)
    shown = Shown()
    return command.function(None, shown, *command.args), fake.logs + shown.lines


def waiver(control: str, expires: dt.date, targets: tuple[str, ...] | None = None) -> Waiver:
    return Waiver(
        control=control, reason=f"grafana's own login until TICKET-7 ({control})", expires=expires, targets=targets
    )


@pytest.mark.parametrize("mode", ["refuse", "remove", "keep"])
def test_a_hardened_host_passes_every_control_in_every_mode(tmp_path: Path, secrets_dir: Path, mode: str) -> None:
    spec = make_spec(secrets_dir, mode)
    tree = stock_tree(tmp_path)
    go_live(tree, spec)
    passed, lines = audit_live(tree, spec)
    assert passed, lines
    # Every control passes but the one the sandbox waives, shown waived: an 18.16 writer keeps
    # every table function (hardhouse_dev.sandbox.sandbox_waivers).
    assert lines[0].startswith(f"audited {CONFIG_DIR}: ") and "every control passes or is waived (" in lines[0]
    assert "1 waived" in lines[0] and any(line.startswith("  WAIVED HH-EGRESS-2 user ingest") for line in lines)


def test_kept_open_user_fails_the_host_naming_each_control_and_line_and_no_secret(
    tmp_path: Path, secrets_dir: Path, password: str
) -> None:
    spec = make_spec(secrets_dir, "keep")
    tree = stock_tree(tmp_path, with_grafana(password))
    go_live(tree, spec)
    passed, lines = audit_live(tree, spec)
    assert not passed
    text = "\n".join(lines)
    users = tree / "users.xml"
    assert lines[0] == "undeclared_users: keep: 1 user the spec does not declare stay, judged by every control: grafana"
    assert lines[1] == (
        f"the live configuration in {CONFIG_DIR} fails 2 controls "
        "(each fails the host unless a waiver in hardhouse_waivers accepts it):"
    )
    assert (
        f"  FAIL HH-AUTH-2 user grafana from users.xml:{line_of(users, '<password>', '<grafana>')}: "
        "has a plaintext <password> "
        "(value not shown); store password_sha256_hex instead"
    ) in lines
    assert (
        f"  FAIL HH-NET-1 user grafana ::/0 from users.xml:{line_of(users, '<networks>', '<grafana>')}: "
        "<ip> admits every IPv6 address"
    ) in lines
    assert "HH-DRIFT-1" not in text  # the kept user is not the spec's to compare
    assert password not in text


def test_kept_open_user_under_live_waivers_passes_visibly_waived(
    tmp_path: Path, secrets_dir: Path, password: str
) -> None:
    spec = make_spec(secrets_dir, "keep")
    tree = stock_tree(tmp_path, with_grafana(password))
    go_live(tree, spec)
    later = TODAY + dt.timedelta(days=30)
    waivers = (waiver("HH-AUTH-2", later), waiver("HH-NET-1", later, ("sandbox-1",)))
    passed, lines = audit_live(tree, spec, waivers)
    assert passed, lines
    text = "\n".join(lines)
    assert "every control passes or is waived (" in text and "3 waived" in text  # and the sandbox's own
    assert "  WAIVED HH-NET-1 user grafana ::/0 from users.xml:" in text
    assert f"    waiver (expires {later.isoformat()}): grafana's own login until TICKET-7 (HH-NET-1)" in lines
    assert "  WAIVED HH-AUTH-2 user grafana from users.xml:" in text
    assert password not in text
    # A waiver for another host, or one that expired, covers nothing.
    for other in (waiver("HH-NET-1", later, ("sandbox-2",)), waiver("HH-NET-1", TODAY - dt.timedelta(days=1))):
        passed, lines = audit_live(tree, spec, (waivers[0], other))
        assert not passed and any(line.startswith("  FAIL HH-NET-1 user grafana") for line in lines), lines
    assert f"    waiver (expired {(TODAY - dt.timedelta(days=1)).isoformat()}): " in "\n".join(lines)


def test_a_kept_user_that_fails_no_control_passes_even_from_users_d(tmp_path: Path, secrets_dir: Path) -> None:
    spec = make_spec(secrets_dir, "keep")
    tree = stock_tree(tmp_path)
    (tree / "users.d" / "grafana.xml").write_text(
        "<clickhouse><users><grafana><password_sha256_hex>"
        + secrets.token_hex(32)
        + "</password_sha256_hex><networks><ip>10.1.2.3</ip></networks></grafana></users></clickhouse>\n"
    )
    go_live(tree, spec)
    passed, lines = audit_live(tree, spec)
    assert passed, lines
    # Under refuse the same user fails the host as drift: the spec renders no grafana.
    refuse = make_spec(secrets_dir, "refuse")
    passed, lines = audit_live(tree, refuse)
    assert not passed and "  FAIL HH-DRIFT-1 user grafana from users.d/grafana.xml:1: not in the spec" in lines


@pytest.mark.parametrize("mode", ["refuse", "remove"])
def test_an_undeclared_user_still_live_fails_the_host_after_going_live(
    tmp_path: Path, secrets_dir: Path, password: str, mode: str
) -> None:
    """A user that appeared in users.xml after the check before going live (or one a removal did
    not reach) is named; users.xml is not hardhouse's, so drift alone would not see it."""
    spec = make_spec(secrets_dir, mode)
    tree = stock_tree(tmp_path, with_grafana(password).replace("<ip>::/0</ip>", "<ip>10.1.2.3</ip>"))
    go_live(tree, spec)
    passed, lines = audit_live(tree, spec)
    assert not passed
    grafana_line = line_of(tree / "users.xml", "<grafana>")
    assert lines[-1] == (
        f"  FAIL HH-DRIFT-1 user grafana from users.xml:{grafana_line}: not declared by the spec "
        f"(undeclared_users: {mode})"
    )
    assert lines[-2] == f"users in {CONFIG_DIR} that the spec does not declare:"
    # Removed by name, it is gone and the host passes.
    if mode == "remove":
        go_live(tree, spec, remove=["grafana"])
        passed, lines = audit_live(tree, spec)
        assert passed, lines


def test_a_control_the_audit_could_not_decide_fails_the_host(tmp_path: Path, secrets_dir: Path) -> None:
    """Any status other than pass, waived or not-applicable fails: the audit is gaining one for
    verdicts it cannot decide, and such a verdict is not a pass."""
    spec = make_spec(secrets_dir, None)
    tree = stock_tree(tmp_path)
    go_live(tree, spec)
    report = audit.audit_archive(
        fetched_archive(tree),
        target="sandbox-1",
        config_dir=CONFIG_DIR,
        spec=spec,
        waivers=parse_waivers(sandbox_waivers()),
    )
    assert not judge_host(report).failed
    undecided = ControlResult("HH-LISTEN-1", "undecided", note="listen_host ${x}: an unresolved substitution")  # type: ignore[arg-type]
    controls = [undecided if r.id == "HH-LISTEN-1" else r for r in report.controls]
    changed: AuditReport = dataclasses.replace(report, controls=controls)
    verdict = judge_host(changed)
    assert [r.id for r in verdict.failed] == ["HH-LISTEN-1"]
    lines = recheck.recheck_lines(changed, CONFIG_DIR, verdict)
    assert lines[1] == "  UNDECIDED HH-LISTEN-1: listen_host ${x}: an unresolved substitution"
    assert Status.NOT_APPLICABLE in {r.status for r in report.controls}  # not-applicable does not fail


# --- host data: waivers and the stamp -----------------------------------------------------


def test_waivers_in_host_data_are_checked_before_anything_is_touched(tmp_path: Path) -> None:
    data = {**DATA_DEFAULTS, "hardhouse_spec": VALID_SPEC}
    good = [{"control": "HH-NET-1", "reason": "BI tool", "expires": "2099-01-31", "targets": ["sandbox-1"]}]
    assert read_settings({**data, "hardhouse_waivers": good}).waivers[0].control == "HH-NET-1"
    for value, says in (
        ([{"control": "HH-NOPE-9", "reason": "x", "expires": "2099-01-31"}], "hardhouse_waivers[0].control: unknown"),
        ([{"control": "HH-NET-1", "reason": "x", "expires": "soon"}], "hardhouse_waivers[0].expires: "),
        ({"control": "HH-NET-1"}, "hardhouse_waivers is a dict, not a list of waivers. Fix: give a list of"),
        (str(tmp_path / "absent.yaml"), "check the path given to hardhouse_waivers"),
    ):
        with pytest.raises(HardhouseDeployError) as refused:
            read_settings({**data, "hardhouse_waivers": value})
        assert says in str(refused.value) and "Fix:" in str(refused.value), str(refused.value)
    path = tmp_path / "waivers.yaml"
    path.write_text("waivers:\n  - {control: HH-AUTH-2, reason: grafana, expires: 2099-01-31}\n")
    assert read_settings({**data, "hardhouse_waivers": str(path)}).waivers[0].control == "HH-AUTH-2"


def test_a_waiver_in_force_is_part_of_what_a_stamp_was_proven_against(tmp_path: Path) -> None:
    later, earlier = TODAY + dt.timedelta(days=9), TODAY - dt.timedelta(days=9)

    def context(*waivers: Waiver) -> str:
        from hardhouse.deploy.snapshot import make_trust

        base = spec_trust(tmp_path)
        trust = make_trust(
            load_spec(VALID_SPEC),
            {k: "x" * 20 for k in ("CH_INGEST_PASSWORD", "CH_ANALYST_PASSWORD")},
            [],
            spec_data=VALID_SPEC,
            seconds=3600,
            state_dir=str(tmp_path),
            verify_address="127.0.0.1",
            verify_ca=None,
            scope=list(base.scope),
            packages=[],
            waivers=waivers,
        )
        return trust.context

    none = context()
    assert context(waiver("HH-NET-1", earlier)) == none  # an expired waiver changes no verdict
    assert context(waiver("HH-NET-1", later)) != none  # one in force does: its expiry brings the proof back


# --- the step before anything is touched --------------------------------------------------


class StepHost(FakeHost):
    def __init__(self, fetched: FetchedTree):
        super().__init__(fetched)
        self.facts_read = 0
        self.noops: list[str] = []

    def get_fact(self, cls: type, **kwargs: Any) -> Any:
        self.facts_read += 1
        return self.fetched

    def noop(self, message: str) -> None:
        self.noops.append(message)


def check_step(
    monkeypatch: pytest.MonkeyPatch, spec: Any, fetched: FetchedTree, kind: str = "D", removal: Removal | None = None
) -> tuple[StepHost, list[str] | None]:
    """The step as pyinfra runs it on a host whose configuration directory is `kind` (D: there,
    M: missing); (the host, the lines it failed with or None when it went on)."""
    from hardhouse.deploy import users
    from hardhouse.deploy.facts import HostFiles, PathState

    monkeypatch.setattr(users, "host_files", lambda paths: HostFiles(paths={p: PathState(kind) for p in paths}))
    fake = StepHost(fetched)
    with ctx_host.use(fake):
        commands = list(users.check_undeclared_users._inner(spec=spec, config_dir=CONFIG_DIR, removal=removal))
    if not commands:
        return fake, None
    (command,) = commands
    shown = Shown()
    assert command.function(None, shown, *command.args) is False
    return fake, shown.lines


def test_refuse_fails_the_host_before_anything_is_touched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secrets_dir: Path, password: str
) -> None:
    spec = make_spec(secrets_dir, None)
    tree = stock_tree(tmp_path, with_grafana(password))
    fake, lines = check_step(monkeypatch, spec, FetchedTree(fetched_archive(tree)))
    assert lines is not None and fake.facts_read == 1
    assert lines[:2] == [
        "the host has 1 user the spec does not declare (undeclared_users: refuse); nothing was changed:",
        f"  grafana ({CONFIG_DIR}/users.xml:{line_of(tree / 'users.xml', '<grafana>')})",
    ]
    # A stock host passes; so does one without ClickHouse yet. A tree that cannot be read does not.
    assert check_step(monkeypatch, spec, FetchedTree(fetched_archive(stock_tree(tmp_path / "stock"))))[1] is None
    unreadable = FetchedTree(None, f"{CONFIG_DIR} is not a directory this user can read")
    fake, lines = check_step(monkeypatch, spec, unreadable, kind="M")
    assert lines is None and fake.noops == [f"{CONFIG_DIR} does not exist yet: the host has no users to judge"]
    assert check_step(monkeypatch, spec, unreadable, kind="D")[1] == [
        f"cannot read the host's users before going live: {CONFIG_DIR} is not a directory this user can read; "
        "nothing was changed"
    ]


def test_remove_and_keep_read_nothing_in_the_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secrets_dir: Path, password: str
) -> None:
    fetched = FetchedTree(fetched_archive(stock_tree(tmp_path, with_grafana(password))))
    fake, lines = check_step(monkeypatch, make_spec(secrets_dir, "keep"), fetched)
    assert lines is None and fake.facts_read == 0 and "judged after going live" in fake.noops[0]
    remove = make_spec(secrets_dir, "remove")
    removal = plan_removal(fetched, remove, CONFIG_DIR)
    fake, lines = check_step(monkeypatch, remove, fetched, removal=removal)
    assert lines is None and fake.facts_read == 0
    assert fake.logs == [
        f"undeclared_users: remove: removing 1 user the spec does not declare: grafana ({CONFIG_DIR}/users.xml:"
        f"{line_of(tmp_path / 'clickhouse-server' / 'users.xml', '<grafana>')})"
    ]
    stuck = Removal(removal.users, problems=("undeclared_users is remove, but ...",))
    assert check_step(monkeypatch, remove, fetched, removal=stuck)[1] == ["undeclared_users is remove, but ..."]
    unread = Removal(unreadable="tar failed on the host")
    assert check_step(monkeypatch, remove, fetched, removal=unread, kind="M")[1] is None
    assert check_step(monkeypatch, remove, fetched, removal=unread, kind="D")[1] == [
        "cannot read the host's users before going live: tar failed on the host; nothing was changed"
    ]
