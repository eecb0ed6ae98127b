"""Run a list of cells through the store: skip what is done, train the rest, store each run.

Runs are deduplicated by spec key (one baseline run serves every experiment that contains
it), packed into groups that the stacked engine trains together, and stored group by
group as they finish, so an interrupted sweep resumes with nothing finished lost. The
executor is where groups train: 'local' (this process) or 'ray' (tasks on a Ray cluster;
results come back here, the only writer of the store).
"""
from __future__ import annotations

import math
import statistics

from tqdm.auto import tqdm

from . import engine
from .store import Store
from .train import resolve_device, train_run


def unique_specs(cells) -> list:
    seen, out = set(), []
    for c in cells:
        if c.spec.key not in seen:
            seen.add(c.spec.key)
            out.append(c.spec)
    return out


def train_group(specs, device="auto", root=None, use_engine=True, on_epoch=None) -> list:
    """Train one group of specs; returns their RunResults (the unit of work of every executor)."""
    device = resolve_device(device)
    if use_engine and engine.supports(specs[0]):
        return engine.train_group(specs, device=device, root=root, on_epoch=on_epoch)
    results = []
    for s in specs:
        results.append(train_run(s, device=device, root=root,
                                 on_epoch=(lambda e: on_epoch(1)) if on_epoch else None))
    return results


def run_cells(cells, store: Store | None = None, device="auto", root=None, use_engine=True,
              executor="local", address=None, progress=True, max_group=None) -> dict:
    """Make sure every cell's run is in ``store``; returns counts (total, cached, trained, diverged)."""
    store = store or Store()
    specs = unique_specs(cells)
    done = store.done_keys()
    todo = [s for s in specs if s.key not in done]
    stats = dict(total=len(specs), cached=len(specs) - len(todo), trained=0, diverged=0)
    if not todo:
        return stats
    dev = resolve_device(device)
    groups = engine.plan_groups(todo, dev, max_group=max_group) if use_engine else [[s] for s in todo]
    bar = tqdm(total=sum(s.epochs for s in todo), unit="run-epoch", disable=not progress,
               desc=f"training {len(todo)} runs on {dev}")

    def keep(results):
        for r in results:
            store.put(r)
            stats["trained"] += 1
            stats["diverged"] += int(r.diverged)

    try:
        if executor == "local":
            for g in groups:
                keep(train_group(g, dev, root, use_engine, on_epoch=bar.update))
        elif executor == "ray":
            from .ray_executor import run_groups
            for results in run_groups(groups, address=address, device=str(device), root=root,
                                      use_engine=use_engine):
                keep(results)
                bar.update(sum(r.spec.epochs for r in results))
        else:
            raise ValueError(f"unknown executor {executor!r}; choose local or ray")
    finally:
        bar.close()
    return stats


def status(cells, store: Store) -> dict:
    """Done / missing / diverged counts of ``cells`` and an estimate of the remaining seconds.

    The estimate is (steps left) x (median seconds per step of stored runs like the missing
    one: same model, data size and batch size, else same model and data size, else 0.5 ms).
    """
    specs = unique_specs(cells)
    runs = store.runs([s.key for s in specs])
    done = set(runs.key)
    diverged = set(runs.key[runs.diverged == 1])
    every = store.runs()
    rates = {}
    for _, r in every.iterrows():
        n = int(r.train_size) if r.train_size == r.train_size and r.train_size else 0
        per_step = r.seconds / (max(1, math.ceil((n or 60_000) / int(r.batch_size))) * r.epochs)
        rates.setdefault((r.model, n, int(r.batch_size)), []).append(per_step)
        rates.setdefault((r.model, n), []).append(per_step)
    missing = [s for s in specs if s.key not in done]
    eta = 0.0
    for s in missing:
        n = s.train_size or 0
        per = rates.get((s.model, n, s.batch_size)) or rates.get((s.model, n)) or [5e-4]
        eta += statistics.median(per) * s.steps_per_epoch * s.epochs
    return dict(cells=len(cells), runs=len(specs), done=len(done), missing=len(missing),
                diverged=len(diverged), eta_seconds=round(eta, 1),
                missing_keys=[s.key for s in missing])
