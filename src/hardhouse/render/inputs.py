"""What a concern's context is made from: the spec, and what render() read for it once (each
user's credential, the host's undeclared users to remove, the environment the cluster's
secrets come from)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from hardhouse.render.cluster import cluster_contexts
from hardhouse.render.credentials import Credential
from hardhouse.spec.model import HardeningSpec


@dataclass
class RenderInput:
    spec: HardeningSpec
    credentials: dict[str, Credential]
    environ: Mapping[str, str]
    # Users a host has that the spec does not declare, to be removed by name (undeclared_users:
    # remove). Only the deploy knows them; a render without a host removes only stock users.
    remove_users: Sequence[str] = ()

    @cached_property
    def cluster(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the node's cluster file, its secrets file): the secrets are read once for both."""
        return cluster_contexts(self.spec, self.environ)
