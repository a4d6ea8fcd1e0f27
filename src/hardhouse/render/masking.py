"""The query_masking section's file: the rules the server masks its logs with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardhouse.spec.masking import masking_rules

if TYPE_CHECKING:
    from hardhouse.render.inputs import RenderInput


def masking(given: RenderInput) -> dict[str, Any] | None:
    rules = masking_rules(given.spec)
    if not rules:
        return None
    return {"rules": [{"name": n, "regexp": r, "replace": p} for n, r, p in rules]}
