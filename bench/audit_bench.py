"""How much hardhouse's ClickHouse-exact merge costs over a bare XML parse.

    .venv/bin/python bench/audit_bench.py [--trees 100] [--rounds 3]

Generates --trees configuration trees with the differential test's seeded generator
(tests/audit/test_merge_differential.py: config.xml, config.d/, conf.d/, users.xml, users.d/,
include files), then times, per tree, hardhouse.audit.merge.read_server_tree (18.16 rules:
file discovery, bounded expat parse with provenance, merge, includes, the users file and its
merges) against xml.etree.ElementTree.parse of the same files ClickHouse would read, and the
whole audit with 18.16's rules and with the version unknown (both dialects). Best of --rounds.
Prints numbers only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from hardhouse.audit.merge import ConfigTreeError, Dialect, read_server_tree  # noqa: E402
from hardhouse.audit.run import audit_tree  # noqa: E402
from tests.audit.test_merge_differential import SEED, generate_tree  # noqa: E402


def best(function, rounds: int) -> float:  # noqa: ANN001 - any callable
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def _both_reads(etc: Path) -> bool:
    try:
        audit_tree(etc)
    except ConfigTreeError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hh-audit-bench-") as tmp:
        trees = [generate_tree(SEED + n, Path(tmp) / f"tree-{n}").etc for n in range(args.trees)]
        # The files each tree's merge reads, as the merge itself lists them.
        files = []
        for etc in trees:
            merged = read_server_tree(etc, Dialect.V18, assume_no_default_include=True)
            files.append([etc / name for name in dict.fromkeys(merged.config.files + merged.users.files)])
        ours = [
            best(lambda etc=etc: read_server_tree(etc, Dialect.V18, assume_no_default_include=True), args.rounds)
            for etc in trees
        ]
        bare = [best(lambda paths=paths: [ET.parse(p) for p in paths], args.rounds) for paths in files]
        # The whole audit: merge, every rule, the per-control report (what `hardhouse audit` does).
        whole = [best(lambda etc=etc: audit_tree(etc, dialect=Dialect.V18), args.rounds) for etc in trees]
        # The server's version not known: both dialects' readings, the worse per control.
        # (Trees modern ClickHouse refuses, such as <other> roots, stop that audit: left out.)
        both = [best(lambda etc=etc: audit_tree(etc), args.rounds) for etc in trees if _both_reads(etc)]
        nodes = sum(len(ET.parse(p).getroot().findall(".//*")) + 1 for paths in files for p in paths)
        count = sum(len(paths) for paths in files)
    ratio = [o / b for o, b in zip(ours, bare, strict=True)]
    print(f"trees: {len(trees)}, files read: {count} ({count / len(trees):.1f} per tree), elements parsed: {nodes}")
    print(
        f"hardhouse merge per tree: median {statistics.median(ours) * 1000:.2f} ms, "
        f"max {max(ours) * 1000:.2f} ms, total {sum(ours):.3f} s"
    )
    print(
        f"ElementTree.parse per tree: median {statistics.median(bare) * 1000:.2f} ms, "
        f"max {max(bare) * 1000:.2f} ms, total {sum(bare):.3f} s"
    )
    print(f"ratio (merge / bare parse): median {statistics.median(ratio):.1f}x, overall {sum(ours) / sum(bare):.1f}x")
    print(
        f"whole audit per tree (merge + rules + report): median {statistics.median(whole) * 1000:.2f} ms, "
        f"{sum(whole) / sum(bare):.1f}x the bare parse"
    )
    print(
        f"whole audit, version unknown (both dialects, {len(both)} trees modern reads): "
        f"median {statistics.median(both) * 1000:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
