"""Run a list of cells through the store: skip what is done, train the rest, store each run.

Runs are deduplicated by spec key (one baseline run serves every experiment that contains
it), packed into groups that the stacked engine trains together, and stored group by
group as they finish, so an interrupted sweep resumes with nothing finished lost. The
executor is where groups train: 'local' (this process), 'processes' (spawned workers), 'auto'
(long groups on one process per CPU core) or 'ray' (tasks on a Ray cluster); results come
back here, the only writer of the store.
"""
from __future__ import annotations

import json
import math
import statistics
import time

from tqdm.auto import tqdm

from . import engine
from .spec import RunSpec, SpecError
from .store import Store
from .train import resolve_device, train_run


def unique_specs(cells) -> list:
    seen, out = set(), []
    for c in cells:
        if c.spec.key not in seen:
            seen.add(c.spec.key)
            out.append(c.spec)
    return out


def train_group(specs, device="auto", root=None, use_engine=True, on_epoch=None, checkpoint_dir=None,
                deadline=None) -> list:
    """Train one group of specs; returns their RunResults (the unit of work of every executor)."""
    device = resolve_device(device)
    if use_engine and engine.supports(specs[0]):
        return engine.train_group(specs, device=device, root=root, on_epoch=on_epoch,
                                  checkpoint_dir=checkpoint_dir, deadline=deadline)
    results = []
    for s in specs:
        if deadline is not None and time.time() > deadline:
            raise engine.Stopped("time budget reached")
        if engine.stop_requested():
            raise engine.Stopped("stop requested")
        results.append(train_run(s, device=device, root=root,
                                 on_epoch=(lambda e: on_epoch(1)) if on_epoch else None))
    return results


def checkpoint_dir(store: Store):
    """Where a store's unfinished groups keep their per-epoch checkpoints."""
    return store.path.with_name(store.path.name + ".ckpt")


