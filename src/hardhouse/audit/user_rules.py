"""Audit rules for users, read as ClickHouse loads them (hardhouse.audit.users: names by Poco
key, authentication methods, networks by prefix): no password, a plaintext password, a password
scanners try first, networks that admit anyone. A password's value or hash is judged here and
never put in a finding; only its location is reported."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

from hardhouse.audit.merge import ServerTree
from hardhouse.audit.model import Finding
from hardhouse.audit.users import OTHER_AUTHENTICATION, PASSWORD_ELEMENTS, Authentication, User
from hardhouse.audit.values import known
from hardhouse.controls.ids import ControlId
from hardhouse.controls.registry import Tool, judges

# Passwords a scanner tries first (the probe's default-credential list, and a few more).
KNOWN_PASSWORDS = ("", "default", "clickhouse", "password", "changeme", "admin", "root", "123456", "qwerty")
KNOWN_SHA256 = {hashlib.sha256(p.encode()).hexdigest(): p for p in KNOWN_PASSWORDS}
KNOWN_DOUBLE_SHA1 = {hashlib.sha1(hashlib.sha1(p.encode()).digest()).hexdigest(): p for p in KNOWN_PASSWORDS}


def tree_users(tree: ServerTree) -> list[User]:
    return known(tree.accounts, "users")


def _methods(user: User) -> list[Authentication]:
    return known(user.methods, f"user {user.name}")


@judges(Tool.AUDIT, "passwordless-user", ControlId.AUTH_1)
def passwordless_user(tree: ServerTree) -> Iterator[Finding]:
    for user in tree_users(tree):
        subject = f"user {user.name}"
        methods = _methods(user)
        if any(method.tag in OTHER_AUTHENTICATION for method in methods):
            continue
        if not methods:
            yield Finding(
                "passwordless-user", subject, None, user.element.origin, "has no password element: no password at all"
            )
            continue
        for method in methods:
            if known(method.empty, subject):
                what = "no_password" if method.tag == "no_password" else f"<{method.tag}> is empty"
                yield Finding("passwordless-user", subject, None, method.element.value_origin, what)


@judges(Tool.AUDIT, "plaintext-password", ControlId.AUTH_2)
def plaintext_password(tree: ServerTree) -> Iterator[Finding]:
    for user in tree_users(tree):
        subject = f"user {user.name}"
        for method in _methods(user):
            if method.tag == "password" and known(method.value, subject):
                yield Finding(
                    "plaintext-password",
                    subject,
                    None,
                    method.element.value_origin,
                    "has a plaintext <password> (value not shown); store password_sha256_hex instead",
                )


@judges(Tool.AUDIT, "known-password", ControlId.AUTH_3)
def known_password(tree: ServerTree) -> Iterator[Finding]:
    for user in tree_users(tree):
        subject = f"user {user.name}"
        for method in _methods(user):
            if method.tag not in PASSWORD_ELEMENTS[:3]:
                continue
            text = known(method.value, subject)
            if not text or known(method.empty, subject):
                continue  # an empty password is passwordless-user's finding
            match = {
                "password": text if text in KNOWN_PASSWORDS else None,
                "password_sha256_hex": KNOWN_SHA256.get(text.lower()),
                "password_double_sha1_hex": KNOWN_DOUBLE_SHA1.get(text.lower()),
            }[method.tag]
            if match:
                yield Finding(
                    "known-password",
                    subject,
                    None,
                    method.element.value_origin,
                    f"<{method.tag}> is a well-known password that scanners try first",
                )


@judges(Tool.AUDIT, "any-network", ControlId.NET_1)
def any_network(tree: ServerTree) -> Iterator[Finding]:
    for user in tree_users(tree):
        subject = f"user {user.name}"
        networks = known(user.networks, subject)
        if networks.everyone is not None:
            yield Finding("any-network", subject, None, networks.origin, networks.everyone)
            continue
        for entry in networks.entries:
            if entry.any_reason is not None:
                yield Finding("any-network", subject, entry.text, entry.origin, f"<{entry.key}> {entry.any_reason}")


USER_RULES: dict[str, Callable[[ServerTree], Iterator[Finding]]] = {
    "passwordless-user": passwordless_user,
    "plaintext-password": plaintext_password,
    "known-password": known_password,
    "any-network": any_network,
}
