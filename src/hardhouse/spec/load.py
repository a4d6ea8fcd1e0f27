"""Loading a spec: from a mapping (pyinfra host data) or a YAML file, with pydantic's
errors turned into Problems that name the field and the fix.

Validation happens in two passes so that every problem is reported at once:
1. structure and single fields (pydantic, all field errors collected);
2. rules that span fields (each section's, in the order hardhouse.spec.model runs them),
   run when the structure is sound.
A message echoes the input only through `excerpt` (bounded, control characters escaped),
and never under a field whose name suggests a secret. The file itself is read within
bounds by hardhouse.spec.source.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hardhouse.spec.cluster import (
    Cluster,
    Interserver,
    InterserverOld,
    Keeper,
    Replica,
    Shard,
    ZooKeeper,
    ZooKeeperNode,
)
from hardhouse.spec.declare import StrictModel
from hardhouse.spec.errors import NOT_SHOWN, Problem, SpecError, bounded_text, excerpt, field_path, is_secret_location
from hardhouse.spec.log_databases import LogDatabase, LogEncryption, LogTable
from hardhouse.spec.masking import MaskingRule, QueryMasking
from hardhouse.spec.model import HardeningSpec, cross_checks
from hardhouse.spec.network import Ports, Tls
from hardhouse.spec.settings import CONSTRAINTS_TAG, SETTING_TAG, ServerLimits, SettingConstraint, SystemLogs
from hardhouse.spec.source import check_data_bounds, decode_spec, parse_spec_text, read_spec_bytes
from hardhouse.spec.users import Quota, User

# Beyond this many, problems are counted rather than listed: the report stays readable and
# its size does not grow with a hostile input.
MAX_PROBLEMS = 100


def problems_from_validation(error: ValidationError) -> list[Problem]:
    """Turn pydantic's errors into Problems with a field path and a fix."""
    problems = []
    for item in error.errors(include_url=False):
        loc = [part for part in item["loc"] if not _is_union_tag(part)]
        path = field_path(loc)
        kind = item["type"]
        ctx = item.get("ctx") or {}
        # Under a secret-looking name the value is never repeated, whatever went wrong.
        secret = is_secret_location(loc)
        shown, note = ("this value", f" {NOT_SHOWN}") if secret else (excerpt(item.get("input")), "")
        if kind == "hardhouse":
            problems.append(Problem(path, item["msg"], ctx["fix"]))
        elif kind == "extra_forbidden":
            problems.append(_unknown_field(loc))
        elif kind == "missing":
            problems.append(
                Problem(
                    path,
                    "this required field is missing",
                    f"add {loc[-1]}: (see the spec reference in README.md)",
                )
            )
        elif kind == "literal_error":
            problems.append(Problem(path, f"{shown} is not allowed{note}", f"use {ctx.get('expected')}"))
        elif kind in {"int_type", "int_parsing", "int_from_float"}:
            problems.append(
                Problem(
                    path,
                    f"{shown} is not a whole number{note}",
                    "write a plain number without quotes",
                )
            )
        elif kind == "bool_type":
            problems.append(Problem(path, f"{shown} is not true or false{note}", "write true or false without quotes"))
        elif kind in {"string_type", "string_unicode"}:
            problems.append(Problem(path, f"{shown} is not text{note}", "write a string (quote it in YAML)"))
        elif kind in {"list_type", "dict_type", "model_type"}:
            shape = "a list" if kind == "list_type" else "a mapping of keys to values"
            problems.append(Problem(path, f"{shown} is not {shape}{note}", f"write {shape} here"))
        else:
            # pydantic's own message names the expected type, not the input; cut it anyway.
            problems.append(
                Problem(
                    path,
                    bounded_text(item["msg"]),
                    "correct the value (see the spec reference in README.md)",
                )
            )
    return _dedupe(problems)


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the tried member type to locations inside unions (e.g. "int", "str").
    return isinstance(part, str) and part in {"int", "float", "str", "bool", SETTING_TAG, CONSTRAINTS_TAG}


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            out.append(problem)
    return out


def capped(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    summary = Problem("", f"{rest} more problems are not listed", "fix the ones above and check again")
    return [*problems[:MAX_PROBLEMS], summary]


MODELS_BY_FIELD: dict[str, type[StrictModel]] = {
    "ports": Ports,
    "tls": Tls,
    "users": User,
    "quotas": Quota,
    "query_masking": QueryMasking,
    "rules": MaskingRule,
    "log_databases": LogDatabase,
    "tables": LogTable,
    "encryption": LogEncryption,
    "cluster": Cluster,
    "shards": Shard,
    "replicas": Replica,
    "interserver": Interserver,
    "old": InterserverOld,
    "zookeeper": ZooKeeper,
    "nodes": ZooKeeperNode,
    "keeper": Keeper,
    "constraints": SettingConstraint,
    "system_logs": SystemLogs,
    "server_limits": ServerLimits,
}
PLAINTEXT_PASSWORD_NAMES = {"password", "passwd", "pass", "pwd", "plaintext_password"}


def _unknown_field(loc: list[str | int]) -> Problem:
    name = str(loc[-1])
    path = field_path(loc)
    if name.lower() in PLAINTEXT_PASSWORD_NAMES:
        return Problem(
            path,
            "a plaintext password may not appear in a spec",
            "remove it and use password_env: VAR (or password_file / password_sha256_hex); only a hash is ever written",
        )
    parent = next(
        (MODELS_BY_FIELD[p] for p in reversed(loc[:-1]) if isinstance(p, str) and p in MODELS_BY_FIELD),
        HardeningSpec,
    )
    known = list(parent.model_fields)
    # difflib is quadratic: only a name of plausible length is compared.
    close = difflib.get_close_matches(name, known, n=1) if len(name) <= 64 else []
    fix = f"did you mean {close[0]!r}?" if close else f"remove it; known fields here: {', '.join(known)}"
    if is_secret_location([name]):
        return Problem(path, f"unknown field {excerpt(name, 40)}; a secret may not appear in a spec {NOT_SHOWN}", fix)
    return Problem(path, f"unknown field {excerpt(name, 40)}", fix)


def load_spec(data: Any) -> HardeningSpec:
    """Validate a spec given as a mapping (YAML document or pyinfra host data)."""
    if not isinstance(data, dict):
        raise SpecError(
            [
                Problem(
                    "",
                    f"the spec is {type(data).__name__}, not a mapping of fields",
                    "write the spec as a YAML mapping (see README.md)",
                )
            ],
        )
    check_data_bounds(data)
    try:
        spec = HardeningSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(capped(problems_from_validation(error))) from None
    except RecursionError:
        raise SpecError(
            [Problem("", "the spec nests too deeply to be read", "write the spec as plain YAML mappings and lists")],
        ) from None
    problems = cross_checks(spec)
    if problems:
        raise SpecError(capped(problems))
    return spec


def load_spec_file(path: str | Path) -> HardeningSpec:
    """Read, bound and validate a YAML spec file; every failure is a SpecError."""
    text = decode_spec(read_spec_bytes(path), path)
    return load_spec(parse_spec_text(text, path))
