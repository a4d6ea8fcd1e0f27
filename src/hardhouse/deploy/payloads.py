"""What should be on a host: the rendered files and TLS material, each as a Payload with its
staged and live path, owner and mode, plus the MANIFEST and the hardhouse-apply script."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pyinfra import host

from hardhouse.deploy import contract, hostscripts
from hardhouse.deploy.contract import SERVER_USER
from hardhouse.deploy.facts import keyed_digest
from hardhouse.deploy.keys import KEYS_FILE, ServiceManagerFact, hook, key_names, keys_file_content, read_keys
from hardhouse.deploy.settings import Settings, _fail
from hardhouse.deploy.tls import tls_material
from hardhouse.render import render
from hardhouse.spec import SpecError


@dataclass(frozen=True)
class Payload:
    """One file for the host. The content may be a private key: it is never in a repr."""

    path: str
    data: bytes = field(repr=False)
    user: str
    group: str
    mode: int

    @property
    def digest(self) -> str:
        """The keyed digest the host reports for this content (hardhouse.deploy.facts)."""
        return keyed_digest(self.data)

    @property
    def meta(self) -> str:
        return f"{self.user}:{self.group}:{self.mode:o}"

    def __repr__(self) -> str:
        # Neither content nor a digest of it: a users file holds password hashes.
        return f"Payload({self.path}, {len(self.data)} bytes, {self.meta})"


@dataclass(frozen=True)
class Directory:
    path: str
    user: str
    group: str
    mode: int
    enforce: bool = True  # False: only create it when missing, never change an existing one


@dataclass(frozen=True)
class ManagedFile:
    """A file that goes live: its kind, where it is staged, where it goes."""

    kind: str  # one of contract.MANIFEST_KINDS
    staged: Payload
    live: Payload


def managed_files(
    settings: Settings, environ: Mapping[str, str], remove_users: Sequence[str] = ()
) -> tuple[list[ManagedFile], Path | None]:
    """Everything hardhouse puts live on this host, with its staged twin. remove_users: the
    host's users the spec does not declare, removed by name (undeclared_users: remove)."""
    try:
        rendered = render(settings.spec, environ, remove_users=remove_users)
    except SpecError as error:
        raise _fail(
            "the spec's secrets cannot be used; nothing was touched:\n"
            + "\n".join(f"  - hardhouse_spec.{p}" for p in error.problems)
        ) from None
    managed = []
    for file in rendered:
        if not file.path.startswith(("config.d/", "users.d/")):
            continue  # sql/ (log database DDL) is for an owner to apply; it never goes into /etc
        kind = contract.KIND_CONFIG if file.path.startswith("config.d/") else contract.KIND_USERS
        content = file.content.encode()
        staged = Payload(f"{settings.staged_dir}/{file.path}", content, "root", SERVER_USER, file.mode)
        live = Payload(f"{settings.config_dir}/{file.path}", content, "root", SERVER_USER, file.mode)
        managed.append(ManagedFile(kind, staged, live))
    pems, verify_ca = tls_material(settings, host.data)
    tls = settings.spec.tls
    for kind, pem in pems.items():
        assert tls is not None
        # The key belongs to the server user alone; certificates are public.
        owner, mode = (SERVER_USER, 0o600) if kind == "private_key" else ("root", 0o644)
        staged = Payload(f"{settings.staged_dir}/tls/{kind}.pem", pem, owner, SERVER_USER, mode)
        live = Payload(getattr(tls, kind), pem, owner, SERVER_USER, mode)
        managed.append(ManagedFile(kind, staged, live))
    managed += key_files(settings, environ)
    return managed, verify_ca


def key_files(settings: Settings, environ: Mapping[str, str]) -> list[ManagedFile]:
    """The log database keys (key_env) and the hook that puts them into the server's
    environment; nothing when the spec names none. A missing key fails here, before anything
    is touched."""
    if not key_names(settings.spec):
        return []
    keys = read_keys(settings.spec, environ, settings.log_key_files)
    hook_path, hook_text = hook(host.get_fact(ServiceManagerFact))
    content = keys_file_content(keys)
    return [
        ManagedFile(
            contract.KIND_KEYS,
            Payload(f"{settings.staged_dir}/keys/keys.env", content, "root", "root", 0o600),
            Payload(KEYS_FILE, content, "root", "root", 0o600),
        ),
        ManagedFile(
            contract.KIND_KEYS_HOOK,
            Payload(f"{settings.staged_dir}/keys/hook", hook_text, "root", "root", 0o644),
            Payload(hook_path, hook_text, "root", "root", 0o644),
        ),
    ]


def manifest(settings: Settings, managed: list[ManagedFile]) -> Payload:
    """The MANIFEST hardhouse-apply reads; a line the script would refuse is refused here."""
    prefix = settings.staged_dir + "/"
    try:
        lines = [contract.manifest_line(m.kind, m.staged.path.removeprefix(prefix), m.live.path) for m in managed]
    except ValueError as error:
        raise _fail(f"cannot stage these files: {error}") from None
    return Payload(f"{settings.staged_dir}/{contract.MANIFEST}", "".join(lines).encode(), "root", "root", 0o640)


def apply_script(settings: Settings) -> Payload:
    """hardhouse-apply as shipped: its source with the contract block filled in."""
    return Payload(settings.apply_path, _apply_text(tuple(contract.shell_values().items())), "root", "root", 0o750)


@cache
def _apply_text(values: tuple[tuple[str, str | tuple[str, ...]], ...]) -> bytes:
    """The same for every host (the package's script, hardhouse's constants): made once a run."""
    return hostscripts.shipped("hardhouse-apply", dict(values), "hardhouse.deploy.contract").encode()
