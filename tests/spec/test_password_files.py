"""Password files are judged the way ssh judges a private key: a regular file, owner-only,
small, UTF-8. Every refusal is a Problem at users[i].password_file that echoes neither the
content nor the path."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hardhouse.cli import main
from hardhouse.render import render
from hardhouse.render.credentials import MAX_SECRET_BYTES, read_secret, sha256_hex
from hardhouse.spec import load_spec
from hardhouse.spec.errors import Problem, SpecError
from tests.helpers import write_password_file


def spec_with_file(spec_dict: dict[str, Any], path: Path | str) -> dict[str, Any]:
    spec_dict["users"][0].pop("password_env")
    spec_dict["users"][0]["password_file"] = str(path)
    return spec_dict


def only_problem(spec_dict: dict[str, Any], environ: dict[str, str]) -> Problem:
    with pytest.raises(SpecError) as error:
        render(load_spec(spec_dict), environ)
    (problem,) = error.value.problems
    assert problem.path == "users[0].password_file"
    return problem


def test_an_owner_only_file_is_read_without_its_trailing_newline(
    tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str]
) -> None:
    secret = secrets.token_urlsafe(24)
    spec = load_spec(spec_with_file(spec_dict, write_password_file(tmp_path / "pw", secret)))
    assert read_secret(spec.users[0], "users[0]", environ) == (secret, None)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666, 0o700 | 0o004])
def test_a_file_others_may_read_or_write_is_refused(
    tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str], mode: int
) -> None:
    secret = secrets.token_urlsafe(24)
    path = write_password_file(tmp_path / "pw", secret, mode)
    problem = only_problem(spec_with_file(spec_dict, path), environ)
    assert f"mode is {mode:04o}" in problem.problem
    assert "chmod 600" in problem.fix
    assert secret not in str(problem) and str(path) not in str(problem)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_modes_are_accepted(
    tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str], mode: int
) -> None:
    secret = secrets.token_urlsafe(24)
    path = write_password_file(tmp_path / "pw", secret, mode)
    users = next(
        f for f in render(load_spec(spec_with_file(spec_dict, path)), environ) if f.path.endswith("hardhouse-users.xml")
    ).content
    assert sha256_hex(secret) in users


def test_a_symlink_to_an_owner_only_file_is_followed(
    tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str]
) -> None:
    # Mounted secrets are often symlinks (whose own mode is 0777): the file they lead to is judged.
    secret = secrets.token_urlsafe(24)
    target = write_password_file(tmp_path / "pw", secret)
    (tmp_path / "link").symlink_to(target)
    spec = load_spec(spec_with_file(spec_dict, tmp_path / "link"))
    assert read_secret(spec.users[0], "users[0]", environ) == (secret, None)
    target.chmod(0o644)
    assert read_secret(spec.users[0], "users[0]", environ)[1] is not None


def test_a_device_is_refused_without_reading_it(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    problem = only_problem(spec_with_file(spec_dict, "/dev/zero"), environ)
    assert "not a regular file" in problem.problem


def test_a_directory_is_refused(tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    assert "not a regular file" in only_problem(spec_with_file(spec_dict, tmp_path), environ).problem


def test_a_fifo_is_refused_without_blocking(tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    fifo = tmp_path / "pw"
    os.mkfifo(fifo, 0o600)
    outcome: list[Problem] = []
    worker = threading.Thread(
        target=lambda: outcome.append(only_problem(spec_with_file(spec_dict, fifo), environ)), daemon=True
    )
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():
        # Unblock the reader so the test run can end, then fail.
        with open(fifo, "w"):
            pass
        pytest.fail("reading a FIFO password file blocked")
    assert "not a regular file" in outcome[0].problem


def test_a_file_over_4_kib_is_refused(tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    path = write_password_file(tmp_path / "pw", "x" * MAX_SECRET_BYTES)  # plus its newline
    problem = only_problem(spec_with_file(spec_dict, path), environ)
    assert "larger than 4096 bytes" in problem.problem


def test_a_file_that_is_not_utf8_is_refused_without_its_content(
    tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str]
) -> None:
    path = tmp_path / "pw"
    path.write_bytes(b"Tr0ub4dor-caf\xe9-secret\n")
    path.chmod(0o600)
    problem = only_problem(spec_with_file(spec_dict, path), environ)
    assert "not UTF-8" in problem.problem and "offset 13" in problem.problem
    assert "Tr0ub4dor" not in str(problem)


def test_a_missing_file_is_refused_without_its_path(spec_dict: dict[str, Any], environ: dict[str, str]) -> None:
    problem = only_problem(spec_with_file(spec_dict, "Hunter2-pasted-by-mistake"), environ)
    assert "No such file" in problem.problem
    assert "Hunter2" not in str(problem)


def test_the_cli_refuses_a_readable_password_file_with_exit_2(
    tmp_path: Path, spec_dict: dict[str, Any], environ: dict[str, str]
) -> None:
    import yaml

    secret = secrets.token_urlsafe(24)
    path = write_password_file(tmp_path / "pw", secret, 0o644)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec_with_file(spec_dict, path)))
    result = CliRunner().invoke(main, ["render", "--spec", str(spec_file), "--out", str(tmp_path / "out")], env=environ)
    assert result.exit_code == 2
    assert "users[0].password_file: the file's mode is 0644" in result.output
    assert secret not in result.output
    assert not (tmp_path / "out").exists()
