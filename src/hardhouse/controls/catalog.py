"""The catalog of controls: what "hardened" means, gathered from the family modules
(hardhouse.controls.families) in the order hardhouse.controls.ids lists the ids, the order the
README's table, `hardhouse controls` and SARIF show. Reports, rendered comments, SARIF rule
ids and the README's control table all come from here. Which rules and checks judge a control
is not listed here: each declares its control beside its own code
(hardhouse.controls.registry), and hardhouse.controls.index gathers them."""

from __future__ import annotations

from collections.abc import Iterable

from hardhouse.controls.control import Control
from hardhouse.controls.families import auth, cluster, drift, egress, http, limits, logs, network, tls, zookeeper
from hardhouse.controls.ids import ControlId

FAMILIES = (auth, network, tls, logs, http, limits, drift, cluster, zookeeper, egress)


def _in_published_order(declared: Iterable[Control]) -> tuple[Control, ...]:
    """Every id declared exactly once, ordered as ControlId lists them (checked at import: a
    missing or doubled control is a catalog bug)."""
    by_id: dict[ControlId, Control] = {}
    for control in declared:
        if control.id in by_id:
            raise AssertionError(f"{control.id} is declared twice")
        by_id[control.id] = control
    missing = [id for id in ControlId if id not in by_id]
    if missing:
        raise AssertionError(f"no family declares {', '.join(missing)}")
    return tuple(by_id[id] for id in ControlId)


CONTROLS: tuple[Control, ...] = _in_published_order(control for family in FAMILIES for control in family.CONTROLS)

BY_ID: dict[str, Control] = {control.id: control for control in CONTROLS}


def for_template(concern: str) -> list[Control]:
    return [control for control in CONTROLS if concern in control.templates]
