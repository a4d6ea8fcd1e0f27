"""A logged-in native TLS session that carries a password only to a verified server.

Used by the deploy's steps that act as a user from the deploy machine (creating the log
databases as an owner, proving a reader's and a writer's rights): clickhouse-driver over
native TLS, the server's certificate checked against the operator's CA and the address it is
served on before the password is sent. Works against 18.16 and modern servers alike.

Errors come back as ServerError (ClickHouse answered with a code) or Unreachable (no
answer, or a certificate that does not validate); neither ever holds the password.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Any

# clickhouse-driver logs a failed connect with its traceback; Unreachable already says why.
logging.getLogger("clickhouse_driver.connection").setLevel(logging.CRITICAL)

CONNECT_TIMEOUT = 10.0
QUERY_TIMEOUT = 120.0  # an ALTER on a large table answers once its metadata changed


class ServerError(Exception):
    """ClickHouse refused a query (or the login) with an error code."""

    def __init__(self, code: int, message: str):
        super().__init__(f"Code: {code}. {message}")
        self.code = code
        self.message = message


class Unreachable(Exception):
    """No session: the server did not answer, or its certificate did not validate."""


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


class Session:
    """One user's session on address:port over TLS; use as a context manager."""

    def __init__(
        self, address: str, port: int, user: str, password: str, ca: Path, query_timeout: float = QUERY_TIMEOUT
    ):
        from hardhouse.clickhouse.driver import Client  # imported late: only the steps that log in need it
        from hardhouse.verifying_tls import verifying_context

        self.endpoint = f"{address}:{port}"
        self.user = user
        # verify + ca_certs + check_hostname (the driver's default): the certificate must chain to
        # `ca` and name `address`, checked in the TLS handshake, before the Hello carries the password.
        self._client = Client(
            address,
            port=port,
            user=user,
            password=password,
            secure=True,
            verify=True,
            ca_certs=str(ca),
            connect_timeout=CONNECT_TIMEOUT,
            send_receive_timeout=query_timeout,
        )
        # The driver makes a TLS context per connection with the same checks (the CA, the name);
        # hardhouse's, one per CA file's content (hardhouse.verifying_tls), spares a proof the
        # CA's parse on each. A driver without this hook makes its own, as before.
        self._client.connection._create_ssl_context = lambda _options: verifying_context(ca)

    def rows(self, query: str, settings: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The query's rows as {column: value}."""
        data, columns = self._run(query, settings, with_column_types=True)
        names = [name for name, _ in columns]
        return [dict(zip(names, row, strict=True)) for row in data]

    def execute(self, query: str, settings: dict[str, Any] | None = None) -> None:
        self._run(query, settings)

    def _run(self, query: str, settings: dict[str, Any] | None, **kwargs: Any) -> Any:
        from hardhouse.clickhouse.driver import errors

        try:
            return self._client.execute(query, settings=settings, **kwargs)
        except errors.ServerException as error:
            raise ServerError(int(error.code), _first_line(error.message)) from None
        except errors.Error as error:  # network and TLS failures (the driver wraps OSError/SSLError)
            raise Unreachable(f"{self.endpoint}: {_first_line(str(error))}") from None
        except OSError as error:
            raise Unreachable(f"{self.endpoint}: {error}") from None

    def close(self) -> None:
        self._client.disconnect()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
