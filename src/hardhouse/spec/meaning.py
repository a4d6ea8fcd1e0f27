"""What a spec means beyond its fields: decisions the cross-checks and the renderer both take,
so a feature is never rendered where the checks would have refused it, or the other way round."""

from __future__ import annotations

from hardhouse.clickhouse import versions
from hardhouse.spec.model import HardeningSpec, User

# Built-in masking rules: (name, RE2 regexp, replacement). Each replacement keeps enough of
# the match to show that something was there and what kind of secret it was.
BUILTIN_MASKING_RULES: tuple[tuple[str, str, str], ...] = (
    # OpenAI-style and similar API keys: sk-..., sk-live-..., sk-proj-...
    ("hardhouse_api_keys", r"sk-[A-Za-z0-9_-]{16,}", "sk-******"),
    # Authorization: Bearer <token>
    ("hardhouse_bearer_tokens", r"(?i)(bearer\s+)[A-Za-z0-9._~+/-]+=*", r"\1******"),
    # api_key=..., token: ..., secret=..., password=... inside log lines and query text
    (
        "hardhouse_secret_assignments",
        r"(?i)((?:api[_-]?key|access[_-]?token|token|secret|password)\s*[=:]\s*)[^\s'\",;&]+",
        r"\1******",
    ),
    # CREATE/ALTER USER ... IDENTIFIED [WITH method] BY 'secret' (quotes escaped as \' or '')
    ("hardhouse_identified_by", r"(?i)(IDENTIFIED\s+(?:WITH\s+\w+\s+)?BY\s+)'(?:[^'\\]|\\.|'')*'", r"\1'******'"),
)


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
    if spec.refuse_insecure_auth is None:
        return versions.has(spec.version, "refuse_insecure_auth")
    return spec.refuse_insecure_auth


def masking_rules(spec: HardeningSpec) -> list[tuple[str, str, str]]:
    builtin = spec.query_masking.builtin_rules
    if builtin is None:
        builtin = versions.has(spec.version, "query_masking_rules")
    rules = list(BUILTIN_MASKING_RULES) if builtin else []
    return rules + [(rule.name, rule.regexp, rule.replace) for rule in spec.query_masking.rules]


def log_roles(spec: HardeningSpec, user_name: str) -> dict[str, list[str]]:
    """role -> log databases where user_name holds it."""
    roles: dict[str, list[str]] = {"writers": [], "readers": [], "owners": []}
    for db_name, db in spec.log_databases.items():
        for role, members in db.grantees().items():
            if user_name in members:
                roles[role].append(db_name)
    return roles


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def user_access(spec: HardeningSpec, user: User) -> tuple[list[str] | None, list[str] | None]:
    """(grant queries, allow_databases) for a user; None where that element is not written.

    A user named as a writer or reader of a log database gets exactly its log rights plus its
    own `databases`: as GRANT queries where users.d takes them, else (readers only; writers
    are refused there) as an allow-list that a read-only profile keeps from writing.
    """
    roles = log_roles(spec, user.name)
    restricted = bool(roles["writers"] or roles["readers"])
    if restricted and versions.has(spec.version, "users_xml_grants"):
        grants = [f"GRANT INSERT ON {db}.*" for db in roles["writers"]]
        grants += [grant for db in roles["readers"] for grant in reader_grants(spec, db, user.name)]
        grants += [f"GRANT ALL ON {db}.*" for db in _unique(roles["owners"] + list(user.databases or []))]
        return _unique(grants), None
    if restricted:
        return None, _unique(list(user.databases or []) + roles["readers"] + roles["writers"] + roles["owners"])
    if roles["owners"] and user.databases is not None:
        return None, _unique(list(user.databases) + roles["owners"])
    return None, user.databases


def profile_is_read_only(spec: HardeningSpec, profile: str) -> bool:
    """readonly 1 or 2 refuses every write (2 still lets the session change settings)."""
    if profile in spec.profiles:
        value = spec.profiles[profile].get("readonly")
        return value is True or str(value) in {"1", "2"}
    return profile == "readonly"


def reader_grants(spec: HardeningSpec, database: str, user_name: str) -> list[str]:
    """SELECT on the whole log database, or on the tables its reader_limits name."""
    limit = spec.log_databases[database].reader_limits.get(user_name)
    if limit is None or limit.tables is None:
        return [f"GRANT SELECT ON {database}.*"]
    return [f"GRANT SELECT ON {database}.{table}" for table in limit.tables]


def row_filters(spec: HardeningSpec, user_name: str) -> dict[str, dict[str, str]]:
    """database -> table -> the condition a row must meet for user_name to see it."""
    found: dict[str, dict[str, str]] = {}
    for db_name, db in spec.log_databases.items():
        limit = db.reader_limits.get(user_name)
        if limit is not None and limit.rows:
            found[db_name] = dict(limit.rows)
    return found
