"""One audit of one configuration tree: merge it as ClickHouse does, run every audit rule the
catalog names, compare with the spec when one is given (drift), apply waivers, and give each
control a status.

Whose rules apply (18.16's or modern ClickHouse's merge and reading) follows the server's
version: given (--dialect), the spec's clickhouse_version, the running server's (--online) or
the installed package's (over SSH). The root element (<yandex> or <clickhouse>) says nothing:
modern servers accept both. When the version is not known, the tree is judged by both rule
sets and each control takes the worse result (fail, then undecided, then pass).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from hardhouse.audit.drift import drift_findings
from hardhouse.audit.merge import ConfigTreeError, Dialect, ServerTree, read_server_tree
from hardhouse.audit.model import AuditReport, ControlResult, Finding, Status
from hardhouse.audit.online import Query, online_findings, server_version
from hardhouse.audit.rules import judge, tls_ports
from hardhouse.clickhouse import versions
from hardhouse.controls.catalog import CONTROLS
from hardhouse.controls.control import Control
from hardhouse.controls.registry import Tool, registered
from hardhouse.controls.waivers import Waiver
from hardhouse.controls.waivers import judge as judge_waivers
from hardhouse.spec import HardeningSpec

TLS_CONTROLS = ("HH-TLS-1", "HH-TLS-2", "HH-TLS-3")
BOTH = (Dialect.V18, Dialect.MODERN)
# Worst first: the status a control gets when the dialects disagree.
SEVERITY_ORDER = (Status.FAIL, Status.UNDECIDED, Status.PASS, Status.NOT_APPLICABLE)
VERSION_TEXT = re.compile(r"\s*(\d{1,3})\.(\d{1,3})")


@dataclass(frozen=True)
class DialectChoice:
    dialects: tuple[Dialect, ...]
    reason: str  # why, for the report
    version: versions.Version | None = None  # the server's version when known


def dialects_for_version(text: str) -> tuple[Dialect, ...]:
    """18.x reads as 18.16; 22.x and later as modern; anything else (19-21, unreadable) by both."""
    match = VERSION_TEXT.match(text)
    if not match:
        return BOTH
    major = int(match.group(1))
    if major == versions.LEGACY.major:
        return (Dialect.V18,)
    if major >= versions.MODERN_MIN.major:
        return (Dialect.MODERN,)
    return BOTH


def choose_dialects(
    *,
    dialect: Dialect | None,
    spec: HardeningSpec | None,
    server: str | None,
) -> DialectChoice:
    if dialect is not None:
        return DialectChoice((Dialect(dialect),), "given")
    if spec is not None:
        chosen = Dialect.V18 if spec.version == versions.LEGACY else Dialect.MODERN
        return DialectChoice((chosen,), f"the spec's clickhouse_version {spec.version}", spec.version)
    if server:
        match = VERSION_TEXT.match(server)
        version = versions.Version(int(match.group(1)), int(match.group(2))) if match else None
        return DialectChoice(dialects_for_version(server), f"the server is ClickHouse {server.strip()[:40]}", version)
    return DialectChoice(BOTH, "the server's version is not known (--dialect)")


def target_version(dialect: Dialect, choice: DialectChoice) -> versions.Version:
    """The server's version when known; else the oldest version the dialect's rules stand for."""
    if choice.version is not None:
        return choice.version
    return versions.LEGACY if dialect is Dialect.V18 else versions.MODERN_MIN


def _not_applicable(control: Control, tree: ServerTree, version: versions.Version, spec: HardeningSpec | None) -> str:
    if not control.applies_to(version):
        return f"needs ClickHouse {control.since} or newer"
    if control.id in TLS_CONTROLS and not tls_ports(tree):
        return "no TLS port is open"
    if control.id == "HH-DRIFT-1" and spec is None:
        return "no spec to compare with (--spec)"
    return ""


def _status(findings: list[Finding]) -> Status:
    if any(not finding.undecided for finding in findings):
        return Status.FAIL
    return Status.UNDECIDED if findings else Status.PASS


def audit_tree(
    config_dir: Path,
    *,
    spec: HardeningSpec | None = None,
    spec_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    waivers: list[Waiver] | None = None,
    dialect: Dialect | None = None,
    target: str | None = None,
    today: dt.date | None = None,
    online: Query | None = None,
    installed_at: Path | None = None,
    server: str | None = None,
    assume_no_default_include: bool = False,
    default_include: Path | None = None,
) -> AuditReport:
    """Raises ConfigTreeError (bad tree) or SpecError (bad spec); otherwise every control the
    audit can see gets a status. installed_at: where this tree lives on the server (a copy of
    /etc/clickhouse-server), so absolute paths under it are read from the copy. server: the
    server's version as its package says (over SSH). default_include / assume_no_default_include:
    a copy of the server's /etc/metrika.xml, or that it has none."""
    online_version = server_version(online) if online is not None else None
    choice = choose_dialects(dialect=dialect, spec=spec, server=online_version or server)
    trees: dict[Dialect, ServerTree] = {}
    for chosen in choice.dialects:
        try:
            trees[chosen] = read_server_tree(
                config_dir,
                chosen,
                installed_at=installed_at,
                assume_no_default_include=assume_no_default_include,
                default_include=default_include,
            )
        except ConfigTreeError as error:
            if len(choice.dialects) == 1:
                raise
            raise ConfigTreeError(
                f"read by {chosen} ClickHouse's rules: {error} (the server's version is not known, so both "
                "dialects' readings must succeed; give --dialect when you know it)"
            ) from None
    shared: list[Finding] = []
    unchecked: set[str] = set()
    first = trees[choice.dialects[0]]
    if spec is not None:  # a spec names one version, so one dialect
        environ = os.environ if environ is None else environ
        drifted, unchecked = drift_findings(first, config_dir, spec, environ, installed_at)
        shared += drifted
    online_note = None
    if online is not None:
        users_section = first.users.root.find("users")
        file_users = {user.tag for user in users_section.elements()} if users_section is not None else set()
        answered = online_findings(online, file_users, with_spec=spec is not None, version=online_version)
        shared += answered.findings
        online_note = answered.note
    by_dialect = {chosen: judge(tree) + shared for chosen, tree in trees.items()}
    # The controls an audit rule judges (every audit module is imported above, so all have
    # registered); the others are seen only from outside (probe, deploy verification).
    audited = {judge.control for judge in registered(Tool.AUDIT).values()}
    results = [
        _control_result(control, trees, by_dialect, choice, spec, unchecked, waivers or [], config_dir, target, today)
        for control in CONTROLS
        if control.id in audited
    ]
    files: list[str] = []
    unresolved = []
    for tree in trees.values():
        files += [f for f in tree.config.files + tree.users.files if f not in files]
        unresolved += [u for u in tree.config.unresolved + tree.users.unresolved if u not in unresolved]
    return AuditReport(
        target=target or str(config_dir),
        dialect=" and ".join(str(d) for d in choice.dialects),
        files=files,
        controls=results,
        unresolved=unresolved,
        spec=spec_name,
        online=online_note,
        dialect_reason=choice.reason,
    )


