"""What the deploy asks its helper child (hardhouse.deploy.service), typed: the deploy builds
each request here and sends its body; the handler in the child reads the body back with
`from_body`, which refuses one with a missing, unknown or mistyped field by name. Light on
purpose (no spec model, no clients): the deploy's own process imports it.

    outside    hardhouse.verify.checks.answer       the checks that need no secret
    verify     hardhouse.verify.deployment.answer   the full verification, logins included
    provision  hardhouse.provision.apply.answer     the log databases, planned or applied
    proof      hardhouse.deploy.proof_answer.answer the plan, then the verification when the
                                                    plan changes nothing (asked once the audit passed)

No request carries a secret: the child reads passwords where the spec names them."""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import IO, Any, Literal

from hardhouse.childproc import MAX_REQUEST, Refused
from hardhouse.clickhouse.ports import BY_NAME


def _text_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


class _Body:
    """A request's body: the dataclass's fields as a JSON object, and back."""

    KIND = ""

    def body(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload,no-any-return]

    @classmethod
    def from_json(cls, stream: IO[str]) -> Any:
        """A request's body read from a stream (the answering modules' `python -m` entry points),
        at most MAX_REQUEST characters."""
        text = stream.read(MAX_REQUEST + 1)
        if len(text) > MAX_REQUEST:
            raise Refused(f"the {cls.KIND} request is longer than {MAX_REQUEST} characters")
        try:
            body = json.loads(text)
        except ValueError:
            raise Refused(f"the {cls.KIND} request is not JSON") from None
        return cls.from_body(body)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Any:
        if not isinstance(body, dict):
            raise Refused(f"the {cls.KIND} request is not a JSON object")
        declared = fields(cls)  # type: ignore[arg-type]
        names = {f.name for f in declared}
        required = {f.name for f in declared if f.default is MISSING}
        unknown, missing = sorted(set(body) - names), sorted(required - set(body))
        if unknown or missing:
            raise Refused(f"the {cls.KIND} request has fields {sorted(names)}; unknown {unknown}, missing {missing}")
        request = cls(**body)
        request.check()
        return request

    def check(self) -> None:
        raise NotImplementedError

    @property
    def ca_path(self) -> Path | None:
        ca: str | None = self.ca
        return Path(ca) if ca else None


@dataclass(frozen=True)
class OutsideRequest(_Body):
    """The checks that need no secret, against the open ports of a spec the deploy validated."""

    KIND = "outside"
    address: str
    ports: dict[str, int]  # spec port name -> number
    ca: str | None = None

    def check(self) -> None:
        if not isinstance(self.address, str) or not isinstance(self.ports, dict) or not _text_or_none(self.ca):
            raise Refused("an outside request is {address: text, ports: {name: number}, ca: text | null}")
        for name, number in self.ports.items():
            if name not in BY_NAME or isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 65536:
                raise Refused(f"ports: {name!r}: {number!r} is not a spec port and its number")


@dataclass(frozen=True)
class VerifyRequest(_Body):
    """The full verification of one host (the spec as host data gave it; loaded in the child)."""

    KIND = "verify"
    spec: dict[str, Any]
    address: str
    ca: str | None = None

    def check(self) -> None:
        if not isinstance(self.spec, dict) or not isinstance(self.address, str) or not _text_or_none(self.ca):
            raise Refused("a verify request is {spec: object, address: text, ca: text | null}")


@dataclass(frozen=True)
class ScanRequest(_Body):
    """One host's log tables scanned for secrets at rest (hardhouse.scan.deployment)."""

    KIND = "scan"
    spec: dict[str, Any]
    address: str
    ca: str | None = None

    def check(self) -> None:
        if not isinstance(self.spec, dict) or not isinstance(self.address, str) or not _text_or_none(self.ca):
            raise Refused("a scan request is {spec: object, address: text, ca: text | null}")


@dataclass(frozen=True)
class ProvisionRequest(_Body):
    """One host's log databases, planned or applied."""

    KIND = "provision"
    spec: dict[str, Any]
    address: str
    ca: str | None = None
    mode: Literal["plan", "apply"] = "plan"
    rewrite_stored: bool = False  # rewrite rows a redacted table stored before its redaction

    def check(self) -> None:
        if not isinstance(self.spec, dict) or not isinstance(self.address, str) or not _text_or_none(self.ca):
            raise Refused("a provision request is {spec: object, address: text, ca: text | null, mode: plan | apply}")
        if not isinstance(self.rewrite_stored, bool):
            raise Refused("rewrite_stored: give true or false")
        if self.mode not in ("plan", "apply"):
            raise Refused(f"mode: {self.mode!r} is not plan or apply")


@dataclass(frozen=True)
class ProofRequest(_Body):
    """One host's proof, asked for as soon as its audit after going live passed: its log
    databases planned (plan), then, when that plan changes nothing, its full verification
    (verify). The answer is {"plan": provision answer | null, "verify": verify answer | null}."""

    KIND = "proof"
    spec: dict[str, Any]
    address: str
    ca: str | None = None
    plan: bool = True
    verify: bool = True
    rewrite_stored: bool = False

    def check(self) -> None:
        if not isinstance(self.spec, dict) or not isinstance(self.address, str) or not _text_or_none(self.ca):
            raise Refused("a proof request is {spec: object, address: text, ca: text | null, plan, verify: bool}")
        if not all(isinstance(flag, bool) for flag in (self.plan, self.verify, self.rewrite_stored)):
            raise Refused("plan, verify and rewrite_stored: give true or false")


def plan_changes(answer: dict[str, Any]) -> bool:
    """Whether a provision plan's answer would change anything on the server."""
    return any(str(outcome.get("outcome", "")).startswith("would") for outcome in answer.get("outcomes", []))
