"""Rules that span several fields, run once the structure is valid; each problem names the
field to change and how."""

from __future__ import annotations

from hardhouse.clickhouse import versions
from hardhouse.clickhouse.column_types import families, parse_column_type
from hardhouse.clickhouse.stock import STOCK_PROFILES, STOCK_QUOTAS
from hardhouse.spec.cluster_checks import cluster_checks
from hardhouse.spec.errors import Problem, listing
from hardhouse.spec.fields import everything_covered, listens_everywhere
from hardhouse.spec.locks import lock_checks
from hardhouse.spec.meaning import BUILTIN_MASKING_RULES, profile_is_read_only
from hardhouse.spec.model import LOCKED_PROFILE, HardeningSpec, LogDatabase, User


def cross_checks(spec: HardeningSpec) -> list[Problem]:
    """Rules that span several fields; each problem names the field to change."""
    problems: list[Problem] = []
    for index, host in enumerate(spec.listen_hosts):
        if listens_everywhere(host) and not spec.allow_all_interfaces:
            problems.append(
                Problem(
                    f"listen_hosts[{index}]",
                    f"{host} listens on every interface",
                    "list the specific addresses clients use, or set allow_all_interfaces: true if that is intended",
                )
            )
    open_ports = spec.ports.open()
    if not open_ports:
        problems.append(
            Problem(
                "ports",
                "every port is closed, so nobody can reach the server",
                "open at least https or native_tls",
            )
        )
    seen: dict[int, str] = {}
    for name, port in open_ports.items():
        if port in seen:
            problems.append(
                Problem(
                    f"ports.{name}",
                    f"port {port} is also used by ports.{seen[port]}",
                    "give each interface its own port",
                )
            )
        seen[port] = name
        feature = f"{name}_port"
        if feature in versions.FEATURES and not versions.has(spec.version, feature):
            problems.append(
                Problem(
                    f"ports.{name}",
                    versions.needs_message(feature, spec.version),
                    f"set ports.{name}: null, or target a newer clickhouse_version",
                )
            )
    if spec.tls_ports_open() and spec.tls is None:
        problems.append(
            Problem(
                "tls",
                "a TLS port (https or native_tls) is open but no certificate and key are given",
                "add tls.certificate and tls.private_key, or close ports.https and ports.native_tls",
            )
        )
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
        if user.quota not in spec.quotas and user.quota not in STOCK_QUOTAS:
            problems.append(
                Problem(
                    f"{where}.quota",
                    f"quota {user.quota!r} is not defined",
                    f"define it under quotas, or use one of: {listing(sorted(STOCK_QUOTAS | spec.quotas.keys()))}",
                )
            )

    problems.extend(_auth_checks(spec))
    problems.extend(_masking_checks(spec))
    problems.extend(_log_database_checks(spec))
    problems.extend(cluster_checks(spec))
    problems.extend(lock_checks(spec))
    problems.extend(_surface_checks(spec))
    return problems


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


def _needs(feature: str, spec: HardeningSpec, path: str, fix: str) -> Problem | None:
    if versions.has(spec.version, feature):
        return None
    return Problem(path, versions.needs_message(feature, spec.version), fix)


