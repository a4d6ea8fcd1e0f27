"""The catalog of controls is the one source the README, rendered files, probe findings,
SARIF, waivers and deploy verification name controls by."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import hardhouse.audit.run  # noqa: F401  (the audit: its rules, drift and the online rules register)
import hardhouse.verify.deployment  # noqa: F401  (imports every verify module, which registers its checks)
from hardhouse.audit.rules import RULES as AUDIT_RULES
from hardhouse.cli import main
from hardhouse.controls import BY_AUDIT_RULE, BY_ID, BY_PROBE_RULE, BY_VERIFY_CHECK, CONTROLS, registry
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, judges, register, registered
from hardhouse.controls.table import markdown_table
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


def test_readme_embeds_the_current_control_table() -> None:
    assert markdown_table() in (ROOT / "README.md").read_text(), (
        "README's control table is stale: run `hardhouse controls --markdown` and paste it over the old one"
    )


def test_every_spec_field_a_control_names_is_in_the_spec_reference() -> None:
    table = reference.markdown()
    for control in CONTROLS:
        for field in control.spec_fields:
            head = field.split(".*", 1)[0]
            assert f"| `{head}" in table, f"{control.id} names {field}, which the spec does not have"


# The audit's findings judged outside audit.rules.RULES: drift (hardhouse.audit.drift, it needs
# the spec) and what --online asks the server (hardhouse.audit.online). They join the registry
# when the audit registers its rules (hardhouse.controls.registry).
# Judged outside audit.rules.RULES: drift needs the spec, the online rules the running server.
AUDIT_JUDGED_APART = {"drift", "online-user", "online-passwordless-user", "online-any-network"}


def test_the_catalog_and_every_tools_rules_and_checks_are_one_index() -> None:
    """Catalog, probe rules, verify checks and audit rules: every rule or check a tool has is
    listed under exactly the control it declares, and every one the catalog lists exists."""
    audit_ids = set(AUDIT_RULES) | AUDIT_JUDGED_APART
    assert set(registered(Tool.AUDIT)) == audit_ids, (
        "an audit rule registered that the audit does not run, or one unregistered"
    )
    declared: dict[Tool, dict[str, ControlId | None]] = {
        Tool.PROBE: {rule.id: rule.control for rule in PROBE_RULES.values()},
        Tool.VERIFY: {check.id: check.control for check in registered(Tool.VERIFY).values()},
        Tool.AUDIT: {rule: registered(Tool.AUDIT)[rule].control for rule in audit_ids},
    }
    listed = {Tool.PROBE: BY_PROBE_RULE, Tool.VERIFY: BY_VERIFY_CHECK, Tool.AUDIT: BY_AUDIT_RULE}
    for tool, ids in declared.items():
        missing, orphans = set(listed[tool]) - set(ids), set(ids) - set(listed[tool])
        assert not missing, f"the catalog lists {tool} checks that do not exist: {sorted(missing)}"
        assert not orphans, f"{tool} checks no control lists: {sorted(orphans)}"
        for name, control in ids.items():
            assert control is None or listed[tool][name].id == control, (
                f"{tool} {name!r} declares {control}, the catalog lists it under {listed[tool][name].id}"
            )


def test_a_failure_ranks_the_same_in_every_tool() -> None:
    """The probe's finding and the audit's finding for one control carry its severity, so SARIF
    says "error" or "warning" alike whichever tool found it."""
    compared = 0
    for control in CONTROLS:
        for rule in control.probe_rules:
            assert Finding.of(rule, "seen").severity == control.severity, rule
            for audit_rule in control.audit_rules:
                assert BY_AUDIT_RULE[audit_rule].severity == Finding.of(rule, "seen").severity
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
