"""A team's test that hands hardened_clickhouse a bad spec fails with one line naming each field
and its fix, not a traceback into hardhouse; the container is never started (no Docker here)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from hardhouse.testing.plugin import spec_and_files
from tests.helpers import VALID_SPEC

ADDRESS = "10.0.0.2"


def failure(spec: object, environ: dict[str, str]) -> str:
    with pytest.raises(pytest.fail.Exception) as raised:
        spec_and_files(spec, ADDRESS, environ)  # type: ignore[arg-type]
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    assert raised.value.pytrace is False  # pytest prints the line, not hardhouse's stack
    return message


def test_an_unset_password_variable_is_one_line_naming_the_field_and_the_fix() -> None:
    message = failure(copy.deepcopy(VALID_SPEC), environ={})
    assert message.startswith("hardened_clickhouse: the spec is not valid: users[0].password_env: ")
    assert "CH_INGEST_PASSWORD is not set. Fix: export CH_INGEST_PASSWORD" in message


def test_a_bad_field_in_a_yaml_file_and_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "spec.yaml"
    bad.write_text("clickhouse_version: '24.8'\nlisten_host: [10.0.0.5]\n")
    assert "listen_host: unknown field" in failure(bad, environ={})
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    assert "not a mapping" in failure(listed, environ={})
    assert "spec file" in failure(tmp_path / "missing.yaml", environ={})