def run_cells(cells, store: Store | None = None, device="auto", root=None, use_engine=True,
              executor="local", address=None, progress=True, max_group=None, workers=1,
              deadline=None, log=None, recompute=(), rank=None) -> dict:
    """Make sure every cell's run is in ``store``; returns counts (total, cached, trained,
    diverged, stopped).

    ``executor``: 'local' (this process), 'processes' (``workers`` processes on disjoint
    groups; on one GPU they overlap each other's kernel launches), 'ray', or 'auto'. On a CPU
    with several cores, 'auto' trains the long groups (compiled engine stacks, runs of the
    reference loop such as the CNN and forgetting) on one single-thread process per core, as
    many at a time as there are such groups and cores, and short groups here. Two one-thread
    stacks on a 2-core CPU do 1.4-1.6x the work of one two-thread stack at batch 1 and about
    1.2x at batch 50 (``sparsel bench``); the reference loop gains 1.7x. A lone long group
    trains here on every core. On a GPU 'auto' is 'local'.
    ``deadline`` (a ``time.time()``): start no group after it, and stop running engine stacks
    at an epoch boundary, where their checkpoints keep the work for the next call. A run of
    the reference loop has no checkpoint: one in flight finishes (or a signal loses it).
    A group stopped with a checkpoint resumes as it was, even where the cells asked now would
    stack its runs otherwise; checkpoints of runs stored since (by another machine) are removed.
    ``log(message)``: called as each group is stored. ``recompute``: keys to train again
    although they are stored (e.g. ``other_code_keys``); the new run replaces the stored one.
    ``rank(cell)``: a sort key (smaller first); given, the groups start in the order of their
    cells' smallest rank and, within a rank, longest first (``estimator``'s seconds from the
    runs in ``store``): workers that take the longest groups first finish together, where in
    grid order the last one started (a 2,048-unit Adam run at batch 1: an hour) keeps one core
    busy long after the others are idle. Groups that resume from a checkpoint start first.
    """
    store = store or Store()
    specs = unique_specs(cells)
    recompute = set(recompute)
    done = store.done_keys() - recompute
    todo = [s for s in specs if s.key not in done]
    stats = dict(total=len(specs), cached=len(specs) - len(todo), trained=0, diverged=0, stopped=0)
    ckpt = checkpoint_dir(store)
    for keys in engine.checkpointed_groups(ckpt):  # orphans: runs stored since by other means
        if all(k in done for k in keys):
            engine.drop_checkpoint(keys, ckpt)
    if not todo:
        return stats
    dev = resolve_device(device)
    groups = _plan(todo, dev, max_group, ckpt) if use_engine else [[s] for s in todo]
    if rank is not None:
        groups = _longest_first(groups, cells, rank, estimator(store, dev.type), ckpt)
    bar = tqdm(total=sum(s.epochs for s in todo), unit="run-epoch", disable=not progress,
               desc=f"training {len(todo)} runs on {dev}")

    def keep(group, results):
        for r in results:
            store.put(r, replace=r.spec.key in recompute)
            stats["trained"] += 1
            stats["diverged"] += int(r.diverged)
        engine.drop_checkpoint(group, ckpt)
        if log:
            s = group[0]
            orders = ", ".join(dict.fromkeys(o.order + ("" if o.order in ("shuffled", "sorted") else f" k={o.order_k}")
                                             for o in group))
            log(f"stored {len(group)} runs ({s.model} {'x'.join(map(str, s.hidden))}, batch {s.batch_size}, "
                f"{orders}, {s.epochs} epochs) "
                f"in {sum(r.seconds for r in results):.0f} s; {stats['trained']} of {len(todo)} done")

    with store.writer_lock():
        try:
            if executor == "auto":
                long_ = [_worth_a_process(g, dev, use_engine) for g in groups]
                far = [g for g, x in zip(groups, long_) if x]
                n = auto_workers(dev, len(far))
                here = groups if n == 1 else [g for g, x in zip(groups, long_) if not x]
                _run_local(here, keep, bar, stats, dev, root, use_engine, ckpt, deadline)
                if n > 1 and deadline is not None and time.time() > deadline:  # spawn nothing only to stop it
                    stats["stopped"] += sum(len(g) for g in far)
                elif n > 1:
                    _run_processes(far, keep, bar, stats, str(dev), root, use_engine, n, ckpt, deadline)
            elif executor == "local":
                _run_local(groups, keep, bar, stats, dev, root, use_engine, ckpt, deadline)
            elif executor == "processes":
                _run_processes(groups, keep, bar, stats, str(dev), root, use_engine, workers, ckpt, deadline)
            elif executor == "ray":
                from .ray_executor import run_groups
                for g, results in run_groups(groups, address=address, device=str(device), root=root,
                                             use_engine=use_engine):
                    keep(g, results)
                    bar.update(sum(r.spec.epochs for r in results))
            else:
                raise ValueError(f"unknown executor {executor!r}; choose auto, local, processes or ray")
        finally:
            bar.close()
    return stats


def _plan(todo, device, max_group, ckpt) -> list:
    """Groups for ``todo``: first each checkpointed group all of whose runs are still to do,
    exactly as it was (another selection of cells would group its runs otherwise, and the
    hours in its checkpoint would be lost), then ``engine.plan_groups`` of the rest."""
    by_key = {s.key: s for s in todo}
    kept, taken = [], set()
    for keys in engine.checkpointed_groups(ckpt):
        if all(k in by_key and k not in taken for k in keys):
            kept.append([by_key[k] for k in keys])
            taken.update(keys)
    return kept + engine.plan_groups([s for s in todo if s.key not in taken], device, max_group=max_group)


def _longest_first(groups, cells, rank, estimate, ckpt) -> list:
    """``groups`` by (their cells' smallest ``rank``, longest first), those with a checkpoint
    first, oldest first (as ``_plan`` put them). ``rank``'s values must compare with each other."""
    best = {}
    for c in cells:
        r = rank(c)
        best[c.spec.key] = min(best.get(c.spec.key, r), r)
    kept = [frozenset(keys) for keys in engine.checkpointed_groups(ckpt)]

    def order(g):
        keys = frozenset(s.key for s in g)
        if keys in kept:
            return (0, kept.index(keys))
        return (1, min(best[s.key] for s in g), -sum(estimate(s)[0] for s in g))
    return sorted(groups, key=order)


def auto_workers(device, n_groups: int) -> int:
    """Processes for ``n_groups`` long groups under ``executor='auto'``: one per core on a CPU
    (at most one per group), else 1 (this process, with every core)."""
    import torch
    if torch.device(device).type != "cpu" or n_groups < 2:
        return 1
    return max(1, min(_cores(), n_groups))


