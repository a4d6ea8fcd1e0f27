"""What the executor checks before it logs in (pure: no packet is sent), and how its report
reads. The logins themselves are in test_live_18_16.py."""

from __future__ import annotations

import copy
import secrets
from pathlib import Path
from typing import Any

from hardhouse.provision import Outcome, Report, owners_from_here, provision, provision_problems
from hardhouse.spec import load_spec
from tests.provision.scenarios import LEGACY_ADDRESS, legacy_spec

ENVIRON = {name: secrets.token_urlsafe(24) for name in ("HH_ADMIN", "HH_ANALYST", "HH_APP")}
CA = Path("/nonexistent/ca.crt")  # never opened: nothing here logs in


def spec(**changes: Any) -> Any:
    data = copy.deepcopy(legacy_spec())
    for index, networks in changes.get("networks", {}).items():
        data["users"][index]["networks"] = networks
    if "owners" in changes:
        data["log_databases"]["logs"]["owners"] = changes["owners"]
    data["ports"].update(changes.get("ports", {}))
    return load_spec(data)


def test_the_first_owner_in_reach_with_a_readable_password_is_chosen() -> None:
    assert owners_from_here(spec(), LEGACY_ADDRESS, ENVIRON) == ({"logs": "admin"}, [])


def test_an_owner_outside_its_networks_is_named_with_the_fix() -> None:
    chosen, (problem,) = owners_from_here(spec(networks={0: ["10.0.0.0/8"]}), LEGACY_ADDRESS, ENVIRON)
    assert chosen == {}
    assert problem.startswith("log database logs: no owner can log in from the deploy machine (127.0.0.1)")
    assert "admin: its networks do not include 127.0.0.1" in problem
    assert "Fix: add 127.0.0.1 (the deploy machine's address) to the networks of one of log_databases.logs.owners" in (
        problem
    )


def test_an_owner_whose_password_cannot_be_read_here_is_skipped() -> None:
    environ = {k: v for k, v in ENVIRON.items() if k != "HH_ADMIN"}
    chosen, (problem,) = owners_from_here(spec(), LEGACY_ADDRESS, environ)
    assert "admin: its password cannot be read here" in problem and "HH_ADMIN" in problem


def test_no_ca_and_a_closed_native_tls_port_are_refused_before_anything() -> None:
    problems = provision_problems(spec(ports={"native_tls": None}), LEGACY_ADDRESS, None, ENVIRON)
    assert len(problems) == 2
    assert "no CA to verify the server's certificate is named" in problems[0]
    assert "Fix: set hardhouse_tls_files.verify_ca" in problems[0]
    assert "ports.native_tls is closed" in problems[1]


def test_problems_stop_the_executor_before_any_login() -> None:
    report = provision(LEGACY_ADDRESS, spec(networks={0: ["10.0.0.0/8"]}), ca=CA, apply=True, environ=ENVIRON)
    assert not report.ok and report.outcomes == [] and len(report.errors) == 1


def test_a_spec_without_log_databases_needs_nothing() -> None:
    data = legacy_spec()
    del data["log_databases"]
    data["users"][1]["databases"] = ["default"]
    empty = load_spec(data)
    assert provision_problems(empty, LEGACY_ADDRESS, None, {}) == []
    assert provision(LEGACY_ADDRESS, empty, ca=None, apply=True, environ={}).as_dict() == {
        "ok": True,
        "changed": False,
        "outcomes": [],
        "errors": [],
    }


def test_the_report_says_changed_only_for_created_or_altered() -> None:
    assert Report([Outcome("logs", "matched", "")]).changed is False
    assert Report([Outcome("logs", "would create", "")]).changed is False
    assert Report([Outcome("logs", "created", "")]).changed is True
    assert Report([Outcome("logs.t.c", "refused", "")]).ok is False
    assert Report([Outcome("logs.t", "left alone", "")]).ok is True
