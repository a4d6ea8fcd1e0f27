"""The hardening spec (public contract v1): a validated, typed model.

Every default lives here with its reason (`why`), and the README's field reference is
generated from these same Field declarations (see hardhouse.reference).

Validation happens in two passes so that every problem is reported at once:
1. structure and single fields (pydantic, all field errors collected);
2. rules that span fields (`cross_checks`), run when the structure is sound.
Secrets are not read here; see hardhouse.credentials.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hardhouse import versions
from hardhouse.problems import Problem, SpecError, field_path

# A name that is safe as an XML element name and as a ClickHouse identifier.
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
NAME_RULE = "starts with a letter or underscore, then letters, digits or underscores (at most 63)"
ENV_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")

# Profiles and quotas that every stock users.xml defines, so users may name them unseen.
STOCK_PROFILES = frozenset({"default", "readonly"})
STOCK_QUOTAS = frozenset({"default"})
# The read-only profile the locked default user gets; the spec may not define it.
LOCKED_PROFILE = "hardhouse_locked"

STRONG_CIPHERS = (
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
)


def fail(problem: str, fix: str) -> PydanticCustomError:
    """An error pydantic collects with the others, carrying our fix text."""
    # Braces would be read as pydantic placeholders; the message is plain text.
    problem = problem.replace("{", "(").replace("}", ")")
    return PydanticCustomError("hardhouse", problem, {"fix": fix})


def described(default: Any = ..., *, description: str, why: str = "", **kwargs: Any) -> Any:
    """A Field whose description and reason feed the README reference."""
    extra = {"why": why} if why else {}
    return Field(default, description=description, json_schema_extra=extra, **kwargs)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def check_name(value: str, what: str) -> str:
    if not NAME_PATTERN.match(value):
        raise fail(f"{what} {value!r} cannot be used", f"use a name that {NAME_RULE}")
    return value


def is_any_network(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if network.prefixlen == 0:
        return True
    # ::ffff:0:0/96 is every IPv4 address seen through IPv6.
    return network == ipaddress.ip_network("::ffff:0:0/96")


def check_address(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise fail(f"{text!r} is not an IP address", "use an explicit address such as 10.0.0.5 or ::1") from None
    return text


def check_network(text: str) -> str:
    parse_network(text)
    return text


def check_database(text: str) -> str:
    return check_name(text, "database name")


# List items validated one by one, so an error names its index (users[0].networks[1]).
Address = Annotated[str, AfterValidator(check_address)]
Network = Annotated[str, AfterValidator(check_network)]
DatabaseName = Annotated[str, AfterValidator(check_database)]


class Ports(StrictModel):
    http: int | None = described(
        None,
        description="plaintext HTTP port (stock 8123)",
        why="plaintext leaks credentials and data; closed unless asked for",
    )
    native: int | None = described(
        None,
        description="plaintext native-protocol port (stock 9000)",
        why="plaintext leaks credentials and data; closed unless asked for",
    )
    https: int | None = described(
        8443, description="HTTPS port", why="the HTTP interface, over TLS"
    )
    native_tls: int | None = described(
        9440, description="native protocol over TLS", why="the native interface, over TLS"
    )
    interserver_http: int | None = described(
        None,
        description="replication port (stock 9009)",
        why="unauthenticated by default; single servers do not need it",
    )
    mysql: int | None = described(
        None,
        description="MySQL compatibility port (stock 9004 on modern versions)",
        why="a second way in with its own auth quirks; closed unless asked for",
    )
    postgresql: int | None = described(
        None,
        description="PostgreSQL compatibility port (stock 9005 on modern versions)",
        why="a second way in with its own auth quirks; closed unless asked for",
    )
    grpc: int | None = described(
        None,
        description="gRPC port",
        why="a second way in; closed unless asked for",
    )

    @field_validator("*")
    @classmethod
    def port_range(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 65535:
            raise fail(f"{value} is not a TCP port", "use a number from 1 to 65535, or null to close it")
        return value

    def open(self) -> dict[str, int]:
        return {name: port for name, port in self.model_dump().items() if port is not None}


class Tls(StrictModel):
    certificate: str = described(description="server certificate (PEM), path on the ClickHouse host")
    private_key: str = described(description="its private key (PEM), path on the ClickHouse host")
    ca_certificate: str | None = described(
        None,
        description="CA bundle (PEM) used to verify clients; required when verify_clients is true",
    )
    min_protocol: Literal["tlsv1_2", "tlsv1_3"] = described(
        "tlsv1_2",
        description="oldest TLS version accepted",
        why="TLS 1.0/1.1 are broken or deprecated (RFC 8996)",
    )
    verify_clients: bool = described(
        False,
        description="require a client certificate signed by ca_certificate",
        why="passwords already authenticate; mTLS is an extra layer to opt into",
    )

    @field_validator("certificate", "private_key", "ca_certificate")
    @classmethod
    def absolute_path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise fail(f"{value!r} is not an absolute path", "give the full path on the ClickHouse host, e.g. /etc/clickhouse-server/tls/server.crt")
        if value is not None and any(c in value for c in "\n\r\t<>&\"'"):
            raise fail(f"{value!r} contains characters that do not belong in a path", "use a plain file path")
        return value

    @model_validator(mode="after")
    def ca_for_client_verification(self) -> Tls:
        if self.verify_clients and not self.ca_certificate:
            raise PydanticCustomError(
                "hardhouse",
                "verify_clients is true but no ca_certificate is given",
                {"fix": "set tls.ca_certificate to the CA that signs client certificates, or set verify_clients: false"},
            )
        return self


class User(StrictModel):
    name: str = described(description="login name")
    password_env: str | None = described(
        None, description="environment variable holding the password (read at render time)"
    )
    password_file: str | None = described(
        None, description="file holding the password (read at render time, trailing newline ignored)"
    )
    password_sha256_hex: str | None = described(
        None, description="SHA-256 of the password, 64 lowercase hex digits"
    )
    networks: list[Network] = described(
        description="client networks allowed to log in as this user (addresses or CIDR, IPv4 or IPv6)",
        why="a stolen password is useless from elsewhere",
    )
    allow_any_network: bool = described(
        False,
        description="permit 0.0.0.0/0 or ::/0 in networks",
        why="logging in from anywhere must be a visible decision",
    )
    profile: str = described("default", description="settings profile (from profiles, or stock default/readonly)")
    quota: str = described("default", description="quota (from quotas, or stock default)")
    databases: list[DatabaseName] | None = described(
        None,
        description="databases this user may use (allow-list); omitted means all",
        why="least privilege: a log writer needs its log database only",
    )

    @field_validator("name")
    @classmethod
    def valid_name(cls, value: str) -> str:
        check_name(value, "user name")
        if value == "default":
            raise fail("the stock default user is not declared under users", "pick another name; default_user (remove | lock) decides the stock user's fate")
        return value

    @field_validator("password_env")
    @classmethod
    def valid_env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_PATTERN.match(value):
            raise fail(f"{value!r} is not an environment variable name", "use letters, digits and underscores, e.g. CH_INGEST_PASSWORD")
        return value

    @field_validator("password_sha256_hex")
    @classmethod
    def valid_hash(cls, value: str | None) -> str | None:
        if value is not None and not SHA256_PATTERN.match(value):
            raise fail("is not 64 lowercase hex digits", "use the output of: printf '%s' \"$PASSWORD\" | sha256sum")
        return value

    @field_validator("networks")
    @classmethod
    def valid_networks(cls, value: list[str]) -> list[str]:
        if not value:
            raise fail("no client network is listed", "list the networks this user connects from, e.g. [\"10.0.0.0/8\"]")
        return value

    @field_validator("profile")
    @classmethod
    def valid_profile_name(cls, value: str) -> str:
        return check_name(value, "profile name")

    @field_validator("quota")
    @classmethod
    def valid_quota_name(cls, value: str) -> str:
        return check_name(value, "quota name")

    @field_validator("databases")
    @classmethod
    def valid_databases(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise fail("an empty allow-list locks the user out of every database", "list at least one database, or omit databases")
        return value

    @model_validator(mode="after")
    def one_password_source(self) -> User:
        sources = [s for s in ("password_env", "password_file", "password_sha256_hex") if getattr(self, s) is not None]
        if len(sources) != 1:
            problem = "no password source is given" if not sources else f"several password sources are given ({', '.join(sources)})"
            raise PydanticCustomError(
                "hardhouse",
                problem,
                {"fix": "give exactly one of password_env, password_file or password_sha256_hex"},
            )
        return self

    def parsed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [parse_network(text) for text in self.networks]


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        fix = "write an address (10.0.0.5) or a network in CIDR form (10.0.0.0/8, 2001:db8::/64)"
        if "host bits set" in str(error):
            fix = f"write the network address: {ipaddress.ip_network(text, strict=False)}"
        raise fail(f"{text!r} is not an IP network", fix) from None


class Quota(StrictModel):
    duration: int = described(3600, description="interval length in seconds")
    queries: int = described(0, description="queries per interval (0 = unlimited)")
    errors: int = described(0, description="failed queries per interval (0 = unlimited)")
    result_rows: int = described(0, description="result rows per interval (0 = unlimited)")
    read_rows: int = described(0, description="rows read per interval (0 = unlimited)")
    execution_time: int = described(0, description="query seconds per interval (0 = unlimited)")

    @field_validator("*")
    @classmethod
    def not_negative(cls, value: int) -> int:
        if value < 0:
            raise fail(f"{value} is negative", "use 0 for unlimited or a positive number")
        return value


SettingValue = int | float | str | bool


class HardeningSpec(StrictModel):
    clickhouse_version: str = described(
        description=f'target server, "major.minor" ({versions.SUPPORTED_TEXT})',
        why="features the target lacks are refused instead of silently ignored",
    )
    listen_hosts: list[Address] = described(
        description="addresses the server listens on (IP addresses)",
        why="the stock config listens wherever its packager chose; say where",
    )
    allow_all_interfaces: bool = described(
        False,
        description="permit 0.0.0.0 or :: in listen_hosts",
        why="listening on every interface is how the incident's server was exposed",
    )
    ports: Ports = described(default_factory=Ports, description="ports to open; null closes one")
    tls: Tls | None = described(None, description="TLS material and policy; required when a TLS port is open")
    default_user: Literal["remove", "lock"] = described(
        "remove",
        description="fate of the stock passwordless default user",
        why="the stock default user has no password and accepts any address",
    )
    users: list[User] = described(description="accounts, each with a password and networks")
    profiles: dict[str, dict[str, SettingValue]] = described(
        default_factory=dict, description="settings profiles by name: {setting: value}"
    )
    quotas: dict[str, Quota] = described(default_factory=dict, description="quotas by name (one interval each)")

    @field_validator("clickhouse_version", mode="before")
    @classmethod
    def version_text(cls, value: Any) -> Any:
        if isinstance(value, (int, float)):
            raise fail(
                f"{value!r} is a number, not a version string",
                'quote it, e.g. clickhouse_version: "24.8" (YAML reads 22.10 as 22.1)',
            )
        if isinstance(value, str):
            try:
                versions.parse_version(value)
            except ValueError as error:
                raise fail(str(error), f"use one of the supported targets: {versions.SUPPORTED_TEXT}") from None
        return value

    @field_validator("listen_hosts")
    @classmethod
    def valid_listen_hosts(cls, value: list[str]) -> list[str]:
        if not value:
            raise fail("no listen address is given", "list the addresses clients reach the server on, e.g. [\"10.0.0.5\"]")
        if len(set(value)) != len(value):
            raise fail("an address is listed twice", "list each address once")
        return value

    @field_validator("users")
    @classmethod
    def some_users(cls, value: list[User]) -> list[User]:
        if not value:
            raise fail("no user is declared", "declare at least one user with a password and networks")
        return value

    @field_validator("profiles")
    @classmethod
    def valid_profiles(cls, value: dict[str, dict[str, SettingValue]]) -> dict[str, dict[str, SettingValue]]:
        for name, settings in value.items():
            check_name(name, "profile name")
            for setting, setting_value in settings.items():
                check_name(setting, f"setting name in profile {name!r}")
                # XML 1.0 cannot carry control characters, escaped or not.
                if isinstance(setting_value, str) and any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF or c in "\ufffe\uffff" for c in setting_value):
                    raise fail(f"setting {setting!r} in profile {name!r} contains a control character", "remove it; setting values are single-line text")
        return value

    @field_validator("quotas")
    @classmethod
    def valid_quota_names(cls, value: dict[str, Quota]) -> dict[str, Quota]:
        for name in value:
            check_name(name, "quota name")
        return value

    @property
    def version(self) -> versions.Version:
        return versions.parse_version(self.clickhouse_version)

    def tls_ports_open(self) -> bool:
        return self.ports.https is not None or self.ports.native_tls is not None


def cross_checks(spec: HardeningSpec) -> list[Problem]:
    """Rules that span several fields; each problem names the field to change."""
    problems: list[Problem] = []
    for index, host in enumerate(spec.listen_hosts):
        if ipaddress.ip_address(host).is_unspecified and not spec.allow_all_interfaces:
            problems.append(Problem(
                f"listen_hosts[{index}]",
                f"{host} listens on every interface",
                "list the specific addresses clients use, or set allow_all_interfaces: true if that is intended",
            ))
    open_ports = spec.ports.open()
    if not open_ports:
        problems.append(Problem("ports", "every port is closed, so nobody can reach the server", "open at least https or native_tls"))
    seen: dict[int, str] = {}
    for name, port in open_ports.items():
        if port in seen:
            problems.append(Problem(f"ports.{name}", f"port {port} is also used by ports.{seen[port]}", "give each interface its own port"))
        seen[port] = name
        feature = f"{name}_port"
        if feature in versions.FEATURES and not versions.has(spec.version, feature):
            problems.append(Problem(
                f"ports.{name}",
                versions.needs_message(feature, spec.version),
                f"set ports.{name}: null, or target a newer clickhouse_version",
            ))
    if spec.tls_ports_open() and spec.tls is None:
        problems.append(Problem(
            "tls",
            "a TLS port (https or native_tls) is open but no certificate and key are given",
            "add tls.certificate and tls.private_key, or close ports.https and ports.native_tls",
        ))
    if LOCKED_PROFILE in spec.profiles:
        problems.append(Problem(f"profiles.{LOCKED_PROFILE}", "this profile name is reserved for the locked default user", "rename the profile"))
    names: set[str] = set()
    for index, user in enumerate(spec.users):
        where = f"users[{index}]"
        if user.name in names:
            problems.append(Problem(f"{where}.name", f"user {user.name!r} is declared twice", "declare each user once"))
        names.add(user.name)
        for net_index, network in enumerate(user.parsed_networks()):
            if is_any_network(network) and not user.allow_any_network:
                problems.append(Problem(
                    f"{where}.networks[{net_index}]",
                    f"{network} lets {user.name!r} log in from any address",
                    f"list the client networks, or set {where}.allow_any_network: true if that is intended",
                ))
        if user.profile not in spec.profiles and user.profile not in STOCK_PROFILES:
            problems.append(Problem(
                f"{where}.profile",
                f"profile {user.profile!r} is not defined",
                f"define it under profiles, or use one of: {', '.join(sorted(STOCK_PROFILES | spec.profiles.keys()))}",
            ))
        if user.quota not in spec.quotas and user.quota not in STOCK_QUOTAS:
            problems.append(Problem(
                f"{where}.quota",
                f"quota {user.quota!r} is not defined",
                f"define it under quotas, or use one of: {', '.join(sorted(STOCK_QUOTAS | spec.quotas.keys()))}",
            ))
    return problems


def problems_from_validation(error: ValidationError) -> list[Problem]:
    """Turn pydantic's errors into Problems with a field path and a fix."""
    problems = []
    for item in error.errors(include_url=False):
        loc = [part for part in item["loc"] if not _is_union_tag(part)]
        path = field_path(loc)
        kind = item["type"]
        ctx = item.get("ctx") or {}
        if kind == "hardhouse":
            problems.append(Problem(path, item["msg"], ctx["fix"]))
        elif kind == "extra_forbidden":
            problems.append(_unknown_field(loc))
        elif kind == "missing":
            problems.append(Problem(path, "this required field is missing", f"add {loc[-1]}: (see the spec reference in README.md)"))
        elif kind == "literal_error":
            problems.append(Problem(path, f"{item['input']!r} is not allowed", f"use {ctx.get('expected')}"))
        elif kind in {"int_type", "int_parsing", "int_from_float"}:
            problems.append(Problem(path, f"{item['input']!r} is not a whole number", "write a plain number without quotes"))
        elif kind == "bool_type":
            problems.append(Problem(path, f"{item['input']!r} is not true or false", "write true or false without quotes"))
        elif kind in {"string_type"}:
            problems.append(Problem(path, f"{item['input']!r} is not text", "write a string (quote it in YAML)"))
        elif kind in {"list_type", "dict_type", "model_type"}:
            shape = "a list" if kind == "list_type" else "a mapping of keys to values"
            problems.append(Problem(path, f"{_short(item['input'])} is not {shape}", f"write {shape} here"))
        else:
            problems.append(Problem(path, item["msg"], "correct the value (see the spec reference in README.md)"))
    return _dedupe(problems)


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the tried member type to locations inside unions (e.g. "int", "str").
    return isinstance(part, str) and part in {"int", "float", "str", "bool"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            out.append(problem)
    return out


MODELS_BY_FIELD: dict[str, type[StrictModel]] = {"ports": Ports, "tls": Tls, "users": User, "quotas": Quota}


def _unknown_field(loc: list[str | int]) -> Problem:
    name = str(loc[-1])
    path = field_path(loc)
    if name == "password":
        return Problem(
            path,
            "a plaintext password may not appear in a spec",
            "remove it and use password_env: VAR (or password_file / password_sha256_hex); only a hash is ever written",
        )
    parent = next((MODELS_BY_FIELD[p] for p in reversed(loc[:-1]) if isinstance(p, str) and p in MODELS_BY_FIELD), HardeningSpec)
    known = list(parent.model_fields)
    close = difflib.get_close_matches(name, known, n=1)
    fix = f"did you mean {close[0]!r}?" if close else f"remove it; known fields here: {', '.join(known)}"
    return Problem(path, f"unknown field {name!r}", fix)


def load_spec(data: Any) -> HardeningSpec:
    """Validate a spec given as a mapping (YAML document or pyinfra host data)."""
    if not isinstance(data, dict):
        raise SpecError([Problem("", f"the spec is {type(data).__name__}, not a mapping of fields", "write the spec as a YAML mapping (see README.md)")])
    try:
        spec = HardeningSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(problems_from_validation(error)) from None
    problems = cross_checks(spec)
    if problems:
        raise SpecError(problems)
    return spec


def load_spec_file(path: str | Path) -> HardeningSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError([Problem("", f"cannot read spec file {path}: {error.strerror}", "check the path given to --spec")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError([Problem("", f"{path} is not valid YAML{where}", "fix the YAML syntax there")]) from None
    return load_spec(data)
