"""The audit over SSH: fetch a host's ClickHouse configuration tree with one read-only
command, unpack it as hostile input, and judge it with hardhouse.audit exactly as a local tree.

On the host (fact ClickHouseConfigTree, one remote command): every regular file or link whose
name ends in .xml, .conf, .yaml or .yml under the configuration directory, at most MAX_DEPTH
levels down (config.xml, users.xml, config.d/, users.d/, conf.d/, include files), goes into a
tar archive; TLS keys and certificates are not among them. At most ARCHIVE_LIMIT + 1 bytes of
it leave the host (`head -c`), so an oversized tree is refused here rather than cut silently.
The bytes are encrypted on the host (openssl enc, AES-256-CTR) with a key made per process
that pyinfra shows only masked: users.d files hold password hashes, and pyinfra prints a
fact's output at -vvv, which must not put them in a CI log. Nothing on the host is written.

Here: the archive is decrypted, checked member by member (regular files and directories
only, canonical relative UTF-8 names without control characters, bounded count, size and
depth) and written into a private temporary directory, never with tarfile's own extraction;
then hardhouse.audit.run.audit_tree judges it, and the directory is removed. The host also
says what the server's reading depends on beyond the tree: its clickhouse-server package
version (whose rules apply) and its /etc/metrika.xml (sealed like the tree), or that it has none.

The deploy's re-check of the live tree is hardhouse.deploy.recheck.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import secrets
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyinfra.api import FactBase, HiddenValue, QuoteString, StringCommand

from hardhouse.deploy import hostscripts
from hardhouse.scratch import scratch
from hardhouse.spec import HardeningSpec
from hardhouse.spec.errors import bounded_text
from hardhouse.spec.fields import has_control_character

if TYPE_CHECKING:  # the audit itself is imported when a tree is audited: a trusted re-run never loads it
    from hardhouse.audit.merge import Dialect
    from hardhouse.audit.model import AuditReport
    from hardhouse.controls.waivers import Waiver

ARCHIVE_LIMIT = 8 * 1024 * 1024  # tar bytes of one host's tree; real trees are well under 1 MiB
INCLUDE_LIMIT = 1024 * 1024  # bytes of the host's /etc/metrika.xml
MAX_DEPTH = 4  # directory levels below the configuration directory that are fetched
MAX_MEMBERS = 2000  # archive members (ClickHouse's merge reads at most 1000 files per directory here)
MAX_MEMBER_BYTES = ARCHIVE_LIMIT
MAX_NAME_BYTES = 1024
MAX_COMPONENT_BYTES = 255
KDF_ITERATIONS = 1  # the key is 256 random bits: nothing to stretch
ARCHIVE_KEY = secrets.token_hex(32)  # one per process, like facts.DIGEST_KEY; never logged unmasked

# The host half: hostscripts/hardhouse-config-tree.sh (its header says what it takes and prints).
FETCH_SCRIPT = hostscripts.load(
    "hardhouse-config-tree",
    {"HH_KDF_ITERATIONS": str(KDF_ITERATIONS), "HH_INCLUDE_LIMIT": str(INCLUDE_LIMIT)},
    origin="hardhouse.deploy.audit",
)


def tree_command(config_dir: str) -> StringCommand:
    """The read-only command that prints the tree under config_dir, sealed (parse_answer reads
    it): the fact ClickHouseConfigTree's, and the host's snapshot's when it carries the tree."""
    return FETCH_SCRIPT.command(
        QuoteString(config_dir),
        str(ARCHIVE_LIMIT),
        str(MAX_DEPTH),
        QuoteString(HiddenValue(ARCHIVE_KEY)),
    )


class AuditFetchError(Exception):
    """A tree that could not be fetched or unpacked; the message says what and where."""


class UnsafeArchive(AuditFetchError):
    """An archive member that would escape, link, or exceed a bound; refused, nothing kept."""


@dataclass(frozen=True)
class FetchedTree:
    # The plaintext tar (at most ARCHIVE_LIMIT bytes), or None with error. Its users' password
    # hashes are in it: never in a repr (pyinfra may print a fact's value when debugging).
    archive: bytes | None = field(repr=False)
    error: str | None = None
    server_version: str | None = None  # the clickhouse-server package's version, when installed
    include: bytes | None = field(default=None, repr=False)  # the host's /etc/metrika.xml
    include_absent: bool = False  # the host has no /etc/metrika.xml (neither known: undecided)


