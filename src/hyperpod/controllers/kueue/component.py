"""The Kueue add-on as a control-plane component: CRDs, admission hooks, controllers."""

from __future__ import annotations

import asyncio

from hyperpod.api import hyperpod_job as hpj
from hyperpod.api import kueue as api
from hyperpod.api import pytorchjob as ptj
from hyperpod.controllers.kueue import hyperpod_jobs
from hyperpod.controllers.kueue.batchjobs import BatchJobIntegration, default_batch_job
from hyperpod.controllers.kueue.jobs import JobIntegration, default_job
from hyperpod.controllers.kueue.manager import KueueManager
from hyperpod.runtime.context import Component, ControlPlaneContext

KINDS = (
    "resourceflavors",
    "clusterqueues",
    "localqueues",
    "workloads",
    "workloadpriorityclasses",
    "cohorts",
)


async def start(ctx: ControlPlaneContext) -> None:
    mgr = KueueManager(ctx.reg, ctx.config.kueue)
    ctx.services["kueue"] = mgr
    jobs = JobIntegration(mgr)
    batch_jobs = BatchJobIntegration(mgr)
    hp_jobs = hyperpod_jobs.HyperPodJobIntegration(mgr)
    await asyncio.gather(
        mgr.run(ctx.stopping),
        jobs.run(ctx.stopping),
        batch_jobs.run(ctx.stopping),
        hp_jobs.run(ctx.stopping),
    )


def kueue() -> Component:
    admission: dict[str, tuple[object, object]] = {
        f"{plural}.{api.GROUP}": (api.default, api.validate) for plural in KINDS
    }
    admission[ptj.RESOURCE] = (default_job, None)
    admission["jobs.batch"] = (default_batch_job, None)
    admission[hpj.RESOURCE] = (hyperpod_jobs.default_job, None)
    return Component(
        name="kueue",
        crds=api.crds,
        admission=admission,  # type: ignore[arg-type]
        start=start,
        addon="kueue",
    )
