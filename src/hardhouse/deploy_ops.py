"""Deprecated: the deploy moved to hardhouse.deploy (settings, payloads, plan, facts,
operations, harden). This module re-exports the old names for one release."""

from __future__ import annotations

import warnings

from hardhouse.deploy.contract import APPLY_SCRIPT, SERVER_USER, TLS_KINDS
from hardhouse.deploy.facts import HardhouseFiles, HostFiles, PathState
from hardhouse.deploy.harden import (
    DEBIAN_PACKAGES,
    KEYRING,
    REPO_PACKAGES,
    REPO_PREREQUISITES,
    harden_clickhouse,
    install_clickhouse,
)
from hardhouse.deploy.operations import go_live, signing_key, stage, validate_staged, verify_from_here
from hardhouse.deploy.payloads import Directory, ManagedFile, Payload, apply_script, managed_files, manifest
from hardhouse.deploy.plan import Activation, files_to_upload, health_targets, plan_activation
from hardhouse.deploy.settings import DATA_DEFAULTS, HardhouseDeployError, Settings, read_settings
from hardhouse.deploy.tls import tls_material

warnings.warn(
    "hardhouse.deploy_ops is deprecated and will be removed in the next release; import from hardhouse.deploy "
    "(harden_clickhouse, DATA_DEFAULTS) or its modules instead",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "APPLY_SCRIPT",
    "DATA_DEFAULTS",
    "DEBIAN_PACKAGES",
    "KEYRING",
    "REPO_PACKAGES",
    "REPO_PREREQUISITES",
    "SERVER_USER",
    "TLS_KINDS",
    "Activation",
    "Directory",
    "HardhouseDeployError",
    "HardhouseFiles",
    "HostFiles",
    "ManagedFile",
    "PathState",
    "Payload",
    "Settings",
    "apply_script",
    "files_to_upload",
    "go_live",
    "harden_clickhouse",
    "health_targets",
    "install_clickhouse",
    "managed_files",
    "manifest",
    "plan_activation",
    "read_settings",
    "signing_key",
    "stage",
    "tls_material",
    "validate_staged",
    "verify_from_here",
]
