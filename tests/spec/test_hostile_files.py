"""Hostile spec files: an alias bomb, a huge file, a device, a FIFO, deep nesting, bytes that
are not UTF-8. Each ends in exit 2 with a short report naming the file and the fix, never in a
hang, a traceback or output the size of the expanded input.

Inputs that could expand run the CLI in a child capped at 1 GiB of address space and a
deadline (tests.helpers.run_cli_capped), so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hardhouse.cli import main
from hardhouse.spec import load_spec_file
from hardhouse.spec.errors import SpecError
from hardhouse.spec.source import MAX_SPEC_BYTES
from tests.helpers import PASSWORDS, VALID_SPEC, assert_refused_briefly, run_cli_capped

VALID_YAML = yaml.safe_dump(VALID_SPEC)


def alias_bomb(levels: int, where: str) -> str:
    """Billion laughs: each level is nine aliases of the one before; 9**levels leaves."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return (
        "\n".join([*lines, 'clickhouse_version: "24.8"', 'listen_hosts: ["10.0.0.5"]', f"{where}: *a{levels}"]) + "\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize("where", ["users", "default_user", "listen_hosts"])
@pytest.mark.parametrize("as_json", [False, True])
def test_a_600_byte_alias_bomb_is_refused_in_bounded_memory(tmp_path: Path, where: str, as_json: bool) -> None:
    spec = tmp_path / "bomb.yaml"
    spec.write_text(alias_bomb(8, where))
    assert spec.stat().st_size < 700
    result = run_cli_capped("check", "--spec", str(spec), *(["--json"] if as_json else []))
    output = assert_refused_briefly(result, "more than 100000 values", "aliases")
    if as_json:
        assert json.loads(output)["problems"][0]["fix"]


@pytest.mark.slow
def test_a_small_bomb_that_once_printed_34_mb_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "bomb.yaml"
    spec.write_text(alias_bomb(6, "default_user"))
    assert_refused_briefly(run_cli_capped("check", "--spec", str(spec)), "more than 100000 values")


@pytest.mark.slow
def test_a_file_over_1_mib_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "huge.yaml"
    spec.write_text(VALID_YAML + "#" * MAX_SPEC_BYTES + "\n")
    assert_refused_briefly(
        run_cli_capped("render", "--spec", str(spec), "--out", str(tmp_path / "out")), "larger than 1048576 bytes"
    )
    assert not (tmp_path / "out").exists()


def test_a_file_of_1_mib_is_read(tmp_path: Path) -> None:
    spec = tmp_path / "padded.yaml"
    padding = MAX_SPEC_BYTES - len(VALID_YAML.encode()) - 1
    spec.write_text(VALID_YAML + "#" * padding + "\n")
    assert spec.stat().st_size == MAX_SPEC_BYTES
    assert load_spec_file(spec).clickhouse_version == "24.8"


@pytest.mark.slow
def test_a_device_is_refused_without_reading_it() -> None:
    assert_refused_briefly(
        run_cli_capped("check", "--spec", "/dev/zero"), "character device, not a regular file", "YAML file"
    )


@pytest.mark.slow
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.fifo"
    os.mkfifo(fifo)
    assert_refused_briefly(run_cli_capped("check", "--spec", str(fifo)), "a FIFO, not a regular file")


@pytest.mark.slow
@pytest.mark.parametrize(("depth", "said"), [(100, "nests more than 64 levels deep"), (50_000, "not valid YAML")])
def test_deep_nesting_is_refused(tmp_path: Path, depth: int, said: str) -> None:
    spec = tmp_path / "deep.yaml"
    spec.write_text("users: " + "[" * depth + "]" * depth + "\n")
    assert_refused_briefly(run_cli_capped("check", "--spec", str(spec)), said)


@pytest.mark.slow
def test_a_huge_integer_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "digits.yaml"
    spec.write_text(VALID_YAML.replace("https: 8443", "https: " + "9" * 10_000))
    assert_refused_briefly(run_cli_capped("check", "--spec", str(spec)), "cannot be read")


def check(spec: Path) -> Any:
    return CliRunner().invoke(main, ["check", "--spec", str(spec)], env=PASSWORDS)


def test_bytes_that_are_not_utf8_are_refused_with_their_offset(tmp_path: Path) -> None:
    spec = tmp_path / "latin1.yaml"
    spec.write_bytes(VALID_YAML.encode() + "# café\n".encode("latin-1"))
    result = check(spec)
    assert result.exit_code == 2
    assert f"byte 0xe9 at offset {len(VALID_YAML.encode()) + 5} cannot be decoded" in result.output
    assert "save the file as UTF-8" in result.output
    assert "Traceback" not in result.output


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "twice.yaml"
    # A reviewer reads the first; YAML would keep the second.
    spec.write_text(VALID_YAML + "allow_all_interfaces: false\nallow_all_interfaces: true\n")
    result = check(spec)
    assert result.exit_code == 2
    assert "key 'allow_all_interfaces' appears twice in one mapping" in result.output


def test_anchors_used_sparingly_still_work(tmp_path: Path) -> None:
    spec = copy.deepcopy(VALID_SPEC)
    spec["users"][1]["networks"] = ["10.1.2.0/24"]
    text = yaml.safe_dump(spec).replace("- 10.0.0.0/8", "- &office 10.0.0.0/8")
    text = text.replace("- 10.1.2.0/24", "- *office")
    path = tmp_path / "anchors.yaml"
    path.write_text(text)
    assert load_spec_file(path).users[1].networks == ["10.0.0.0/8"]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("", "not a mapping"),
        ("- a\n- b\n", "not a mapping"),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
        ("a: *missing\n", "found undefined alias"),
        ("a: !!python/object/apply:os.system [id]\n", "not valid YAML"),
        ("a: 1\n\x00", "not valid YAML"),
    ],
)
def test_other_malformed_files(tmp_path: Path, content: str, said: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(content)
    with pytest.raises(SpecError) as error:
        load_spec_file(spec)
    assert said in str(error.value)
