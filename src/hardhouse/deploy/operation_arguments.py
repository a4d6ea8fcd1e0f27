"""pyinfra checks every operation call's and every fact's keyword arguments against its global
arguments (pyinfra.api.arguments.all_global_arguments), which evaluates the type hints of
their class again on each call: typing's work in pyinfra's single process, hosts x operations
times (about a tenth of a second of a 20-host deploy's planning, where pyinfra's process is
the only one working). The hints are fixed once pyinfra is imported, so `install` points
pyinfra at the same list worked out once."""

from __future__ import annotations


def install() -> None:
    """Make pyinfra evaluate its global arguments' types once (idempotent)."""
    import pyinfra.api.arguments as arguments
    import pyinfra.api.facts as facts

    original = getattr(arguments, "all_global_arguments", None)
    if original is None or getattr(original, "hardhouse_once", False):
        return  # a pyinfra without it (nothing to spare), or installed already
    found = tuple(original())

    def all_global_arguments() -> list[tuple[str, type]]:
        return list(found)  # a list of its own each time, as pyinfra's gives

    all_global_arguments.hardhouse_once = True  # type: ignore[attr-defined]
    arguments.all_global_arguments = all_global_arguments  # type: ignore[assignment]
    if getattr(facts, "all_global_arguments", None) is original:
        facts.all_global_arguments = all_global_arguments  # type: ignore[assignment,attr-defined]