def decrypt(blob: bytes, key: str) -> bytes:
    """openssl enc -aes-256-ctr -pbkdf2 -md sha256 output -> plaintext."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if len(blob) < 16 or not blob.startswith(b"Salted__"):
        raise AuditFetchError("the host's answer is not an encrypted archive")
    material = hashlib.pbkdf2_hmac("sha256", key.encode(), blob[8:16], KDF_ITERATIONS, dklen=48)
    decryptor = Cipher(algorithms.AES(material[:32]), modes.CTR(material[32:])).decryptor()
    return decryptor.update(blob[16:]) + decryptor.finalize()


def parse_answer(lines: list[str], key: str = ARCHIVE_KEY, limit: int = ARCHIVE_LIMIT) -> FetchedTree:
    """The fetch script's output -> the archive, or why there is none. Untrusted text."""
    data, status, version, include = None, None, None, None
    for line in lines:
        if line.startswith("HH-ERROR "):
            return FetchedTree(None, bounded_text(line[len("HH-ERROR ") :], 400))
        if line.startswith("HH-DATA ") and data is None:
            data = line[len("HH-DATA ") :].strip()
        elif line.startswith("HH-TAR "):
            status = line[len("HH-TAR ") :].strip()
        elif line.startswith("HH-VERSION") and version is None:
            version = line[len("HH-VERSION") :].strip()[:100]
        elif line.startswith("HH-INCLUDE ") and include is None:
            include = line[len("HH-INCLUDE ") :].strip()
    if data is None or status is None:
        return FetchedTree(None, "the host's answer is incomplete (no archive)")
    if len(data) > 4 * ((limit + 1 + 16) // 3 + 1):  # base64 of the salt header and limit + 1 bytes
        return FetchedTree(None, f"the host sent more than {limit} bytes")
    try:
        archive = decrypt(base64.b64decode(data, validate=True), key)
    except (binascii.Error, ValueError, AuditFetchError):
        return FetchedTree(None, "the host's answer is not a valid encrypted archive (is its openssl 1.1.1 or newer?)")
    if len(archive) > limit:
        return FetchedTree(
            None,
            f"the configuration files are larger than {limit} bytes together; refused rather than cut short "
            "(audit a copy of the tree instead)",
        )
    if status != "0":
        return FetchedTree(
            None, f"tar failed on the host (exit status {bounded_text(status, 20)}): a file vanished or changed"
        )
    server_version = version if version and version.isprintable() else None
    if include == "absent":
        return FetchedTree(archive, server_version=server_version, include_absent=True)
    if include is None or include == "unreadable":
        return FetchedTree(archive, server_version=server_version)  # unknown: what it includes is undecided
    if len(include) > 4 * ((INCLUDE_LIMIT + 1 + 16) // 3 + 1):
        return FetchedTree(None, f"the host's /etc/metrika.xml is larger than {INCLUDE_LIMIT} bytes")
    try:
        included = decrypt(base64.b64decode(include, validate=True), key)
    except (binascii.Error, ValueError, AuditFetchError):
        return FetchedTree(None, "the host's /etc/metrika.xml did not arrive intact")
    if len(included) > INCLUDE_LIMIT:
        return FetchedTree(None, f"the host's /etc/metrika.xml is larger than {INCLUDE_LIMIT} bytes")
    return FetchedTree(archive, server_version=server_version, include=included)


class ClickHouseConfigTree(FactBase):
    """The configuration tree under config_dir as a tar archive (see the module docstring):
    one read-only remote command.

        FetchedTree(archive=b"<tar bytes>")  or  FetchedTree(None, "… config.xml does not exist")
    """

    def command(self, config_dir: str) -> StringCommand:
        return tree_command(config_dir)

    def process(self, output: list[str]) -> FetchedTree:
        return parse_answer(output)

    @staticmethod
    def default() -> FetchedTree:
        return FetchedTree(None, "the host gave no answer")


# --- unpacking ----------------------------------------------------------------------------


def _member_parts(member: tarfile.TarInfo) -> list[str]:
    name = member.name
    shown = bounded_text(name, 120)
    if member.isdir() and name.endswith("/"):
        name = name[:-1]
    if not name or name.startswith("/"):
        raise UnsafeArchive(f"archive member {shown!r}: an absolute or empty name")
    if has_control_character(name) or any("\udc80" <= ch <= "\udcff" for ch in name):
        raise UnsafeArchive(f"archive member {shown!r}: a name with control characters or bytes that are not UTF-8")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise UnsafeArchive(f"archive member {shown!r}: a name longer than {MAX_NAME_BYTES} bytes")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeArchive(f"archive member {shown!r}: not a plain relative path ('', '.' or '..' in it)")
    if any(len(part.encode()) > MAX_COMPONENT_BYTES for part in parts) or len(parts) > MAX_DEPTH + 1:
        raise UnsafeArchive(f"archive member {shown!r}: a name too deep or with a component too long")
    return parts


def extract_tree(archive: bytes, dest: Path) -> list[str]:
    """Write the archive's files under `dest` (an empty private directory) and return their
    relative names. Refuses, before writing anything more, any member that is not a regular
    file or a directory (links, devices, FIFOs, sparse files), any name that is absolute,
    holds '..', '.', control characters or non-UTF-8 bytes, is too long or too deep, a
    duplicate, and more than MAX_MEMBERS members or members beyond the size bounds. Plain
    uncompressed tar only: nothing can expand."""
    written: list[str] = []
    kinds: dict[tuple[str, ...], str] = {}  # relative path -> "d" or "f", to refuse clashes
    total = 0
    try:
        tar = tarfile.open(fileobj=io.BytesIO(archive), mode="r:")
    except tarfile.TarError as error:
        raise UnsafeArchive(f"not a tar archive ({error})") from None
    with tar:
        count = 0
        while True:
            try:
                member = tar.next()
            except tarfile.TarError as error:
                raise UnsafeArchive(f"a damaged archive ({bounded_text(str(error), 120)})") from None
            if member is None:
                break
            count += 1
            if count > MAX_MEMBERS:
                raise UnsafeArchive(f"more than {MAX_MEMBERS} members in the archive")
            parts = _member_parts(member)
            shown = "/".join(parts)
            if member.issym() or member.islnk():
                raise UnsafeArchive(
                    f"{bounded_text(shown)} is a link on the host; the audit over SSH does not follow links "
                    "(replace it with the file, or audit a copy of the tree)"
                )
            if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE):
                raise UnsafeArchive(
                    f"{bounded_text(shown)}: not a regular file or directory (tar type {member.type!r})"
                )
            for depth in range(1, len(parts)):
                if kinds.setdefault(tuple(parts[:depth]), "d") != "d":
                    raise UnsafeArchive(f"{bounded_text(shown)}: below a name that is a file")
            key = tuple(parts)
            if key in kinds:
                if member.isdir() and kinds[key] == "d":
                    continue  # a directory named twice (or implied by an earlier file): harmless
                raise UnsafeArchive(f"{bounded_text(shown)}: named twice in the archive")
            kinds[key] = "d" if member.isdir() else "f"
            target = dest.joinpath(*parts)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if member.isdir():
                target.mkdir(mode=0o700, exist_ok=True)
                continue
            if member.size > MAX_MEMBER_BYTES or total + member.size > ARCHIVE_LIMIT:
                raise UnsafeArchive(f"{bounded_text(shown)}: {member.size} bytes, beyond the size bound")
            try:
                handle = tar.extractfile(member)
                data = handle.read(member.size) if handle is not None else b""
            except tarfile.TarError:
                data = b""
            if len(data) != member.size:
                raise UnsafeArchive(f"{bounded_text(shown)}: the archive ends inside it")
            total += len(data)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            written.append(shown)
    return written


def host_facts(fetched: FetchedTree) -> dict[str, Any]:
    """What the host said about itself beside its tree, as audit_archive takes it."""
    return {
        "server_version": fetched.server_version,
        "include": fetched.include,
        "include_absent": fetched.include_absent,
    }


def audit_archive(
    archive: bytes,
    *,
    target: str,
    config_dir: str,
    spec: HardeningSpec | None = None,
    spec_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    waivers: list[Waiver] | None = None,
    dialect: Dialect | None = None,
    server_version: str | None = None,
    include: bytes | None = None,
    include_absent: bool = False,
) -> AuditReport:
    """Unpack a fetched tree into a private temporary directory and audit it as `target`, with
    what the host said about itself: its server's version and its /etc/metrika.xml (or that it
    has none). Raises AuditFetchError (unsafe archive, or a tree the audit cannot read) or
    SpecError."""
    # Only when a tree is audited (see TYPE_CHECKING above).
    from hardhouse.audit.merge import ConfigTreeError
    from hardhouse.audit.run import audit_tree

    with scratch("hardhouse-audit-") as workdir:  # 0700, this process's own; removed on leaving
        tree = workdir / "tree"
        tree.mkdir()
        extract_tree(archive, tree)
        if not (tree / "config.xml").is_file():
            raise AuditFetchError(f"{config_dir}/config.xml is not in the fetched tree")
        includes: dict[str, Any] = {"assume_no_default_include": include_absent}
        if include is not None:
            includes["default_include"] = workdir / "metrika.xml"
            includes["default_include"].write_bytes(include)
        try:
            return audit_tree(
                tree,
                spec=spec,
                spec_name=spec_name,
                environ=environ,
                waivers=waivers,
                dialect=dialect,
                target=target,
                installed_at=Path(config_dir),
                server=server_version,
                **includes,
            )
        except ConfigTreeError as error:
            # Name the host's directory, not this machine's scratch copy.
            shown = str(error).replace(str(tree), config_dir).replace(str(workdir), "(the host's)")
            raise AuditFetchError(bounded_text(shown, 600)) from None
