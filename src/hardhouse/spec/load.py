"""Loading a spec: from a mapping (pyinfra host data) or a YAML file, with pydantic's
errors turned into Problems that name the field and the fix.

Validation happens in two passes so that every problem is reported at once:
1. structure and single fields (pydantic, all field errors collected);
2. rules that span fields (hardhouse.spec.checks), run when the structure is sound.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hardhouse.spec.checks import cross_checks
from hardhouse.spec.errors import Problem, SpecError, field_path
from hardhouse.spec.model import (
    HardeningSpec,
    LogDatabase,
    LogEncryption,
    LogTable,
    MaskingRule,
    Ports,
    QueryMasking,
    Quota,
    StrictModel,
    Tls,
    User,
)


def problems_from_validation(error: ValidationError) -> list[Problem]:
    """Turn pydantic's errors into Problems with a field path and a fix."""
    problems = []
    for item in error.errors(include_url=False):
        loc = [part for part in item["loc"] if not _is_union_tag(part)]
        path = field_path(loc)
        kind = item["type"]
        ctx = item.get("ctx") or {}
        if kind == "hardhouse":
            problems.append(Problem(path, item["msg"], ctx["fix"]))
        elif kind == "extra_forbidden":
            problems.append(_unknown_field(loc))
        elif kind == "missing":
            problems.append(Problem(path, "this required field is missing", f"add {loc[-1]}: (see the spec reference in README.md)"))
        elif kind == "literal_error":
            problems.append(Problem(path, f"{item['input']!r} is not allowed", f"use {ctx.get('expected')}"))
        elif kind in {"int_type", "int_parsing", "int_from_float"}:
            problems.append(Problem(path, f"{item['input']!r} is not a whole number", "write a plain number without quotes"))
        elif kind == "bool_type":
            problems.append(Problem(path, f"{item['input']!r} is not true or false", "write true or false without quotes"))
        elif kind in {"string_type"}:
            problems.append(Problem(path, f"{item['input']!r} is not text", "write a string (quote it in YAML)"))
        elif kind in {"list_type", "dict_type", "model_type"}:
            shape = "a list" if kind == "list_type" else "a mapping of keys to values"
            problems.append(Problem(path, f"{_short(item['input'])} is not {shape}", f"write {shape} here"))
        else:
            problems.append(Problem(path, item["msg"], "correct the value (see the spec reference in README.md)"))
    return _dedupe(problems)


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the tried member type to locations inside unions (e.g. "int", "str").
    return isinstance(part, str) and part in {"int", "float", "str", "bool"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            out.append(problem)
    return out


MODELS_BY_FIELD: dict[str, type[StrictModel]] = {
    "ports": Ports, "tls": Tls, "users": User, "quotas": Quota, "query_masking": QueryMasking,
    "rules": MaskingRule, "log_databases": LogDatabase, "tables": LogTable, "encryption": LogEncryption,
}


def _unknown_field(loc: list[str | int]) -> Problem:
    name = str(loc[-1])
    path = field_path(loc)
    if name == "password":
        return Problem(
            path,
            "a plaintext password may not appear in a spec",
            "remove it and use password_env: VAR (or password_file / password_sha256_hex); only a hash is ever written",
        )
    parent = next((MODELS_BY_FIELD[p] for p in reversed(loc[:-1]) if isinstance(p, str) and p in MODELS_BY_FIELD), HardeningSpec)
    known = list(parent.model_fields)
    close = difflib.get_close_matches(name, known, n=1)
    fix = f"did you mean {close[0]!r}?" if close else f"remove it; known fields here: {', '.join(known)}"
    return Problem(path, f"unknown field {name!r}", fix)


def load_spec(data: Any) -> HardeningSpec:
    """Validate a spec given as a mapping (YAML document or pyinfra host data)."""
    if not isinstance(data, dict):
        raise SpecError([Problem("", f"the spec is {type(data).__name__}, not a mapping of fields", "write the spec as a YAML mapping (see README.md)")])
    try:
        spec = HardeningSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(problems_from_validation(error)) from None
    problems = cross_checks(spec)
    if problems:
        raise SpecError(problems)
    return spec


def load_spec_file(path: str | Path) -> HardeningSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError([Problem("", f"cannot read spec file {path}: {error.strerror}", "check the path given to --spec")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError([Problem("", f"{path} is not valid YAML{where}", "fix the YAML syntax there")]) from None
    return load_spec(data)