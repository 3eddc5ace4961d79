"""The log's signed checkpoint and its proofs (auditor and admin keys): how an outsider checks that an event is
in the log and that today's log extends the one a saved checkpoint describes (README, "Checkpoints")."""

from fastapi import APIRouter, Request, Response
from pydantic import Field

from jobstore.adapters.core.access import Permission
from jobstore.adapters.http.common import (
    ERROR_RESPONSES,
    JSONResponse,
    QueryModel,
    core_of,
    documented,
    parse_query,
    permitted,
    success,
)

router = APIRouter(tags=["Audit"], responses=ERROR_RESPONSES)
HASHES = ({"type": "array", "items": {"type": "string", "format": "byte"},
           "description": "SHA-256 hashes in standard base64, in RFC 9162's order"}, True)
NOTE_MEDIA_TYPE = "text/plain; charset=utf-8"


# Ranges are the core's to check (adapters/transparency.py), so that both transports say the same.
class InclusionQuery(QueryModel):
    position: int = Field(description="the event's position in the log (1 or more)")
    tree_size: int | None = Field(None, alias="treeSize",
                                  description="the tree (of a checkpoint) to prove it in; default: the current one")


class ConsistencyQuery(QueryModel):
    old_size: int = Field(alias="from", description="the older tree's size (1 or more)")
    new_size: int | None = Field(None, alias="to", description="the newer tree's size; default: the current tree's")


@router.get("/v1/log/checkpoint", summary="The log's signed checkpoint (C2SP tlog-checkpoint, signed note)",
            response_class=Response,
            responses={200: {"description": "origin, tree size and base64 root hash, an empty line, and the "
                                            "Ed25519 signature line", "content": {"text/plain": {
                                                "schema": {"type": "string"}}}}})
async def checkpoint(request: Request) -> Response:
    principal = await permitted(request, Permission.AUDIT)
    return Response(await core_of(request).log.checkpoint(principal), media_type=NOTE_MEDIA_TYPE)


@router.get("/v1/log/proof/inclusion", summary="Proof that an event is in the log's tree (RFC 9162)",
            openapi_extra=documented(InclusionQuery),
            responses=success("The audit path from the event's leaf to the tree's root",
                              leafIndex=({"type": "integer", "description": "events before it in the log"}, True),
                              treeSize=({"type": "integer"}, True),
                              leafHash=({"type": "string", "format": "byte"}, True), hashes=HASHES))
async def inclusion_proof(request: Request) -> JSONResponse:
    principal = await permitted(request, Permission.AUDIT)
    query = parse_query(request.query_params, InclusionQuery)
    proof = await core_of(request).log.inclusion(principal, query.position, query.tree_size)
    return JSONResponse(proof.wire())


@router.get("/v1/log/proof/consistency", summary="Proof that the log's tree extends an older one (RFC 9162)",
            openapi_extra=documented(ConsistencyQuery),
            responses=success("The consistency proof between the two sizes", hashes=HASHES,
                              **{"from": ({"type": "integer"}, True), "to": ({"type": "integer"}, True)}))
async def consistency_proof(request: Request) -> JSONResponse:
    principal = await permitted(request, Permission.AUDIT)
    query = parse_query(request.query_params, ConsistencyQuery)
    proof = await core_of(request).log.consistency(principal, query.old_size, query.new_size)
    return JSONResponse(proof.wire())
