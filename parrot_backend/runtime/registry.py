"""The programs of every tenant: submission with limits, lookup, and forgetting old ones."""

from __future__ import annotations

import time
from collections import OrderedDict

from parrot_backend.errors import NotFoundError, TooManyRequestsError
from parrot_backend.program.model import Program
from parrot_backend.program.validate import Limits, validate_program
from parrot_backend.runtime.program_run import ProgramRun
from parrot_backend.runtime.scheduler import Scheduler


class ProgramRegistry:
    """Programs by id, visible only to the tenant that submitted them."""

    def __init__(self, scheduler: Scheduler, limits: Limits, *, keep_finished_s: float = 3600.0) -> None:
        self._scheduler = scheduler
        self.limits = limits
        self._keep_finished_s = keep_finished_s
        self._runs: OrderedDict[str, ProgramRun] = OrderedDict()

    def submit(self, program: Program, tenant: str, cache_namespace: str | None = None) -> ProgramRun:
        """Validate and start a program (:class:`ProgramError` or 429 if it cannot run).

        ``cache_namespace`` keeps the program's prompts in a prefix cache of their own on the
        engines (the tenant, when the backend has several).
        """
        validate_program(program, self.limits)
        self._forget_old()
        running = sum(1 for run in self._runs.values() if run.tenant == tenant and run.state == "running")
        if running >= self.limits.max_programs_per_tenant:
            raise TooManyRequestsError(
                f"{running} programs of yours are running; the limit is {self.limits.max_programs_per_tenant}. "
                "Wait for some to finish or cancel them."
            )
        run = ProgramRun(program, tenant, self._scheduler, cache_namespace)
        self._runs[run.id] = run
        run.start()
        return run

    def get(self, program_id: str, tenant: str) -> ProgramRun:
        """The tenant's program; another tenant's id is as unknown as a made-up one."""
        run = self._runs.get(program_id)
        if run is None or run.tenant != tenant:
            raise NotFoundError(f"no program {program_id!r}")
        return run

    def runs(self) -> list[ProgramRun]:
        return list(self._runs.values())

    async def cancel_all(self) -> None:
        for run in list(self._runs.values()):
            await run.cancel()

    def _forget_old(self) -> None:
        horizon = time.time() - self._keep_finished_s
        for program_id, run in list(self._runs.items()):
            if run.finished_at is not None and run.finished_at < horizon:
                del self._runs[program_id]
