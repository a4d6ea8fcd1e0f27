"""What the server tells clients over HTTP and the native protocol: no banners or stack traces
to strangers, no `Access-Control-Allow-Origin: *`, no built-in web pages."""

from __future__ import annotations

from hardhouse.controls.control import DOCS, SERVER_SETTINGS, Control
from hardhouse.controls.ids import ControlId
from hardhouse.controls.severity import Severity

CONTROLS: tuple[Control, ...] = (
    Control(
        ControlId.LEAK_1,
        "Say little to clients that did not log in",
        Severity.LOW,
        "Version banners, host names and stack traces tell an attacker which exploits to try. Stack "
        "traces are not computed for clients (calculate_text_stack_trace 0 in the default profile, which "
        "also answers refused logins, and in every rendered one). The name a server gives itself "
        "(display_name) is noted by the probe, not failed: only its operator knows if it says too much.",
        (f"{SERVER_SETTINGS}#display_name", f"{DOCS}/operations/settings/settings#calculate_text_stack_trace"),
        ("http.stack_traces",),
        templates=("responses",),
    ),
    Control(
        ControlId.HTTP_1,
        "No Access-Control-Allow-Origin: * unless asked",
        Severity.MEDIUM,
        "With add_http_cors_header a web page in any origin can read query results through an analyst's "
        "browser. Every rendered profile writes it as 0; a session can still ask for it per request unless "
        "it is read-only (18.16 answers 164) or a settings constraint locks it.",
        (f"{DOCS}/operations/settings/settings#add_http_cors_header", f"{DOCS}/interfaces/http"),
        ("http.cors_any_origin",),
        templates=("responses",),
    ),
    Control(
        ControlId.HTTP_2,
        "No built-in web pages unless asked",
        Severity.LOW,
        "/play, /dashboard and /binary put a query console in front of anyone who can reach the HTTP port. "
        "http_handlers without <defaults/> serve only the query handler and /ping.",
        (f"{DOCS}/interfaces/http#predefined_http_interface",),
        ("http.web_ui",),
        templates=("http_handlers",),
        feature="http_handlers",
    ),
)
