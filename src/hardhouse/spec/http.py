"""The spec's http section: what the HTTP interface shows browsers and clients (CORS, the
built-in web pages, stack traces); the model and what it means for a target. The two settings
it opens or closes are written into every rendered profile (hardhouse.render, responses), and
locked where the spec keeps them closed (hardhouse.spec.settings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hardhouse.clickhouse import versions
from hardhouse.spec.declare import StrictModel, described

if TYPE_CHECKING:
    from hardhouse.spec.model import HardeningSpec

# Set in every rendered profile by the responses file (HH-LEAK-1 and HH-HTTP-1); where the spec
# keeps them closed, a session must not switch them back on.
STACK_TRACE_SETTING = "calculate_text_stack_trace"
CORS_SETTING = "add_http_cors_header"


class HttpSurface(StrictModel):
    cors_any_origin: bool = described(
        False,
        description=(
            "send Access-Control-Allow-Origin: * to browsers (add_http_cors_header 1 in every rendered profile); "
            "false writes 0"
        ),
        why="a wildcard CORS header lets any web page a logged-in analyst visits read query results",
    )
    web_ui: bool = described(
        False,
        description=(
            "keep the built-in web pages (/play, /dashboard, /binary, /js/...) where the target serves them (22.8+); "
            "false keeps only the query handler and /ping (http_handlers without <defaults/>)"
        ),
        why="a query console in the browser is one more surface for a stolen password; opt in",
    )
    stack_traces: bool = described(
        False,
        description=(
            "let the server compute and send exception stack traces to clients (calculate_text_stack_trace in "
            "the default and every rendered profile)"
        ),
        why="binary paths and addresses in a refused login's answer help an attacker pick an exploit",
    )


def response_settings(spec: HardeningSpec) -> dict[str, int]:
    """The value the responses file gives each of these settings (1: the spec opens it)."""
    return {STACK_TRACE_SETTING: int(spec.http.stack_traces), CORS_SETTING: int(spec.http.cors_any_origin)}


def closed_response_settings(spec: HardeningSpec) -> list[str]:
    return [setting for setting, value in response_settings(spec).items() if not value]


def serves_only_listed_handlers(spec: HardeningSpec) -> bool:
    return not spec.http.web_ui and versions.has(spec.version, "http_handlers")
