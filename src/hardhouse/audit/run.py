"""One audit of one configuration tree: merge it as ClickHouse does, run every audit rule the
catalog names, compare with the spec when one is given (drift), apply waivers, and give each
control a status."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

from hardhouse.audit.drift import drift_findings
from hardhouse.audit.merge import Dialect, ServerTree, read_server_tree
from hardhouse.audit.model import AuditReport, ControlResult, Finding, Status
from hardhouse.audit.online import Query, online_findings
from hardhouse.audit.rules import RULES, tls_ports
from hardhouse.clickhouse import versions
from hardhouse.controls.catalog import CONTROLS
from hardhouse.controls.waivers import Waiver, judge
from hardhouse.spec import HardeningSpec

TLS_CONTROLS = ("HH-TLS-1", "HH-TLS-2", "HH-TLS-3")


def target_version(tree: ServerTree, spec: HardeningSpec | None) -> versions.Version:
    """The spec's version; without one, the oldest version the dialect's rules stand for."""
    if spec is not None:
        return spec.version
    return versions.LEGACY if tree.dialect == Dialect.V18 else versions.MODERN_MIN


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
) -> AuditReport:
    """Raises ConfigTreeError (bad tree) or SpecError (bad spec); otherwise every control the
    audit can see gets a status. installed_at: where this tree lives on the server (a copy of
    /etc/clickhouse-server), so absolute paths under it are read from the copy."""
    if dialect is None and spec is not None:
        dialect = Dialect.V18 if spec.version == versions.LEGACY else Dialect.MODERN
    tree = read_server_tree(config_dir, dialect, installed_at=installed_at)
    target = target or str(config_dir)
    version = target_version(tree, spec)
    found: list[Finding] = [finding for rule in RULES.values() for finding in rule(tree)]
    unchecked: set[str] = set()
    if spec is not None:
        environ = os.environ if environ is None else environ
        drifted, unchecked = drift_findings(tree, config_dir, spec, environ, installed_at)
        found += drifted
    online_note = None
    if online is not None:
        users_section = tree.users.root.find("users")
        file_users = {user.tag for user in users_section.elements()} if users_section is not None else set()
        answered = online_findings(online, file_users, with_spec=spec is not None)
        found += answered.findings
        online_note = answered.note
    results = []
    for control in CONTROLS:
        if not control.audit_rules:
            continue  # seen only from outside (hardhouse probe, deploy verification)
        mine = [finding for finding in found if finding.control == control.id]
        result = ControlResult(control.id, Status.FAIL if mine else Status.PASS, mine)
        not_applicable = (
            f"needs ClickHouse {control.since} or newer"
            if not control.applies_to(version)
            else "no TLS port is open"
            if control.id in TLS_CONTROLS and not tls_ports(tree)
            else "no spec to compare with (--spec)"
            if control.id == "HH-DRIFT-1" and spec is None
            else None
        )
        if not_applicable:
            result = ControlResult(control.id, Status.NOT_APPLICABLE, note=not_applicable)
        elif control.id == "HH-DRIFT-1" and unchecked:
            skipped = ", ".join(sorted(unchecked))
            result.note = f"passwords not compared for {skipped} (their variables are not set)"
        if result.status == Status.FAIL:
            result.verdict = judge(waivers or [], control.id, target, today)
            if result.verdict.waived:
                result.status = Status.WAIVED
        results.append(result)
    return AuditReport(
        target=target,
        dialect=str(tree.dialect),
        files=tree.config.files + [f for f in tree.users.files if f not in tree.config.files],
        controls=results,
        unresolved=tree.config.unresolved + tree.users.unresolved,
        spec=spec_name,
        online=online_note,
    )
