"""The log's checkpoints and proofs as the transports serve them (auditor and admin keys)."""
from __future__ import annotations

from anyio import to_thread

from jobstore.adapters.core.access import Permission, Principal, authorize
from jobstore.adapters.runtime import Services
from jobstore.adapters.transparency import ConsistencyProof, InclusionProof


class LogProofs:
    def __init__(self, services: Services) -> None:
        self.log = services.transparency

    async def checkpoint(self, principal: Principal) -> str:
        authorize(principal, Permission.AUDIT)
        return await to_thread.run_sync(self.log.checkpoint)

    async def inclusion(self, principal: Principal, position: int, tree_size: int | None) -> InclusionProof:
        authorize(principal, Permission.AUDIT)
        return await to_thread.run_sync(self.log.inclusion, position, tree_size)

    async def consistency(self, principal: Principal, old_size: int, new_size: int | None) -> ConsistencyProof:
        authorize(principal, Permission.AUDIT)
        return await to_thread.run_sync(self.log.consistency, old_size, new_size)
