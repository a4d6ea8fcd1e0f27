"""The catalog of controls is the one source the README, rendered files, probe findings,
SARIF, waivers and deploy verification name controls by; the judges' registrations are the one
source of which rules and checks judge each control."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from hardhouse.audit.rules import RULES as AUDIT_RULES
from hardhouse.cli import main
from hardhouse.cli.controls import judge_modules, published_index
from hardhouse.controls import BY_ID, CONTROLS, catalog, index, registry
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, judges, register, registered
from hardhouse.controls.waivers import judge, load_waivers
from hardhouse.probe.model import Finding
from hardhouse.probe.rulebook import RULES as PROBE_RULES
from hardhouse.render.jinja import environment
from hardhouse.spec import reference
from hardhouse.spec.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
# 100 000 scalars once expanded, from five short lines.
ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]\n" for prev, name in zip("abcd", "bcde", strict=True)
)


def test_ids_are_stable_shaped_and_unique() -> None:
    assert len(BY_ID) == len(CONTROLS)
    # every typed id is catalogued once, each named after its value (ControlId.PORT_2 is "HH-PORT-2")
    assert set(BY_ID) == set(ControlId)
    for control in CONTROLS:
        assert isinstance(control.id, ControlId) and control.id == "HH-" + control.id.name.replace("_", "-")
        assert re.fullmatch(r"HH-[A-Z]+-[1-9][0-9]*", control.id)
        assert control.title and control.rationale and control.references


def test_every_spec_field_a_control_names_is_in_the_spec_reference() -> None:
    table = reference.markdown()
    for control in CONTROLS:
        for field in control.spec_fields:
            head = field.split(".*", 1)[0]
            assert f"| `{head}" in table, f"{control.id} names {field}, which the spec does not have"


def test_a_control_is_declared_once_in_the_order_its_ids_are_listed() -> None:
    assert [control.id for control in CONTROLS] == list(ControlId)
    declared = [control for family in catalog.FAMILIES for control in family.CONTROLS]
    assert sorted(declared, key=lambda control: control.id) == sorted(CONTROLS, key=lambda control: control.id)
    twice = dataclasses.replace(BY_ID[ControlId.PORT_1], title="again")
    with pytest.raises(AssertionError, match="HH-PORT-1 is declared twice"):
        catalog._in_published_order([*CONTROLS, twice])
    with pytest.raises(AssertionError, match=f"no family declares {CONTROLS[-1].id}"):
        catalog._in_published_order(CONTROLS[:-1])


# Judged outside audit.rules.RULES: drift needs the spec, the online rules the running server.
AUDIT_JUDGED_APART = {"drift", "online-user", "online-passwordless-user", "online-any-network"}
SRC = ROOT / "src"


def registering_modules() -> set[str]:
    """Every module of the package that imports register or judges from the registry."""
    found = set()
    for path in (SRC / "hardhouse").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "hardhouse.controls.registry":
                if {alias.name for alias in node.names} & {"register", "judges"}:
                    found.add(".".join(path.relative_to(SRC).with_suffix("").parts))
    return found


def test_the_index_holds_every_rule_and_check_each_tool_has() -> None:
    """Every module that registers a judge is one the index is built from, and every rule or
    check a tool runs is in the index under the control it registered against."""
    given = {module.__name__ for modules in judge_modules().values() for module in modules}
    assert registering_modules() == given, "a module registers judges the index is not given (JUDGE_MODULES)"
    published = published_index()
    indexed = {tool: {judge.id: judge.control for judge in index.ordered(tool, judge_modules()[tool])} for tool in Tool}
    for tool in Tool:
        assert indexed[tool] == {judge.id: judge.control for judge in registered(tool).values()}
    assert indexed[Tool.PROBE] == {rule.id: rule.control for rule in PROBE_RULES.values()}
    assert set(indexed[Tool.AUDIT]) == set(AUDIT_RULES) | AUDIT_JUDGED_APART, (
        "an audit rule registered that the audit does not run, or one unregistered"
    )
    # a control's judges in the order of JUDGE_MODULES, whichever module was imported first
    assert published[ControlId.PORT_2] == index.Checks(
        ("interserver-reachable", "interserver-unauthenticated"),
        ("interserver port closed", "a part request without credentials is refused"),
        ("interserver-unauthenticated",),
    )
    assert published[ControlId.AUTH_1].audit_rules == ("passwordless-user", "online-passwordless-user")
    assert published[ControlId.ZK_3] == index.Checks()
    with pytest.raises(ValueError, match="registered in hardhouse.audit.online, which the index was not given"):
        index.ordered(Tool.AUDIT, judge_modules()[Tool.AUDIT][:-1])


def test_a_failure_ranks_the_same_in_every_tool() -> None:
    """The probe's finding and the audit's finding for one control carry its severity, so SARIF
    says "error" or "warning" alike whichever tool found it."""
    compared = 0
    published = published_index()
    for control in CONTROLS:
        judged = published[control.id]
        for rule in judged.probe_rules:
            assert Finding.of(rule, "seen").severity == control.severity, rule
            for audit_rule in judged.audit_rules:
                assert registered(Tool.AUDIT)[audit_rule].severity == Finding.of(rule, "seen").severity
                compared += 1
    assert compared >= 10  # plaintext ports, interserver, TLS, ZooKeeper, passwords: judged by both


def test_a_judge_is_registered_once_against_a_typed_control(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTERED", {tool: {} for tool in Tool})
    closed = register(Tool.VERIFY, "closed", ControlId.PORT_1)
    assert register(Tool.VERIFY, "closed", ControlId.PORT_1) == closed  # a module imported twice
    assert closed.severity == BY_ID["HH-PORT-1"].severity
    with pytest.raises(ValueError, match="registered for HH-PORT-1 and for HH-PORT-2"):
        register(Tool.VERIFY, "closed", ControlId.PORT_2)
    with pytest.raises(ValueError, match="HH-PORT-9"):
        register(Tool.VERIFY, "elsewhere", "HH-PORT-9")  # type: ignore[arg-type]

    @judges(Tool.AUDIT, "listen-any", ControlId.LISTEN_1)
    def listen_any() -> list[str]:
        return ["found"]

    assert listen_any() == ["found"] and listen_any.judge.control == ControlId.LISTEN_1  # type: ignore[attr-defined]
    assert dict(registered(Tool.AUDIT)) == {"listen-any": listen_any.judge}  # type: ignore[attr-defined]


def test_every_template_belongs_to_a_control() -> None:
    templates = {name.removesuffix(".xml.j2") for name in environment().list_templates() if not name.startswith("_")}
    templates.discard("log_databases.sql.j2")
    covered = {template for control in CONTROLS for template in control.templates}
    assert templates == covered


def test_controls_command_lists_the_catalog() -> None:
    result = CliRunner().invoke(main, ["controls", "--json"])
    assert result.exit_code == 0
    assert [c["id"] for c in json.loads(result.output)["controls"]] == list(BY_ID)
    text = CliRunner().invoke(main, ["controls"]).output
    assert "HH-LISTEN-1  [high]  Listen only on named addresses" in text


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    return path


def test_a_live_waiver_waives_and_an_expired_one_does_not(tmp_path: Path) -> None:
    waivers = load_waivers(
        write(
            tmp_path,
            "waivers:\n"
            "  - {control: HH-PORT-1, reason: BI tool until replaced, expires: 2027-03-31}\n"
            "  - {control: HH-LISTEN-1, reason: old, expires: 2026-01-01, targets: [etc-a]}\n",
        )
    )
    today = dt.date(2026, 11, 29)
    live = judge(waivers, "HH-PORT-1", "anything", today)
    assert live.waived
    assert live.as_dict() == {"reason": "BI tool until replaced", "expires": "2027-03-31", "expired": False}
    expired = judge(waivers, "HH-LISTEN-1", "etc-a", today)
    assert not expired.waived and expired.as_dict()["expired"] is True
    assert judge(waivers, "HH-LISTEN-1", "etc-b", today).waiver is None
    assert judge(waivers, "HH-AUTH-1", "etc-a", today).waiver is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("waivers:\n  - {control: HH-NOPE-9, reason: x, expires: 2027-01-01}\n", "waivers[0].control: unknown control"),
        ("waivers:\n  - {control: HH-PORT-1, expires: 2027-01-01}\n", "waivers[0].reason"),
        ("waivers:\n  - {control: HH-PORT-1, reason: x, expires: soon}\n", "waivers[0].expires"),
        ('waivers:\n  - {control: HH-PORT-1, reason: "a\\x1b[2Jb", expires: 2027-01-01}\n', "control characters"),
        ("waivers: [{control: HH-PORT-1, reason: x, expires: 2027-01-01, by: me}]\n", "waivers[0].by"),
        (ALIAS_BOMB, "aliases"),
    ],
)
def test_bad_waivers_name_the_entry_and_field(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(SpecError) as error:
        load_waivers(write(tmp_path, text))
    assert says in str(error.value)


def test_waivers_file_must_be_a_small_regular_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="waivers file .* is a directory.*--waivers"):
        load_waivers(tmp_path)
