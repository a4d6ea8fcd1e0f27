"""The helper child's side of a proof request (hardhouse.helper_requests.ProofRequest): one
host's log databases planned and, when the plan changes nothing, its full verification, as
one answer. The deploy asks for it as soon as the host's audit passed
(hardhouse.deploy.early_proof), so the proof runs while pyinfra audits the other hosts; the
plan and the checks are the very ones the provisioning and verification steps ask for."""

from __future__ import annotations

from typing import Any

from hardhouse.helper_requests import ProofRequest, ProvisionRequest, VerifyRequest, plan_changes
from hardhouse.provision import apply
from hardhouse.verify import deployment


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """Kind "proof" -> {"plan": the provision plan's answer | None, "verify": the verification's
    answer | None (not asked for, or the plan would change the server: the steps then apply
    and verify in order)}."""
    request = ProofRequest.from_body(body)
    planned = None
    if request.plan:
        planned = apply.answer(
            ProvisionRequest(request.spec, request.address, request.ca, "plan", request.rewrite_stored).body()
        )
        if not planned.get("ok") or plan_changes(planned):
            return {"plan": planned, "verify": None}
    if not request.verify:
        return {"plan": planned, "verify": None}
    verified = deployment.answer(VerifyRequest(request.spec, request.address, request.ca).body())
    return {"plan": planned, "verify": verified}
