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

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from zxcvbn import zxcvbn

from hardhouse.clickhouse.stock import EMPTY_SHA256
from hardhouse.spec.errors import Problem, SpecError
from hardhouse.spec.meaning import password_hash_for
from hardhouse.spec.model import HardeningSpec, User

MIN_LENGTH = 12
# zxcvbn scores 0..4; 3 is "safely unguessable: moderate protection from an offline attack".
MIN_SCORE = 3
# Hashes of passwords an attacker tries first; a hash given directly is checked against them.
KNOWN_WEAK = ("", "default", "clickhouse", "password", "changeme", "admin", "123456", "qwerty")
KNOWN_WEAK_SHA256 = {hashlib.sha256(p.encode()).hexdigest(): p for p in KNOWN_WEAK}


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


def weakness(secret: str, user_name: str) -> str | None:
    """Why a password is too weak, without repeating it; None when it is acceptable."""
    if not secret:
        return "the password is empty"
    if len(secret) < MIN_LENGTH:
        return f"the password has {len(secret)} characters, fewer than {MIN_LENGTH}"
    # zxcvbn only looks at the first 72 characters, which is plenty to spot a guessable one.
    result = zxcvbn(secret[:72], user_inputs=[user_name, "clickhouse", "hardhouse", "default"])
    if result["score"] < MIN_SCORE:
        warning = result["feedback"].get("warning") or "it follows a guessable pattern"
        return f"the password is trivially guessable ({warning.rstrip('.').lower()})"
    return None


def read_secret(user: User, where: str, environ: Mapping[str, str]) -> tuple[str | None, Problem | None]:
    if user.password_env is not None:
        if user.password_env not in environ:
            return None, Problem(f"{where}.password_env", f"environment variable {user.password_env} is not set", f"export {user.password_env} before rendering")
        return environ[user.password_env], None
    assert user.password_file is not None
    path = Path(user.password_file)
    try:
        # A trailing newline is an artefact of `echo > file`, not part of the password.
        return path.read_text(encoding="utf-8").rstrip("\r\n"), None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "it is not UTF-8 text"
        return None, Problem(f"{where}.password_file", f"cannot read {path}: {reason}", "point password_file at a readable file holding the password")


def user_hash(user: User, where: str, environ: Mapping[str, str], kind: str = "sha256") -> tuple[str | None, Problem | None]:
    """The hex hash (sha256 or scram_sha256) of a user's password, or the problem with it."""
    if user.password_sha256_hex is not None:
        if user.password_sha256_hex == EMPTY_SHA256:
            return None, Problem(f"{where}.password_sha256_hex", "this is the hash of an empty password", "hash a strong password instead")
        if user.password_sha256_hex in KNOWN_WEAK_SHA256:
            return None, Problem(f"{where}.password_sha256_hex", "this is the hash of a well-known password", "hash a strong password instead")
        return user.password_sha256_hex, None
    secret, problem = read_secret(user, where, environ)
    if problem:
        return None, problem
    assert secret is not None
    source = "password_env" if user.password_env is not None else "password_file"
    reason = weakness(secret, user.name)
    if reason:
        return None, Problem(f"{where}.{source}", reason, f"use a random password of at least {MIN_LENGTH} characters, e.g. from: openssl rand -base64 24")
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
