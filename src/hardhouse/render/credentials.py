"""Read each user's password from where the spec points, judge it, and keep only its hash.

The plaintext lives in memory only as long as it takes to check and hash it; it is never
returned, logged or put in an error message.

Two hashes are written, both deterministic so that rendering twice gives the same bytes and
a re-deploy restarts nothing:
* sha256: SHA-256 of the password (`password_sha256_hex`), every version;
* scram_sha256: PBKDF2-HMAC-SHA256 with an empty salt and 4096 rounds
  (`password_scram_sha256_hex`), which is exactly what ClickHouse computes from a password
  for that element (its docs' example: "abacaba" -> 04e7a703...). 4096 rounds make each guess
  against a stolen file 4096 times dearer than bare SHA-256.
bcrypt is not offered: ClickHouse reads bcrypt hashes only for users created by SQL, never
from users.d (the embedded 26.9 engine lists the elements it accepts, and bcrypt is not one).
Were it offered, its random salt would change every render, and so every deploy.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from hardhouse import bounded_file
from hardhouse.clickhouse.stock import EMPTY_SHA256
from hardhouse.spec.errors import Problem, SpecError
from hardhouse.spec.model import HardeningSpec
from hardhouse.spec.users import User, password_hash_for

MIN_LENGTH = 12
# zxcvbn scores 0..4; 3 is "safely unguessable: moderate protection from an offline attack".
MIN_SCORE = 3
# Hashes of passwords an attacker tries first; a hash given directly is checked against them.
KNOWN_WEAK = ("", "default", "clickhouse", "password", "changeme", "admin", "123456", "qwerty")
KNOWN_WEAK_SHA256 = {hashlib.sha256(p.encode()).hexdigest(): p for p in KNOWN_WEAK}
# No password needs more; a bigger "password file" is the wrong file (or /dev/zero).
MAX_SECRET_BYTES = 4096
# Only a conventional variable name (CH_INGEST_PASSWORD) is repeated in a message: anything
# else in password_env may be a password pasted by mistake.
SHOWN_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
READABLE_FIX = "point password_file at a readable file holding the password"


# ClickHouse's SCRAM-SHA-256 parameters for users.d hashes.
SCRAM_ITERATIONS = 4096
SCRAM_SALT = b""


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def scram_sha256_hex(secret: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", secret.encode("utf-8"), SCRAM_SALT, SCRAM_ITERATIONS).hex()


@dataclass(frozen=True)
class Credential:
    kind: str  # "sha256" | "scram_sha256" | "certificate"
    value: str  # the hex hash, or the certificate common name


@functools.lru_cache(maxsize=64)
def weakness(secret: str, user_name: str) -> str | None:
    """Why a password is too weak, without repeating it; None when it is acceptable. Cached:
    a fleet renders the same users for every host, and zxcvbn takes milliseconds a call."""
    if not secret:
        return "the password is empty"
    if len(secret) < MIN_LENGTH:
        return f"the password has {len(secret)} characters, fewer than {MIN_LENGTH}"
    # Imported here: its dictionaries take 30 ms to load, which a process that never judges a
    # password (the deploy's helper, proving hosts) need not pay.
    from zxcvbn import zxcvbn

    # zxcvbn only looks at the first 72 characters, which is plenty to spot a guessable one.
    result = zxcvbn(secret[:72], user_inputs=[user_name, "clickhouse", "hardhouse", "default"])
    if result["score"] < MIN_SCORE:
        warning = result["feedback"].get("warning") or "it follows a guessable pattern"
        return f"the password is trivially guessable ({warning.rstrip('.').lower()})"
    return None


def read_secret(user: User, where: str, environ: Mapping[str, str]) -> tuple[str | None, Problem | None]:
    """The user's password from its variable or file, or the problem with it (never echoing
    the password, nor a value that may be one)."""
    if user.password_env is not None:
        if user.password_env not in environ:
            name = user.password_env
            if SHOWN_ENV_NAME.fullmatch(name) and len(name) <= 64:
                problem = f"environment variable {name} is not set"
                return None, Problem(f"{where}.password_env", problem, f"export {name} before rendering")
            return None, Problem(
                f"{where}.password_env",
                "the environment variable it names is not set (the name is not shown: if it is a password pasted by "
                "mistake, remove it and rotate it)",
                "export that variable before rendering",
            )
        return environ[user.password_env], None
    assert user.password_file is not None
    secret, problem, fix = read_password_file(user.password_file, f"{where}.password_file")
    if problem is not None:
        return None, Problem(f"{where}.password_file", problem, fix)
    return secret, None


class _SharedWithOthers(Exception):
    def __init__(self, mode: int) -> None:
        super().__init__()
        self.mode = mode


def _owner_only(info: os.stat_result) -> None:
    """A secret's own policy, judged on the opened file before its size (ssh's rule for keys)."""
    if info.st_mode & 0o077:
        raise _SharedWithOthers(info.st_mode)


def read_password_file(path: str, field: str) -> tuple[str | None, str | None, str]:
    """(password, None, "") or (None, problem, fix), judged the way ssh judges a private key.

    The file is opened following symlinks (a mounted secret is often one; a symlink's own mode
    means nothing) and without blocking (a FIFO cannot stall the render); then the opened file
    itself is judged with fstat, so nothing can be swapped between the check and the read: a
    regular file, at most MAX_SECRET_BYTES, not readable or writable by group or others, UTF-8.
    The content and the path are never put in a message (the path may be a pasted password).
    """
    try:
        data = bounded_file.read_bounded(path, MAX_SECRET_BYTES, shown_as="the file", judge=_owner_only)
    except _SharedWithOthers as shared:
        problem = f"the file's mode is {stat.S_IMODE(shared.mode):04o}: its group or others may read or write it"
        fix = f"restrict it to its owner: chmod 600 FILE, FILE being the path in {field} (as ssh requires of keys)"
        return None, problem, fix
    except bounded_file.CannotOpen as error:
        return None, f"cannot read the file: {error.strerror or 'the path cannot be opened'}", READABLE_FIX
    except bounded_file.CannotRead as error:
        return None, f"cannot read the file: {error.strerror}", READABLE_FIX
    except bounded_file.NotRegularFile:
        problem = "the file is not a regular file (a device, FIFO, socket or directory)"
        return None, problem, "point password_file at a plain file holding only the password"
    except bounded_file.TooLarge:
        too_big = f"the file is larger than {MAX_SECRET_BYTES} bytes, which no password needs"
        return None, too_big, "put only the password (and at most a trailing newline) in the file"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, f"the file is not UTF-8 text (byte offset {error.start})", "write the password as UTF-8 text"
    # A trailing newline is an artefact of `echo > file`, not part of the password.
    return text.rstrip("\r\n"), None, ""


def user_hash(
    user: User, where: str, environ: Mapping[str, str], kind: str = "sha256"
) -> tuple[str | None, Problem | None]:
    """The hex hash (sha256 or scram_sha256) of a user's password, or the problem with it."""
    if user.password_sha256_hex is not None:
        if user.password_sha256_hex == EMPTY_SHA256:
            problem = "this is the hash of an empty password"
            return None, Problem(f"{where}.password_sha256_hex", problem, "hash a strong password instead")
        if user.password_sha256_hex in KNOWN_WEAK_SHA256:
            problem = "this is the hash of a well-known password"
            return None, Problem(f"{where}.password_sha256_hex", problem, "hash a strong password instead")
        return user.password_sha256_hex, None
    secret, problem = read_secret(user, where, environ)
    if problem:
        return None, problem
    assert secret is not None
    source = "password_env" if user.password_env is not None else "password_file"
    reason = weakness(secret, user.name)
    if reason:
        fix = f"use a random password of at least {MIN_LENGTH} characters, e.g. from: openssl rand -base64 24"
        return None, Problem(f"{where}.{source}", reason, fix)
    return (scram_sha256_hex(secret) if kind == "scram_sha256" else sha256_hex(secret)), None


def resolve_credentials(spec: HardeningSpec, environ: Mapping[str, str] | None = None) -> dict[str, Credential]:
    """Map each user name to what authenticates it; report every problem at once."""
    environ = os.environ if environ is None else environ
    credentials: dict[str, Credential] = {}
    problems: list[Problem] = []
    for index, user in enumerate(spec.users):
        kind = password_hash_for(spec, user)
        if kind == "certificate":
            assert user.certificate_common_name is not None
            credentials[user.name] = Credential(kind, user.certificate_common_name)
            continue
        digest, problem = user_hash(user, f"users[{index}]", environ, kind)
        if problem:
            problems.append(problem)
        else:
            assert digest is not None
            credentials[user.name] = Credential(kind, digest)
    if problems:
        raise SpecError(problems)
    return credentials


def resolve_hashes(spec: HardeningSpec, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Map each password user's name to its hash (sha256 or scram_sha256, as rendered)."""
    return {name: c.value for name, c in resolve_credentials(spec, environ).items() if c.kind != "certificate"}