def _auth_checks(spec: HardeningSpec) -> list[Problem]:
    problems: list[Problem] = []
    if spec.refuse_insecure_auth:
        problem = _needs(
            "refuse_insecure_auth",
            spec,
            "refuse_insecure_auth",
            "set refuse_insecure_auth: null (or false), or target a newer clickhouse_version",
        )
        if problem:
            problems.append(problem)
    top_scram_refused = False
    if spec.password_hash == "scram_sha256":
        problem = _needs(
            "scram_sha256_hash",
            spec,
            "password_hash",
            "set password_hash: auto or sha256, or target a newer clickhouse_version",
        )
        if problem:
            problems.append(problem)
            top_scram_refused = True
    for index, user in enumerate(spec.users):
        where = f"users[{index}]"
        if not user.has_password:
            problem = _needs(
                "ssl_certificate_auth",
                spec,
                f"{where}.certificate_common_name",
                "give the user a password source, or target a newer clickhouse_version",
            )
            if problem:
                problems.append(problem)
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
            problem = _needs(
                "scram_sha256_hash",
                spec,
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


def _masking_checks(spec: HardeningSpec) -> list[Problem]:
    problems: list[Problem] = []
    masking = spec.query_masking
    fix = "remove it (query masking needs 22.8+), or target a newer clickhouse_version"
    if masking.builtin_rules:
        problem = _needs(
            "query_masking_rules",
            spec,
            "query_masking.builtin_rules",
            "set builtin_rules: null, or target a newer clickhouse_version",
        )
        if problem:
            problems.append(problem)
    if masking.rules:
        problem = _needs("query_masking_rules", spec, "query_masking.rules", fix)
        if problem:
            problems.append(problem)
    taken = {name for name, _, _ in BUILTIN_MASKING_RULES}
    for index, rule in enumerate(masking.rules):
        if rule.name in taken:
            problems.append(
                Problem(
                    f"query_masking.rules[{index}].name",
                    f"rule name {rule.name!r} is already used",
                    "give each rule its own name (names starting hardhouse_ are the built-in rules')",
                )
            )
        taken.add(rule.name)
    return problems


def _legacy_column_problems(where: str, db: LogDatabase) -> list[Problem]:
    """Column types 18.16 cannot create (its CREATE TABLE would fail at deploy time)."""
    problems = []
    for table_name, table in db.tables.items():
        for column, text in table.columns.items():
            missing = sorted(families(parse_column_type(text)) - versions.LEGACY_TYPE_FAMILIES)
            if missing:
                problems.append(
                    Problem(
                        f"{where}.tables.{table_name}.columns.{column}",
                        f"ClickHouse 18.16 has no {', '.join(missing)} type",
                        "use a type 18.16 has (String, Int64, UInt64, Float64, Date, DateTime, Decimal, Enum8, "
                        "Array, Nullable, Tuple, UUID, FixedString), or target a newer clickhouse_version",
                    )
                )
    return problems


def _log_database_checks(spec: HardeningSpec) -> list[Problem]:
    problems: list[Problem] = []
    users = {user.name: index for index, user in enumerate(spec.users)}
    grants = versions.has(spec.version, "users_xml_grants")
    restricted: set[str] = set()
    key_files: dict[str, str] = {}
    for db_name, db in spec.log_databases.items():
        where = f"log_databases.{db_name}"
        held: dict[str, str] = {}
        for role, members in db.grantees().items():
            for index, member in enumerate(members):
                path = f"{where}.{role}[{index}]"
                if member not in users:
                    problems.append(
                        Problem(
                            path,
                            f"user {member!r} is not declared",
                            f"declare it under users, or use one of: {listing(sorted(users))}",
                        )
                    )
                    continue
                before = held.get(member)
                if before == role:
                    problems.append(Problem(path, f"user {member!r} is listed twice", "list each user once"))
                elif before is not None and "owners" in (before, role):
                    problems.append(
                        Problem(
                            path,
                            f"user {member!r} is an owner and so already has every right here",
                            f"remove it from {where}.{role if role != 'owners' else before}",
                        )
                    )
                held.setdefault(member, role)
                if role != "owners":
                    restricted.add(member)
        if db.writers and not grants:
            problems.append(
                Problem(
                    f"{where}.writers",
                    versions.needs_message("users_xml_grants", spec.version)
                    + "; before it, a user allowed into a database may also read and drop it",
                    "target a newer clickhouse_version, or remove the writers "
                    "(an owner can write, but also read and drop)",
                )
            )
        if spec.version == versions.LEGACY:
            problems += _legacy_column_problems(where, db)
        if db.retention_days is not None:
            problem = _needs(
                "table_ttl",
                spec,
                f"{where}.retention_days",
                "set retention_days: null (and delete old rows yourself), or target a newer clickhouse_version",
            )
            if problem:
                problems.append(problem)
        if db.encryption is not None:
            problem = _needs(
                "encrypted_disk",
                spec,
                f"{where}.encryption",
                "set encryption: null (encrypt the filesystem instead), or target a newer clickhouse_version",
            )
            if problem:
                problems.append(problem)
            elif db.encryption.key_file is not None:
                first = next(iter(key_files), None)
                if first is not None and key_files[first] != db.encryption.key_file:
                    problems.append(
                        Problem(
                            f"{where}.encryption.key_file",
                            "ClickHouse reads one include file and another log database names a different one",
                            "keep every log database key in the one file "
                            f"log_databases.{first}.encryption.key_file names",
                        )
                    )
                key_files.setdefault(db_name, db.encryption.key_file)
        if not grants:
            for index, reader in enumerate(db.readers):
                user_index = users.get(reader)
                if user_index is not None and not profile_is_read_only(spec, spec.users[user_index].profile):
                    problems.append(
                        Problem(
                            f"{where}.readers[{index}]",
                            f"on ClickHouse {spec.version} only a read-only profile keeps a reader from writing, and "
                            f"users[{user_index}].profile {spec.users[user_index].profile!r} is not read-only",
                            f"set users[{user_index}].profile to readonly (or a profile with readonly: 1), or target a "
                            "newer clickhouse_version",
                        )
                    )
    for index, user in enumerate(spec.users):
        for db_index, database in enumerate(user.databases or []):
            if database in spec.log_databases:
                problems.append(
                    Problem(
                        f"users[{index}].databases[{db_index}]",
                        f"{database!r} is a log database, whose rights are given by role",
                        f"remove it and name the user under log_databases.{database}.readers, writers or owners",
                    )
                )
        if user.name in restricted or user.databases is not None:
            continue
        exposed = [name for name, db in spec.log_databases.items() if user.name not in db.owners]
        if exposed:
            problems.append(
                Problem(
                    f"users[{index}].databases",
                    f"{user.name!r} may use every database, including log database {listing(exposed, quoted=True)}",
                    f"give it a databases allow-list, or name it under log_databases.{exposed[0]}.readers, writers or "
                    "owners",
                )
            )
    return problems


def _surface_checks(spec: HardeningSpec) -> list[Problem]:
    """Issue 12: what the HTTP surface, egress and password policy ask of the target."""
    wanted = [
        (
            bool(spec.egress.remote_url_allow_hosts),
            "remote_url_allow_hosts",
            "egress.remote_url_allow_hosts",
            "remove the hosts (this version has no url()/s3() allow-list), or target a newer clickhouse_version",
        ),
        (
            spec.password_policy.server_side is True,
            "password_policy",
            "password_policy.server_side",
            "set password_policy.server_side: null or false, or target a newer clickhouse_version",
        ),
    ]
    problems = _reader_limit_checks(spec)
    for asked, feature, path, fix in wanted:
        problem = _needs(feature, spec, path, fix) if asked else None
        if problem is not None:
            problems.append(problem)
    return problems


def _reader_limit_checks(spec: HardeningSpec) -> list[Problem]:
    problems: list[Problem] = []
    for db_name, db in spec.log_databases.items():
        for reader, limit in db.reader_limits.items():
            where = f"log_databases.{db_name}.reader_limits.{reader}"
            if reader not in db.readers:
                problems.append(
                    Problem(
                        where,
                        f"{reader!r} is not a reader of {db_name}",
                        f"list it under log_databases.{db_name}.readers",
                    )
                )
            problem = _needs(
                "users_xml_row_filters", spec, where, "remove reader_limits, or target a newer clickhouse_version"
            )
            if problem is not None:
                problems.append(problem)
            visible = limit.tables if limit.tables is not None else list(db.tables)
            for field, names in (("tables", limit.tables or []), ("rows", list(limit.rows))):
                for name in names:
                    if name not in db.tables:
                        problems.append(
                            Problem(
                                f"{where}.{field}",
                                f"table {name!r} is not declared in {db_name}",
                                f"use one of: {listing(db.tables)}",
                            )
                        )
                    elif field == "rows" and name not in visible:
                        problems.append(
                            Problem(
                                f"{where}.rows",
                                f"table {name!r} is not among the reader's tables",
                                "add it to tables, or drop its filter",
                            )
                        )
    return problems