def _worth_a_process(group, device, use_engine) -> bool:
    """Whether ``group`` is long enough that a process of its own pays under 'auto': a run of
    the reference loop, or an engine stack long enough to compile (``engine.use_compile``:
    every full-scale stack, no smoke one, whose seconds a process start would outweigh)."""
    if not (use_engine and engine.supports(group[0])):
        return True
    return engine.use_compile(group, device)


def _cores() -> int:
    """The cores this process may use (its affinity mask, not the host's count)."""
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _cpu_times(path="/proc/stat") -> dict:
    """Linux: per CPU number, (busy, total) clock ticks since boot; {} where there is no such file."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                name, *ticks = line.split()
                if name.startswith("cpu") and name[3:].isdigit():
                    t = [int(x) for x in ticks[:8]]  # user nice system idle iowait irq softirq steal
                    out[int(name[3:])] = (sum(t) - t[3] - t[4], sum(t))
    except OSError:
        pass
    return out


def busy_cores(before: dict, after: dict, cpus) -> float:
    """Cores' worth of work other processes did on ``cpus`` between two ``_cpu_times`` snapshots
    (0.0 to len(cpus)); a CPU missing from either snapshot, or without ticks between them, counts idle."""
    busy = 0.0
    for c in cpus:
        if c in before and c in after and after[c][1] > before[c][1]:
            busy += (after[c][0] - before[c][0]) / (after[c][1] - before[c][1])
    return busy


def foreground_threads(sample_s=0.25) -> int:
    """Torch threads for training in this process: torch's own count, lowered to the cores
    no other process kept busy over the last ``sample_s`` seconds (at least 1).

    Why: torch's threads meet at a barrier after every small op, so one thread that shares
    its core with a busy process (a background campaign, even at nice 10) holds up all the
    others: on 2 cores, both busy with a campaign, the smoke batch-1 runs of ``batch_size``
    trained in 281 s on torch's 2 threads and in 14.5 s on 1. Only Linux's /proc/stat is
    read; elsewhere the count is torch's. Single-thread workers are not affected."""
    import os
    import torch
    want = torch.get_num_threads()
    if want < 2 or not hasattr(os, "sched_getaffinity"):
        return max(1, want)
    cpus = os.sched_getaffinity(0)
    before = _cpu_times()
    if not before:
        return want
    time.sleep(sample_s)
    free = len(cpus) - busy_cores(before, _cpu_times(), cpus)
    return max(1, min(want, int(free + 0.5)))


def _run_local(groups, keep, bar, stats, dev, root, use_engine, ckpt, deadline):
    import torch
    threads = torch.get_num_threads()
    if dev.type == "cpu" and groups:
        torch.set_num_threads(foreground_threads())
    try:
        for g in groups:
            if engine.stop_requested():
                raise KeyboardInterrupt("stop requested")
            try:
                keep(g, train_group(g, dev, root, use_engine, on_epoch=bar.update, checkpoint_dir=ckpt,
                                    deadline=deadline))
            except engine.Stopped:
                stats["stopped"] += len(g)
    finally:
        torch.set_num_threads(threads)


_PROGRESS = None  # in a worker process: the queue its finished run-epochs go to


def _worker_init(threads, progress=None):
    global _PROGRESS
    import torch
    torch.set_num_threads(threads)
    _PROGRESS = progress
    try:  # Linux: end with the parent, even one killed by SIGKILL (no orphan training on)
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _train_in_worker(group, device, root, use_engine, ckpt, deadline):
    on_epoch = _PROGRESS.put if _PROGRESS is not None else None
    return train_group(group, device, root, use_engine, on_epoch, ckpt, deadline)


