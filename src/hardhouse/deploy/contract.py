"""The contract between the deploy (Python, on the deploy machine) and hardhouse-apply (shell,
on the host). The script is shipped with these values written into its header, so the two
sides cannot disagree: change a value here and the shipped script changes with it."""

from __future__ import annotations

from hardhouse.render.build import FILE_PREFIX

SERVER_USER = "clickhouse"
SERVICE = "clickhouse-server"
APPLY_SCRIPT = "hardhouse-apply"
# Under the state directory: the helper, the staged set, the rollback set.
BIN_DIR = "bin"
STAGED_DIR = "staged"
PREVIOUS_DIR = "previous"
MANIFEST = "MANIFEST"
# One MANIFEST line per file: "KIND STAGED_PATH LIVE_PATH" (STAGED_PATH relative to the staged dir).
MANIFEST_KINDS = ("config", "users", "certificate", "private_key", "ca_certificate")
TLS_KINDS = ("certificate", "private_key", "ca_certificate")
# Health targets: "tls:ADDRESS:PORT" (answers a TLS handshake with the new certificate) or
# "tcp:ADDRESS:PORT" (accepts connections).
HEALTH_KINDS = ("tls", "tcp")
ACTIVATION_MODES = ("restart", "reload", "start")
__all__ = ["FILE_PREFIX"]