def _control_result(
    control: Control,
    trees: dict[Dialect, ServerTree],
    by_dialect: dict[Dialect, list[Finding]],
    choice: DialectChoice,
    spec: HardeningSpec | None,
    unchecked: set[str],
    waivers: list[Waiver],
    config_dir: Path,
    target: str | None,
    today: dt.date | None,
) -> ControlResult:
    judged: dict[Dialect, ControlResult] = {}
    for chosen, tree in trees.items():
        note = _not_applicable(control, tree, target_version(chosen, choice), spec)
        if note:
            judged[chosen] = ControlResult(control.id, Status.NOT_APPLICABLE, note=note)
            continue
        mine = [finding for finding in by_dialect[chosen] if finding.control == control.id]
        judged[chosen] = ControlResult(control.id, _status(mine), mine)
    worst = min(judged.values(), key=lambda r: SEVERITY_ORDER.index(r.status))
    result = ControlResult(control.id, worst.status, note=worst.note)
    if len(judged) > 1 and worst.status in (Status.FAIL, Status.UNDECIDED):
        for chosen, judged_result in judged.items():
            if judged_result.status != worst.status:
                continue
            for finding in judged_result.findings:
                seen_by_all = all(finding in other.findings for other in judged.values())
                shown = finding if seen_by_all else replace(finding, dialect=str(chosen))
                if shown not in result.findings and finding not in result.findings:
                    result.findings.append(shown)
    else:
        result.findings = list(worst.findings)
    if control.id == "HH-DRIFT-1" and unchecked and result.status != Status.NOT_APPLICABLE:
        skipped = ", ".join(sorted(unchecked))
        result.note = f"passwords not compared for {skipped} (their variables are not set)"
    if result.status in (Status.FAIL, Status.UNDECIDED):
        result.verdict = judge_waivers(waivers, control.id, target or str(config_dir), today)
        if result.verdict.waived:
            result.status = Status.WAIVED
    return result
