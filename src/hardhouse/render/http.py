"""The http section's files: the HTTP handlers the server serves, and what its responses show
(stack traces, CORS) in every rendered profile."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardhouse.spec.http import CORS_SETTING, STACK_TRACE_SETTING, response_settings, serves_only_listed_handlers
from hardhouse.spec.settings import rendered_profiles

if TYPE_CHECKING:
    from hardhouse.render.inputs import RenderInput


def http_handlers(given: RenderInput) -> dict[str, Any] | None:
    return {} if serves_only_listed_handlers(given.spec) else None


def responses(given: RenderInput) -> dict[str, Any]:
    """Per profile the values to write: every profile the rendered users.d defines or merges into
    (ClickHouse's stock ones too: `default` is what a connection runs with before its login is
    accepted); a value the spec's own profile sets is left to it."""
    spec = given.spec
    values = response_settings(spec)
    out = []
    for name in rendered_profiles(spec):
        own = spec.profiles.get(name, {})
        out.append(
            {
                "name": name,
                "stack_trace": None if STACK_TRACE_SETTING in own else values[STACK_TRACE_SETTING],
                "cors": None if CORS_SETTING in own else values[CORS_SETTING],
            }
        )
    return {"profiles": out}
