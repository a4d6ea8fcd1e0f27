"""The one registry of the files a spec renders to: for each concern, the directory its file
goes to, the template it is rendered from ({name}.xml.j2, file zz-hardhouse-{name}.xml with '-'
for '_') and the function that makes its context from the spec, or says this spec gets no such
file (None). Each function lives with its spec section, in the render module of the same name.
Files are rendered in this order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hardhouse.render import cluster, egress, http, log_databases, masking, network, settings, users
from hardhouse.render.inputs import RenderInput


@dataclass(frozen=True)
class Concern:
    subdir: str  # config.d or users.d
    name: str
    context: Callable[[RenderInput], dict[str, Any] | None]
    # True when the content holds a plaintext secret the server needs (the cluster's credentials).
    secret: bool = False


CONCERNS: tuple[Concern, ...] = (
    Concern("config.d", "listen", network.listen),
    Concern("config.d", "ports", network.ports),
    Concern("config.d", "tls", network.tls),
    Concern("config.d", "auth", users.auth),
    Concern("config.d", "masking", masking.masking),
    Concern("config.d", "log_storage", log_databases.log_storage),
    Concern("users.d", "stock_users", users.stock_users),
    Concern("users.d", "users", users.users),
    Concern("users.d", "profiles", settings.profiles),
    Concern("users.d", "quotas", users.quotas),
    Concern("config.d", "cluster", cluster.node),
    Concern("config.d", "cluster_secrets", cluster.secrets, secret=True),
    Concern("config.d", "limits", settings.limits),
    Concern("config.d", "system_logs", settings.system_logs),
    Concern("config.d", "show_secrets", settings.show_secrets),
    Concern("users.d", "settings", settings.locks),
    Concern("config.d", "egress", egress.egress),
    Concern("config.d", "http_handlers", http.http_handlers),
    Concern("config.d", "password_policy", users.password_policy),
    Concern("users.d", "responses", http.responses),
)
