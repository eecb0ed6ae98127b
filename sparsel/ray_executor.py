"""Run sweep groups as Ray tasks (``sparsel run ... --executor ray [--address ...]``).

Each group is one task, with one GPU where the cluster has GPUs. Results come back to the
driver, which alone writes the store (``sweep.run_cells``), as each task finishes. A task
whose worker dies is retried by Ray (``max_retries``), so a lost worker costs only its group.
Ray is an optional extra: ``pip install 'sparsel[ray]'``.
"""
from __future__ import annotations

import os


def _default_task(specs, device, root, use_engine):
    from .sweep import train_group
    return train_group(specs, device, root, use_engine)


def run_groups(groups, address=None, device="auto", root=None, use_engine=True, max_retries=3, task=None):
    """Yield (group, its list of RunResults) as each task finishes (in completion order)."""
    try:
        import ray
    except ImportError as err:
        raise RuntimeError("--executor ray needs Ray: pip install 'sparsel[ray]' (or ray[default])") from err
    if not ray.is_initialized():
        env = {k: v for k, v in os.environ.items() if k in ("SPARSEL_DATA",)}
        ray.init(address=address, runtime_env={"env_vars": env} if env else None,
                 log_to_driver=False, include_dashboard=False)
    gpus = ray.cluster_resources().get("GPU", 0)
    remote = ray.remote(num_gpus=1 if gpus else 0, max_retries=max_retries)(task or _default_task)
    # "auto" lets each worker pick its own device (the GPU Ray assigned it, else the CPU).
    pending = {remote.remote(g, device, root, use_engine): g for g in groups}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        group = pending.pop(done[0])
        yield group, ray.get(done[0])