def _run_processes(groups, keep, bar, stats, device, root, use_engine, workers, ckpt, deadline):
    """Groups on ``workers`` spawned processes of ``cores // workers`` threads each, started in
    the caller's order (the campaign puts the most wanted experiments first); this process
    alone writes the store and advances the progress bar epoch by epoch. A kill or Ctrl-C ends
    the workers too (on Linux even a SIGKILL of this process); engine groups resume from their
    checkpoints next time, reference-loop runs start again."""
    import multiprocessing as mp
    import queue
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    if workers < 1:
        raise ValueError(f"workers must be at least 1; got {workers}")
    ctx = mp.get_context("spawn")
    progress = ctx.Queue()
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                               initargs=(max(1, _cores() // workers), progress))

    def drain():
        while True:
            try:
                bar.update(progress.get_nowait())
            except queue.Empty:
                return
    try:
        futures = {pool.submit(_train_in_worker, g, device, root, use_engine, ckpt, deadline): g for g in groups}
        pending = set(futures)
        while pending:
            if engine.stop_requested():  # a signal whose KeyboardInterrupt was swallowed
                raise KeyboardInterrupt("stop requested")
            finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            drain()
            for f in finished:
                try:
                    keep(futures[f], f.result())
                except engine.Stopped:
                    stats["stopped"] += len(futures[f])
        pool.shutdown(wait=True)  # workers flush their queued epochs as they exit
        drain()
    except BaseException:
        for p in list(getattr(pool, "_processes", {}).values()):
            p.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()


def _weights(spec) -> int:
    """Weights and biases of ``spec``'s fully connected layers: what an update's time grows
    with (the matmuls at large batches, the parameter and state traffic at batch 1), so a
    missing 768-unit run is not timed like a stored 256-unit one."""
    sizes = [784, *spec.hidden, 10]
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def other_code_keys(store: Store, keys) -> set:
    """Of the stored runs ``keys``, those made by other code than this: their recorded source
    hash (``store.code_version``) differs from the current sources'. Their numbers may still be
    right (most edits change no number), but nothing here says so: ``sparsel run --recompute``."""
    from .store import code_version
    mine = code_version().split("+")[-1].split(".")[1]
    runs = store.runs(list(keys))
    return {k for k, v in zip(runs.key, runs.code_version) if v.split("+")[-1].split(".")[1:2] != [mine]}


NEWEST_RATES = 16  # stored runs of a kind whose median rate estimates a missing run (a stack or so)


def _nearest_size(by_weights: dict, weights: int) -> int:
    """Of the sizes (weights) stored in ``by_weights``, the nearest to ``weights`` (log scale)."""
    return min(by_weights, key=lambda w: abs(math.log(w / weights)))


def estimator(store: Store, device: str = "cpu"):
    """A function ``spec -> (seconds, borrowed)``: the time all of a run's updates
    (``RunSpec.total_steps``) would take on this kind of device ('cpu' or 'cuda'), from the runs
    stored in ``store``; ``borrowed`` is True where no stored run trained on its route.

    The time is the updates x the run's weights x the median seconds per update and weight of
    the ``NEWEST_RATES`` newest stored runs like it, made on this kind of device: same trainer
    route (engine or reference loop), model, data size and batch size, else the same route and
    model at the nearest batch size stored; runs of another device only where there are none
    of this one. Among those, only the runs of the stored size nearest to its own (weights, log
    scale) count: a step's fixed cost makes a 16-unit run's time per weight many times a
    2,048-unit run's. Of the runs of that size, those of its own optimizer count where any are
    stored: at batch 1 and 2,048 units an Adam update costs about twice an SGD one on the CPU
    (its state traffic, and no row kernel), so a rate pooled over optimizers misjudges both.
    With no run of its route stored, a run borrows the rate of the other route's runs of its
    model (or 0.5 ms an update): read that as a rough lower bound for reference-loop runs. A
    run is assumed to train on the engine wherever the engine supports it (as ``run`` and
    ``campaign`` do by default). A stored run's seconds are its share of its stack's wall time,
    so the estimate of a group is the sum of its runs', trained as the stored ones were (in
    processes side by side, or alone on every core).
    """
    # seconds per update of each stored run, by how it trains: the engine's stacks and the
    # reference loop (CNN, forgetting) differ several-fold, so a missing run borrows the rate of
    # its own route first
    rates, store_done = {}, store.done_keys()
    for key, text, seconds, dev, trainer in store.db.execute(
            "SELECT key, spec, seconds, device, trainer FROM runs ORDER BY finished DESC"):
        if key not in store_done:
            continue
        try:
            r = RunSpec.from_dict(json.loads(text))
        except (SpecError, TypeError, ValueError):
            continue
        per_step = seconds / max(1, r.total_steps) / _weights(r)
        mine = str(dev).split(":")[0] == device
        route = trainer.startswith("engine") if trainer != "unknown" else engine.supports(r)
        for k in ((route, r.model, r.train_size, r.batch_size), (route, r.model, r.batch_size),
                  (r.model, r.train_size, r.batch_size), (r.model, r.batch_size)):
            for opt in (r.optimizer, None):  # None: any optimizer
                kind = rates.setdefault((mine, opt, *k), {}).setdefault(_weights(r), [])
                if len(kind) < NEWEST_RATES:  # the newest only: older code and busier machines were slower
                    kind.append(per_step)

    def estimate(s) -> tuple[float, bool]:
        route = engine.supports(s)
        for head in [(mine, route, s.model) for mine in (True, False)] + [(mine, s.model) for mine in (True, False)]:
            # this batch size, else the nearest stored (log scale; a step's cost grows with the
            # batch); there the nearest width of any optimizer, at its own optimizer's rate if stored
            exact = [rates.get((head[0], opt, *head[1:], s.train_size, s.batch_size)) for opt in (s.optimizer, None)]
            sizes = [k[-1] for k in rates if len(k) == len(head) + 2 and (k[0], *k[2:-1]) == head]
            b = min(sizes, key=lambda b: abs(math.log(b / s.batch_size))) if sizes else None
            near = [rates.get((head[0], opt, *head[1:], b)) for opt in (s.optimizer, None)]
            per = None
            for own, pool in ((exact[0], exact[1]), (near[0], near[1])):
                if pool:  # the width from all optimizers' runs, then its own optimizer's rate at it
                    w = _nearest_size(pool, _weights(s))
                    per = (own or {}).get(w) or pool[w]
                    break
            if per:
                return statistics.median(per) * _weights(s) * s.total_steps, len(head) == 2  # 2: not its route
        return 5e-4 * s.total_steps, True
    return estimate


def status(cells, store: Store, device: str | None = None) -> dict:
    """Done / missing / diverged counts of ``cells``, the done runs that lack the current
    metric set (made by older code: ``old_metrics``), and an estimate of the seconds left.

    The estimate is the sum of ``estimator``'s for the missing runs on ``device`` ('cpu' or
    'cuda'; default: this machine's), ``eta_borrowed`` where any of them borrowed another
    route's rate. The sum is divided on a multi-core CPU by the processes that
    ``executor='auto'`` would train the missing long groups on at once. A missing run whose
    group stopped with a checkpoint counts its epochs left alone (``resuming``: such a run's
    key -> the epoch its group resumes after).
    """
    import torch
    from .metrics import FIELDS
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    specs = unique_specs(cells)
    runs = store.runs([s.key for s in specs])
    done = set(runs.key)
    diverged = set(runs.key[runs.diverged == 1])
    old = store.keys_lacking(FIELDS[-1]) & done
    estimate, store_done = estimator(store, device), store.done_keys()
    missing = [s for s in specs if s.key not in done]
    # a group stopped with a checkpoint resumes there when none of its runs is stored (``_plan``;
    # its runs may belong to several experiments): only its epochs left count
    left, ckpt, want = {}, checkpoint_dir(store), {s.key for s in missing}
    for keys in engine.checkpointed_groups(ckpt):
        epoch = None if set(keys) & store_done else engine.checkpoint_epoch(keys, ckpt)
        if epoch:
            left.update(dict.fromkeys(keys, epoch))
    eta, borrowed = 0.0, False
    for s in missing:
        seconds, lent = estimate(s)
        eta += seconds * (1 - left[s.key] / s.epochs if s.key in left else 1.0)
        borrowed |= lent
    if missing and device == "cpu":
        groups = engine.plan_groups(missing, "cpu")
        eta /= auto_workers("cpu", sum(_worth_a_process(g, "cpu", True) for g in groups))
    return dict(cells=len(cells), runs=len(specs), done=len(done), missing=len(missing),
                diverged=len(diverged), old_metrics=len(old), other_code=len(other_code_keys(store, done)),
                eta_seconds=round(eta, 1), eta_borrowed=borrowed,
                resuming={k: e for k, e in left.items() if k in want},
                missing_keys=[s.key for s in missing])
