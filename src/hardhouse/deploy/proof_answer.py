"""The helper child's side of a proof request (hardhouse.helper_requests.ProofRequest): one
host's log databases planned and, when the plan changes nothing, its full verification, as
one answer. The deploy asks for it as soon as the host's audit passed
(hardhouse.deploy.early_proof), so the proof runs while pyinfra audits the other hosts; the
plan and the checks are the very ones the provisioning and verification steps ask for.

The verification runs beside the plan (it needs nothing the plan makes, and the plan is a
chain of round trips the proof would otherwise wait for) and is answered only when the plan
changes nothing: a plan that would change the server is applied by the provisioning step,
and the verification step then checks the changed server again."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hardhouse.helper_requests import ProofRequest, ProvisionRequest, VerifyRequest, plan_changes
from hardhouse.provision import apply
from hardhouse.verify import deployment


def _plan(request: ProofRequest) -> dict[str, Any]:
    body = ProvisionRequest(request.spec, request.address, request.ca, "plan", request.rewrite_stored).body()
    return apply.answer(body)


def _verify(request: ProofRequest) -> dict[str, Any]:
    return deployment.answer(VerifyRequest(request.spec, request.address, request.ca).body())


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """Kind "proof" -> {"plan": the provision plan's answer | None, "verify": the verification's
    answer | None (not asked for, or the plan would change the server: the steps then apply
    and verify in order)}."""
    request = ProofRequest.from_body(body)
    if not request.plan:
        return {"plan": None, "verify": _verify(request) if request.verify else None}
    if not request.verify:
        return {"plan": _plan(request), "verify": None}
    with ThreadPoolExecutor(max_workers=1) as pool:
        verifying = pool.submit(_verify, request)
        planned = _plan(request)
        verified = verifying.result()
    if not planned.get("ok") or plan_changes(planned):
        return {"plan": planned, "verify": None}
    return {"plan": planned, "verify": verified}
