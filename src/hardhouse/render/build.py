"""Turn a validated spec into ClickHouse config.d/ and users.d/ files (and, for log
databases, sql/ with the DDL an owner applies).

render() is pure apart from reading secrets: it returns the files (relative path, content,
mode) and writes nothing (hardhouse.render.write puts them in place). Which files a spec gets,
and what each is rendered from, is the registry in hardhouse.render.concerns. Every
version-dependent element is decided by hardhouse.clickhouse.versions.has() or by what the
spec's section modules say it means (hardhouse.spec.users, .settings ...), which the
cross-checks use too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hardhouse.clickhouse import versions
from hardhouse.controls import catalog
from hardhouse.render.concerns import CONCERNS
from hardhouse.render.credentials import resolve_credentials
from hardhouse.render.inputs import RenderInput
from hardhouse.render.jinja import environment
from hardhouse.render.log_databases import log_database_sql
from hardhouse.spec.model import HardeningSpec

FILE_PREFIX = "zz-hardhouse-"  # merged after the stock and packager files, so it has the last word
FILE_MODE = 0o640  # root:clickhouse; the server reads, nobody else
SQL_FILE = f"sql/{FILE_PREFIX}log-databases.sql"


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative, e.g. "config.d/zz-hardhouse-ports.xml"
    content: str
    mode: int = FILE_MODE
    # True when the content holds a plaintext secret the server needs (the cluster's
    # credentials): 0640 like every file, and its content is never printed, logged or diffed.
    secret: bool = False


def render(
    spec: HardeningSpec, environ: Mapping[str, str] | None = None, *, remove_users: Sequence[str] = ()
) -> list[RenderedFile]:
    """All files for this spec. Raises SpecError (nothing rendered) on a problem.

    remove_users: users a host has that the spec does not declare, to be removed by name
    (undeclared_users: remove). Only the deploy knows them (it reads the host); a render
    without a host removes only the stock users it knows."""
    environ = os.environ if environ is None else environ
    given = RenderInput(spec, resolve_credentials(spec, environ), environ, remove_users)
    version = spec.version
    common = {"version": str(version), "has": lambda feature: versions.has(version, feature)}
    files = []
    for concern in CONCERNS:
        context = concern.context(given)
        if context is None:
            continue
        template = environment().get_template(f"{concern.name}.xml.j2")
        content = template.render(
            concern=concern.name, controls=catalog.for_template(concern.name), **common, **context
        )
        path = f"{concern.subdir}/{FILE_PREFIX}{concern.name.replace('_', '-')}.xml"
        files.append(RenderedFile(path, content, secret=concern.secret))
    if spec.log_databases:
        files.append(RenderedFile(SQL_FILE, log_database_sql(spec)))
    return files
