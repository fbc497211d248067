"""Ray start-up: a local runtime sized to this machine, or an existing cluster when given an address."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def init_ray(address: str | None = None, num_cpus: int | None = None, for_training: bool = False) -> None:
    """Start (or join) Ray once per process.

    `address` (or RAY_ADDRESS) joins a running cluster; otherwise a local runtime starts without the
    dashboard (it costs memory and start-up time and nobody looks at it in a batch job). `for_training`
    adds a worker set-up hook that quiets Ray Train's dashboard-less warnings; it costs ~1 s of actor
    start-up, so the data stages go without it.
    """
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        log.info("joining Ray cluster at %s", address)
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(
            num_cpus=num_cpus or os.cpu_count(),
            include_dashboard=False,
            runtime_env={"worker_process_setup_hook": "pipeline.runtime.quiet_worker_logs"} if for_training else None,
            log_to_driver=True,
            configure_logging=False,
        )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # our own per-image bar and per-shard logs are the progress
    ctx.max_errored_blocks = 0  # a lost block would be lost rows: fail loudly instead
    ctx.print_on_execution_start = False


def cluster_cpus() -> float:
    import ray

    return float(ray.cluster_resources().get("CPU", 1))


def cluster_gpus() -> int:
    """GPUs Ray can schedule. Asking for num_gpus on a GPU-less cluster would wait, not fail (NOTES)."""
    import ray

    return int(ray.cluster_resources().get("GPU", 0))


def actor_pool(requested: int, actor_cpus: float, gpus: int) -> tuple[int, dict]:
    """(pool size, per-actor resources) for a model stage.

    With GPUs: one actor per GPU. On CPUs: one actor per CPU by default, each asking for a fraction of a
    CPU so Ray's read/decode tasks still get scheduled (two num_cpus=1 actors on 2 CPUs deadlock).
    """
    if gpus > 0:
        return (requested or gpus), {"num_gpus": 1, "num_cpus": actor_cpus}
    size = requested or max(1, int(cluster_cpus()))
    return size, {"num_cpus": actor_cpus}


def node_cpus() -> list[float]:
    """CPUs of each alive node (an actor's threads must fit on one node, not on the cluster's sum)."""
    import ray

    return [float(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]


def threaded_pool(requested: int, threads: int, cpus_per_thread: float, nodes: list[float]) -> tuple[int, int]:
    """(actors, threads per actor) for a CPU stage whose actors run `threads` threads over one model.

    Threads are capped by the largest node; by default there are as many actors as fit on the nodes, so
    every CPU gets one thread (asking for 4 threads on a 2-CPU machine gives one actor of two)."""
    biggest = max(nodes, default=1.0)
    threads = max(1, min(threads, int(biggest / cpus_per_thread) or 1))
    fit = sum(int(c // (threads * cpus_per_thread)) for c in nodes)
    return requested or max(1, fit), threads


def quiet_worker_logs() -> None:
    """Runs in every local Ray worker. Without the dashboard, Ray Train's placement-group cleaner cannot
    reach the state API and warns every few seconds; the cleanup it guards still happens at shutdown."""
    logging.getLogger("ray.train.v2._internal.execution.controller.placement_group_cleaner").setLevel(logging.ERROR)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
