"""A small certificate authority for sandboxes and tests: issuing (issue) and keeping (store)."""

from hardhouse.ca.issue import Issued, TlsFiles, issue_ca, issue_leaf, write_server_material
from hardhouse.ca.store import CaError, ServerMaterial, ensure_ca, ensure_server, list_certificates

__all__ = [
    "CaError",
    "Issued",
    "ServerMaterial",
    "TlsFiles",
    "ensure_ca",
    "ensure_server",
    "issue_ca",
    "issue_leaf",
    "list_certificates",
    "write_server_material",
]
