"""A SCRAM-SHA-256 password (what hardhouse renders for 26.9 and newer) is a password to the
audit: a rendered modern tree passes HH-AUTH-1, and the hash of the empty password fails it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hardhouse.audit.users import EMPTY_SCRAM_SHA256
from hardhouse.cli import main
from hardhouse.render import render, write_files
from hardhouse.render.credentials import scram_sha256_hex
from hardhouse.spec import load_spec
from tests.helpers import PASSWORDS, VALID_SPEC, stock_tree

EMPTY_USER = """<clickhouse><users><blank>
  <password_scram_sha256_hex>{empty}</password_scram_sha256_hex>
  <networks><ip>10.1.1.1</ip></networks>
</blank></users></clickhouse>
"""


def auth_lines(tree: Path) -> list[str]:
    result = CliRunner().invoke(main, ["audit", str(tree), "--default-include", "none", "--dialect", "modern"])
    return [line for line in result.output.splitlines() if "HH-AUTH-1" in line]


def test_the_empty_scram_hash_is_the_one_clickhouse_computes() -> None:
    assert EMPTY_SCRAM_SHA256 == scram_sha256_hex("")


def test_a_rendered_scram_password_passes_and_an_empty_one_fails(tmp_path: Path) -> None:
    tree = stock_tree(tmp_path / "etc")
    files = render(load_spec({**VALID_SPEC, "clickhouse_version": "26.9"}), environ=PASSWORDS)
    assert any("<password_scram_sha256_hex>" in f.content for f in files)
    write_files(files, tree)
    lines = auth_lines(tree)
    assert lines and all(not line.strip().startswith("- HH-AUTH-1 user ingest") for line in lines), lines
    assert not any("has no password element" in line for line in lines), lines
    (tree / "users.d" / "zzz-blank.xml").write_text(EMPTY_USER.format(empty=EMPTY_SCRAM_SHA256))
    assert any("user blank" in line and "<password_scram_sha256_hex> is empty" in line for line in auth_lines(tree))
