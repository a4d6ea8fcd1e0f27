"""Checks not made from here: listed as SKIP, never counted as passed or failed, and kept
apart in the deploy's JSON answer."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import pytest

from hardhouse.childproc import Refused
from hardhouse.verify import checks, deployment
from hardhouse.verify.checks import Check, report_text
from hardhouse.verify.privileges import LOG_RIGHTS
from tests.provision.scenarios import legacy_spec

CHECKS = [
    Check("10.0.0.5:9440 (native_tls)", "reader oncall reads logs.t", True, "SELECT answered", LOG_RIGHTS),
    Check(
        "10.0.0.5:9440 (native_tls)", "reader analyst on logs", True, "not checked from here: ...", LOG_RIGHTS, False
    ),
    Check("10.0.0.5:9440 (native_tls)", "user ingest logs in from 10.0.0.1", False, "refused"),
]


def test_report_text_marks_unchecked_lines_and_counts_them_apart() -> None:
    text = report_text(CHECKS)
    assert "  SKIP  HH-DATA-1  " in text and "reader analyst on logs: not checked from here" in text
    assert text.splitlines()[-1] == "2 checks: 1 passed, 1 failed, 1 not checked from here"


def test_the_json_answer_keeps_unchecked_lines_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deployment, "verify_deployment", lambda *a, **k: CHECKS)
    request = {"spec": legacy_spec(), "address": "127.0.0.2", "ca": None}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(request)))
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.argv", ["deployment"])
    assert deployment.main() == 1
    answer: dict[str, Any] = json.loads(out.getvalue())
    assert [c["check"] for c in answer["checks"]] == [CHECKS[0].check, CHECKS[2].check]
    assert [c["check"] for c in answer["not_checked"]] == [CHECKS[1].check]
    # each line names its control and the registered check it is part of ("" for a line that the deploy works)
    assert [(c["control"], c["check_id"]) for c in answer["checks"]] == [
        ("HH-DATA-1", "log readers and writers hold only their rights"),
        ("", ""),
    ]


@pytest.mark.parametrize(
    "request_",
    [
        {"address": "127.0.0.2", "ports": {"https": 8443}, "ca": 7},
        {"address": "127.0.0.2", "ports": {"smtp": 25}, "ca": None},
        {"address": "127.0.0.2", "ports": {"https": 0}, "ca": None},
        {"address": "127.0.0.2", "ports": {"https": True}, "ca": None},
        {"address": "127.0.0.2", "ports": ["https"], "ca": None},
        {"ports": {"https": 8443}, "ca": None},
    ],
)
def test_the_outside_checks_refuse_a_request_they_cannot_read(request_: dict[str, Any]) -> None:
    """The deploy's helper child answers a malformed request with an error (the host fails with
    it), never with checks made against ports or an address nobody named."""
    with pytest.raises(Refused, match="an outside request is|the outside request has fields|not a spec port"):
        checks.answer(request_)


@pytest.mark.parametrize("module", ["hardhouse.verify.deployment", "hardhouse.provision"])
@pytest.mark.parametrize(
    ("stdin", "said"),
    [
        ("not json", "request is not JSON"),
        ("[1]", "request is not a JSON object"),
        ('{"spec": {}}', "missing ['address']"),
        ('{"spec": {}, "address": "127.0.0.1", "rm": 1}', "unknown ['rm']"),
        ('{"spec": {}, "address": "127.0.0.1"}', "clickhouse_version: this required field is missing"),
        ("x" * (5 * 1024 * 1024), "request is longer than"),
    ],
    ids=["not json", "not an object", "missing", "unknown", "bad spec", "too long"],
)
def test_the_entry_points_refuse_a_bad_request_in_one_line_with_exit_2(module: str, stdin: str, said: str) -> None:
    """`python -m hardhouse.provision` and `python -m hardhouse.verify.deployment` read a request
    on stdin: a bad one is named, with exit 2 and no traceback."""
    result = subprocess.run([sys.executable, "-m", module], input=stdin, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""
