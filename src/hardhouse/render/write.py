"""Put rendered files in place under an output directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hardhouse.render.build import FILE_PREFIX, RenderedFile

SUBDIRS = ("config.d", "users.d", "sql")


def write_files(files: list[RenderedFile], out_dir: str | Path) -> list[Path]:
    """Write the files under out_dir all at once, and drop stale hardhouse files there.

    Everything is first written to a staging directory beside out_dir; only when that has
    fully succeeded are the files moved into place (rename is atomic per file).
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.hardhouse-", dir=out.parent))
    try:
        for file in files:
            target = staging / file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(file.content, encoding="utf-8")
            os.chmod(target, file.mode)
        written = []
        for subdir in SUBDIRS:
            wanted = {Path(f.path).name for f in files if f.path.startswith(f"{subdir}/")}
            # config.d/ and users.d/ always exist where ClickHouse looks; sql/ only when used.
            if subdir == "sql" and not wanted and not (out / subdir).is_dir():
                continue
            (out / subdir).mkdir(parents=True, exist_ok=True)
            for stale in (out / subdir).glob(f"{FILE_PREFIX}*"):
                if stale.suffix in (".xml", ".sql") and stale.name not in wanted:
                    stale.unlink()
        for file in files:
            os.replace(staging / file.path, out / file.path)
            written.append(out / file.path)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
