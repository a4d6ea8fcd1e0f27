"""The spec's users section: the accounts (users), their quotas, how passwords are stored
(password_hash, refuse_insecure_auth), the fate of users the spec does not declare
(default_user, undeclared_users) and the server's own rule for passwords set through SQL
(password_policy); their models, the rules that span them, and what they mean for a target.
Secrets are not read here; see hardhouse.render.credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, field_validator, model_validator
from pydantic_core import PydanticCustomError

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.grants import SOURCE_PRIVILEGES
from hardhouse.clickhouse.stock import STOCK_PROFILES, STOCK_QUOTAS
from hardhouse.spec.declare import DatabaseName, Network, StrictModel, described
from hardhouse.spec.errors import Problem, excerpt, listing
from hardhouse.spec.fields import (
    COMMON_NAME_MAX,
    AnyNetwork,
    check_env_name,
    check_local_path,
    check_name,
    check_sha256_hex,
    everything_covered,
    fail,
    has_control_character,
    parse_network,
)
from hardhouse.spec.gates import Gate, needs, refusals, wanted

if TYPE_CHECKING:
    from hardhouse.spec.model import HardeningSpec

# The read-only profile the locked default user gets; the spec may not define it.
LOCKED_PROFILE = "hardhouse_locked"
BCRYPT_FIX = (
    "use scram_sha256 (PBKDF2-HMAC-SHA256, 4096 rounds) where the target reads it, or sha256: "
    "ClickHouse accepts bcrypt only for users created by SQL (IDENTIFIED WITH bcrypt_hash), "
    "never in users.d files, which is what hardhouse renders"
)
UNDECLARED_USERS_MODES = ("refuse", "remove", "keep")
UNDECLARED_USERS_FIX = (
    "use refuse (the deploy stops before going live and names each user), remove (the deploy deletes them) "
    "or keep (they stay, judged by every control; a failing one needs a waiver); or declare the user under users"
)
PASSWORD_SOURCES = ("password_env", "password_file", "password_sha256_hex", "certificate_common_name")


def _refuse_bcrypt(value: Any) -> Any:
    if value == "bcrypt":
        raise fail("bcrypt hashes cannot be rendered into users.d", BCRYPT_FIX)
    return value


def _undeclared_users_mode(value: Any) -> Any:
    if value not in UNDECLARED_USERS_MODES:
        raise fail(f"{excerpt(value)} is not a choice", UNDECLARED_USERS_FIX)
    return value


PasswordHash = Annotated[Literal["auto", "sha256", "scram_sha256"], BeforeValidator(_refuse_bcrypt)]
UndeclaredUsers = Annotated[Literal["refuse", "remove", "keep"], BeforeValidator(_undeclared_users_mode)]
PasswordType = Literal["sha256_password", "bcrypt_password"]
TableFunction = Literal["url", "file", "s3", "remote", "mysql", "postgresql", "hdfs", "jdbc", "odbc", "sqlite"]


class PasswordSource(StrictModel):
    """The rules for a password read at render time, from an environment variable
    (password_env) or an owner-only file (password_file): a user's and the cluster's secrets
    alike. Each subclass declares the fields (in its own order, which the reference follows)
    and the variable its fix text shows as an example."""

    ENV_EXAMPLE: ClassVar[str]

    @field_validator("password_env", check_fields=False)
    @classmethod
    def valid_env_name(cls, value: str | None) -> str | None:
        return None if value is None else check_env_name(value, cls.ENV_EXAMPLE)

    @field_validator("password_file", check_fields=False)
    @classmethod
    def valid_password_file(cls, value: str | None) -> str | None:
        return None if value is None else check_local_path(value)


class User(PasswordSource):
    ENV_EXAMPLE: ClassVar[str] = "CH_INGEST_PASSWORD"

    name: str = described(description="login name")
    password_env: str | None = described(
        None, description="environment variable holding the password (read at render time)"
    )
    password_file: str | None = described(
        None,
        description=(
            "file holding the password (read at render time, trailing newline ignored): a regular file of at most "
            "4 KiB that only its owner may read or write (chmod 600), as ssh requires of keys"
        ),
    )
    password_sha256_hex: str | None = described(None, description="SHA-256 of the password, 64 lowercase hex digits")
    certificate_common_name: Annotated[
        str | None,
        Gate("ssl_certificate_auth", "give the user a password source, or target a newer clickhouse_version"),
    ] = described(
        None,
        description=(
            "authenticate by TLS client certificate with this common name instead of a password (needs "
            "tls.verify_clients; 22.8+)"
        ),
        why="a key that never crosses the wire beats a password; opt in per user",
    )
    password_hash: PasswordHash | None = described(
        None,
        description="hash for this user's password, as password_hash; null uses the top-level password_hash",
    )
    networks: list[Network] = described(
        description=(
            "client networks allowed to log in as this user (addresses or CIDR, IPv4 or IPv6; no %zone); "
            "judged together, IPv4 also as ::ffff:a.b.c.d"
        ),
        why="a stolen password is useless from elsewhere",
    )
    allow_any_network: bool = described(
        False,
        description=(
            "permit networks that alone or together cover every IPv4 address (0.0.0.0/0, ::ffff:0:0/96) or every "
            "public IPv6 address (::/0, 2000::/3)"
        ),
        why="logging in from anywhere must be a visible decision",
    )
    profile: str = described("default", description="settings profile (from profiles, or stock default/readonly)")
    quota: str = described("default", description="quota (from quotas, or stock default)")
    databases: list[DatabaseName] | None = described(
        None,
        description=(
            "databases this user may use (allow-list); omitted means all, except for a writer or reader of a log "
            "database, who gets its log roles plus this list"
        ),
        why="least privilege: a log writer needs its log database only",
    )
    table_functions: Annotated[
        list[TableFunction],
        Gate(
            "users_xml_grants",
            "remove table_functions, or target a newer clickhouse_version",
            note="; before it, users.d cannot refuse table functions one by one",
        ),
    ] = described(
        [],
        description=(
            f"table functions (and the table engines of the same name) this user may use: "
            f"{', '.join(SOURCE_PRIVILEGES)}; every other one is refused (23.6+, where users.d takes grants)"
        ),
        why="url(), s3() and remote() make a stolen credential a proxy, file() reads the server's disk",
    )

    @field_validator("name")
    @classmethod
    def valid_name(cls, value: str) -> str:
        check_name(value, "user name")
        if value == "default":
            raise fail(
                "the stock default user is not declared under users",
                "pick another name; default_user (remove | lock) decides the stock user's fate",
            )
        return value

    @field_validator("password_sha256_hex")
    @classmethod
    def valid_hash(cls, value: str | None) -> str | None:
        return None if value is None else check_sha256_hex(value)

    @field_validator("certificate_common_name")
    @classmethod
    def valid_common_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value or value != value.strip():
            raise fail(
                "the common name is empty or has leading or trailing spaces",
                "write the certificate's subject CN exactly, e.g. ingest.logs.example",
            )
        if len(value) > COMMON_NAME_MAX:
            raise fail(
                f"the common name has {len(value)} characters, more than X.509 allows ({COMMON_NAME_MAX})",
                "use the certificate's subject CN",
            )
        if has_control_character(value):
            raise fail("the common name contains a control character", "use the certificate's subject CN")
        return value

    @field_validator("networks")
    @classmethod
    def valid_networks(cls, value: list[str]) -> list[str]:
        if not value:
            raise fail(
                "no client network is listed",
                'list the networks this user connects from, e.g. ["10.0.0.0/8"]',
            )
        return value

    @field_validator("profile")
    @classmethod
    def valid_profile_name(cls, value: str) -> str:
        return check_name(value, "profile name")

    @field_validator("quota")
    @classmethod
    def valid_quota_name(cls, value: str) -> str:
        return check_name(value, "quota name")

    @field_validator("table_functions")
    @classmethod
    def unique_table_functions(cls, value: list[str]) -> list[str]:
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise fail(f"listed twice: {', '.join(twice)}", "list each table function once")
        return value

    @field_validator("databases")
    @classmethod
    def valid_databases(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise fail(
                    "an empty allow-list locks the user out of every database",
                    "list at least one database, or omit databases",
                )
        return value

    @model_validator(mode="after")
    def one_password_source(self) -> User:
        sources = [s for s in PASSWORD_SOURCES if getattr(self, s) is not None]
        if len(sources) != 1:
            problem = "no password source is given"
            if sources:
                problem = f"several password sources are given ({', '.join(sources)})"
            raise PydanticCustomError(
                "hardhouse",
                problem,
                {
                    "fix": (
                        "give exactly one of password_env, password_file, password_sha256_hex "
                        "or certificate_common_name"
                    )
                },
            )
        return self

    @property
    def has_password(self) -> bool:
        return self.certificate_common_name is None

    def parsed_networks(self) -> list[AnyNetwork]:
        return [parse_network(text) for text in self.networks]


def _some_users(value: list[User]) -> list[User]:
    if not value:
        raise fail("no user is declared", "declare at least one user with a password and networks")
    return value


Users = Annotated[list[User], AfterValidator(_some_users)]


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
            raise fail(f"{excerpt(value)} is negative", "use 0 for unlimited or a positive number")
        return value


def _quota_names(value: dict[str, Quota]) -> dict[str, Quota]:
    for name in value:
        check_name(name, "quota name")
    return value


Quotas = Annotated[dict[str, Quota], AfterValidator(_quota_names)]


class PasswordPolicy(StrictModel):
    server_side: Annotated[
        bool | None,
        Gate(
            "password_policy",
            "set password_policy.server_side: null or false, or target a newer clickhouse_version",
        ),
    ] = described(
        None,
        description=(
            "make the server judge passwords set by CREATE/ALTER USER (password_complexity with the render-time "
            "minimum length, default_password_type); null: where the target has them (23.3+)"
        ),
        why="a user created later through SQL must face the same rule as the rendered ones",
    )
    sql_password_type: PasswordType = described(
        "sha256_password",
        description="how CREATE USER ... IDENTIFIED BY stores a password (default_password_type)",
        why="never plaintext_password; bcrypt_password costs a stolen access directory more per guess",
    )


# ---------------------------------------------------------------- what the section means


def password_hash_for(spec: HardeningSpec, user: User) -> str:
    """ "certificate", "sha256" or "scram_sha256": what the renderer writes for this user."""
    if not user.has_password:
        return "certificate"
    choice = user.password_hash or spec.password_hash
    if choice == "auto":
        can_scram = versions.has(spec.version, "scram_sha256_hash") and user.password_sha256_hex is None
        return "scram_sha256" if can_scram else "sha256"
    return choice


def refuses_insecure_auth(spec: HardeningSpec) -> bool:
    return wanted(spec, "refuse_insecure_auth", spec.version)


def server_password_policy(spec: HardeningSpec) -> bool:
    return wanted(spec.password_policy, "server_side", spec.version)


# ---------------------------------------------------------------- rules that span fields


def checks(spec: HardeningSpec) -> list[Problem]:
    """The locked profile's name taken, a user declared twice, reachable from anywhere, or on a
    profile or quota nobody defines; then how each authenticates (auth_checks)."""
    problems: list[Problem] = []
    if LOCKED_PROFILE in spec.profiles:
        problems.append(
            Problem(
                f"profiles.{LOCKED_PROFILE}",
                "this profile name is reserved for the locked default user",
                "rename the profile",
            )
        )
    names: set[str] = set()
    for index, user in enumerate(spec.users):
        where = f"users[{index}]"
        if user.name in names:
            problems.append(Problem(f"{where}.name", f"user {user.name!r} is declared twice", "declare each user once"))
        names.add(user.name)
        if not user.allow_any_network:
            problems.extend(_any_network_checks(user, where))
        if user.profile not in spec.profiles and user.profile not in STOCK_PROFILES:
            problems.append(
                Problem(
                    f"{where}.profile",
                    f"profile {user.profile!r} is not defined",
                    "define it under profiles, or use one of: "
                    f"{listing(sorted(STOCK_PROFILES | spec.profiles.keys()))}",
                )
            )
        # Below 23.6 users.d takes no grants, so table functions cannot be given one by one.
        problems.extend(refusals(user, "table_functions", spec.version, where))
        if user.quota not in spec.quotas and user.quota not in STOCK_QUOTAS:
            problems.append(
                Problem(
                    f"{where}.quota",
                    f"quota {user.quota!r} is not defined",
                    f"define it under quotas, or use one of: {listing(sorted(STOCK_QUOTAS | spec.quotas.keys()))}",
                )
            )
    return problems + _auth_checks(spec)


def _any_network_checks(user: User, where: str) -> list[Problem]:
    """A user reachable from every IPv4 or every public IPv6 address, by one network or by
    several together (0.0.0.0/1 + 128.0.0.0/1), IPv4-mapped forms included."""
    problems: list[Problem] = []
    fix = f"list the client networks, or set {where}.allow_any_network: true if that is intended"
    networks = user.parsed_networks()
    alone: set[str] = set()
    for net_index, network in enumerate(networks):
        covered = everything_covered([network])
        if covered:
            alone.update(covered)
            problems.append(
                Problem(
                    f"{where}.networks[{net_index}]",
                    f"{network} lets {user.name!r} log in from any address (it covers {' and '.join(covered)})",
                    fix,
                )
            )
    together = [what for what in everything_covered(networks) if what not in alone]
    if together:
        problems.append(
            Problem(
                f"{where}.networks",
                f"these networks together cover {' and '.join(together)}, so {user.name!r} may log in from any of them",
                fix,
            )
        )
    return problems


def _auth_checks(spec: HardeningSpec) -> list[Problem]:
    problems: list[Problem] = []
    version = spec.version
    problems.extend(refusals(spec, "refuse_insecure_auth", version))
    top_scram_refused = False
    if spec.password_hash == "scram_sha256":
        problem = needs(
            "scram_sha256_hash",
            version,
            "password_hash",
            "set password_hash: auto or sha256, or target a newer clickhouse_version",
        )
        if problem:
            problems.append(problem)
            top_scram_refused = True
    for index, user in enumerate(spec.users):
        where = f"users[{index}]"
        if not user.has_password:
            refused = refusals(user, "certificate_common_name", version, where)
            if refused:
                problems.extend(refused)
            elif spec.tls is None or not spec.tls.verify_clients or not spec.tls_ports_open():
                problems.append(
                    Problem(
                        f"{where}.certificate_common_name",
                        "certificate login needs a TLS port whose server verifies client certificates",
                        "open https or native_tls and set tls.verify_clients: true with tls.ca_certificate",
                    )
                )
            if user.password_hash is not None:
                problems.append(
                    Problem(
                        f"{where}.password_hash",
                        "a certificate user has no password to hash",
                        "remove password_hash",
                    )
                )
            continue
        if user.password_hash == "scram_sha256":
            problem = needs(
                "scram_sha256_hash",
                version,
                f"{where}.password_hash",
                f"set {where}.password_hash: sha256, or target a newer clickhouse_version",
            )
            if problem:
                problems.append(problem)
                continue
        inherits_scram = user.password_hash is None and spec.password_hash == "scram_sha256" and not top_scram_refused
        explicit_scram = user.password_hash == "scram_sha256" or inherits_scram
        if explicit_scram and user.password_sha256_hex is not None:
            problems.append(
                Problem(
                    f"{where}.password_sha256_hex",
                    "a SHA-256 hash cannot be turned into a SCRAM-SHA-256 hash",
                    f"give password_env or password_file instead, or set {where}.password_hash: sha256",
                )
            )
    return problems


def password_policy_checks(spec: HardeningSpec) -> list[Problem]:
    """The server-side password rule asked for where the target lacks it."""
    return refusals(spec.password_policy, "server_side", spec.version, "password_policy")
