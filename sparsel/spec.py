"""RunSpec: everything that determines one training run's numbers, frozen and hashable.

Hyper-parameters the optimizer reads are filled with their defaults when not given
(``sparsel.optim.BASELINE``: Table 5.1's for the study's four optimizers), so the same run
always has the same key however it was written.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from .optim import ALL_OPTIMIZERS, BASELINE, REGISTRY

ORDERS = ("shuffled", "sorted", "consecutive", "classes", "classes_even")
CLASS_ORDERS = ("classes", "classes_even")  # batches of order_k distinct classes (section 5.9)
# The sampler behind an order, where it changed after runs were stored. A spec's key hashes
# its fields, so a changed sampler under an unchanged order name would be served the old
# runs from the store; to_dict() therefore carries "order_version" for these orders (and
# only for them, so every other spec keeps its key). 'classes' v2 (issue 16) draws classes
# uniformly as the original did; v1 (no field: the old keys) was the even drain, now 'classes_even'.
ORDER_VERSIONS = {"classes": 2}
MODELS = ("mlp", "cnn")
TRAIN_FULL, TEST_FULL = 60_000, 10_000
# Hyper-parameters of the optimizers added after the study's runs were stored (issue 11).
# to_dict() leaves each out while it is None, as it is for every spec of the four original
# optimizers (they do not read it), so those specs keep their keys.
_LATER_HP = ("alpha", "k", "p", "momentum_decay")
_HP = ("lr", "momentum", "rho", "beta1", "beta2", "eps", "weight_decay") + _LATER_HP


# fields of the forgetting protocol: left out of a key while None, so other runs' keys never change
_PROTOCOL = ("protocol", "split_seed", "epochs_b", "head", "carry_state", "steps_b", "criterion", "epochs_c")


class SpecError(ValueError):
    """A run spec that cannot be built; the message names the field."""


@dataclass(frozen=True)
class RunSpec:
    """One training run. Units: sizes in images, epochs in full passes over the train set.

    order: 'shuffled' (reshuffled every epoch), 'sorted' (by class, same every epoch),
    'consecutive' (batch 1, chunks of ``order_k`` same-class images, section 5.7),
    'classes' (``order_k`` distinct classes per batch, section 5.9, each batch's classes drawn
    uniformly among those with images left, as the original did) or 'classes_even' (the
    same batches, classes drawn in proportion to the images they have left, so they drain
    evenly); see ``sparsel.orders.class_batches``. ``to_dict`` adds ``order_version`` for
    an order whose sampler changed (``ORDER_VERSIONS``), so its key changed with it.
    """
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float | None = None
    rho: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    eps: float | None = None
    weight_decay: float | None = None
    model: str = "mlp"
    hidden: tuple = (256,)
    activation: str = "sigmoid"
    batch_size: int = 50
    order: str = "shuffled"
    order_k: int = 1
    epochs: int = 30
    seed: int = 1
    train_size: int | None = None  # None = all 60,000 (a multiple of 10 = stratified subset)
    test_size: int | None = None   # None = all 10,000
    ccmas_eps: float = 1e-7
    alpha: float | None = None           # RMSprop's decay of the squared-gradient average
    k: float | None = None               # section 6.3.1's factor (modified Adagrad/Adadelta, p-family)
    p: float | None = None               # the p-family's power of the accumulator
    momentum_decay: float | None = None  # NAdam's psi
    # the two-task protocol of section 6.3.2 (sparsel.forgetting); None for every other run
    protocol: str | None = None          # "forget": phase A on digits S, then phase B on the rest
    split_seed: int | None = None        # which 5 digits are S (sparsel.forgetting.split_digits)
    epochs_b: int | None = None          # phase-B epochs (phase A: ``epochs``)
    head: str | None = None              # "shared" (one 10-way softmax) or "masked" (each task's 5 classes)
    carry_state: bool | None = None      # the optimizer's state carried into phase B (False: reset)
    steps_b: int | None = None           # at most this many phase-B updates (equal-updates comparisons)
    criterion: float | None = None       # end phase A early at this training accuracy on S
    epochs_c: int | None = None          # phase C: relearn S for this many epochs (relearning savings)

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        if self.optimizer not in ALL_OPTIMIZERS:
            raise SpecError(f"optimizer: unknown {self.optimizer!r}; choose one of {', '.join(ALL_OPTIMIZERS)}")
        base = BASELINE[self.optimizer]
        for k in _HP:
            v = getattr(self, k)
            if k in base:
                set_(k, float(base[k] if v is None else v))
            elif v is not None:
                raise SpecError(f"{k}: optimizer {self.optimizer!r} has no such hyper-parameter "
                                f"(it takes {', '.join(base)})")
        set_("hidden", tuple(int(h) for h in (self.hidden if isinstance(self.hidden, (tuple, list)) else (self.hidden,))))
        self._validate()

    def _validate(self):
        def bad(fld, msg):
            raise SpecError(f"{fld}: {msg}")
        if self.model not in MODELS:
            bad("model", f"unknown {self.model!r}; choose one of {', '.join(MODELS)}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            bad("hidden", f"every hidden layer needs at least 1 unit; got {self.hidden}")
        if self.model == "cnn" and len(self.hidden) != 1:
            bad("hidden", "the CNN has exactly one fully connected hidden layer")
        if self.activation not in ("sigmoid", "relu"):
            bad("activation", f"unknown {self.activation!r}; choose sigmoid or relu")
        if self.order not in ORDERS:
            bad("order", f"unknown {self.order!r}; choose one of {', '.join(ORDERS)}")
        for fld, lo in (("epochs", 1), ("batch_size", 1), ("order_k", 1)):
            if int(getattr(self, fld)) < lo:
                bad(fld, f"must be at least {lo}; got {getattr(self, fld)}")
        if self.lr is not None and not self.lr > 0:
            bad("lr", f"must be positive; got {self.lr}")
        if REGISTRY[self.optimizer].needs and (self.model != "mlp" or self.protocol is not None):
            bad("optimizer", f"{self.optimizer!r} takes per-sample statistics that only the stacked engine "
                             "computes: it trains the MLP on one task (no model='cnn', no protocol)")
        check = REGISTRY[self.optimizer].check
        problem = check(self.hp) if check else None
        if problem:
            bad(*problem)
        n_train = self.train_size or TRAIN_FULL
        for fld, full in (("train_size", TRAIN_FULL), ("test_size", TEST_FULL)):
            n = getattr(self, fld)
            if n is not None and (n <= 0 or n % 10 or n > full):
                bad(fld, f"must be a positive multiple of 10 up to {full}; got {n}")
        if self.batch_size > n_train:
            bad("batch_size", f"{self.batch_size} is larger than the {n_train} training images")
        if self.order == "consecutive" and self.batch_size != 1:
            bad("batch_size", "order 'consecutive' (con k) is defined for batch size 1")
        if self.order in CLASS_ORDERS:
            if not 1 <= self.order_k <= 10:
                bad("order_k", f"classes per batch must be 1..10; got {self.order_k}")
            if self.batch_size % self.order_k:
                bad("order_k", f"{self.order_k} classes do not divide batch size {self.batch_size}")
        if self.order == "consecutive" and self.order_k > n_train // 10:
            bad("order_k", f"chunks of {self.order_k} exceed a class's {n_train // 10} images")
        if self.protocol is None:
            given = [f for f in _PROTOCOL[1:] if getattr(self, f) is not None]
            if given:
                bad(given[0], "belongs to the forgetting protocol: set protocol='forget' too")
        elif self.protocol != "forget":
            bad("protocol", f"unknown {self.protocol!r}; the one protocol is 'forget' (section 6.3.2)")
        else:
            if self.model != "mlp" or self.order not in ("shuffled", "sorted"):
                bad("protocol", "the forgetting protocol trains the MLP on shuffled or sorted images")
            if self.split_seed is None or self.epochs_b is None or self.head not in ("shared", "masked") \
                    or self.carry_state is None:
                bad("protocol", "'forget' needs split_seed, epochs_b, head ('shared' or 'masked') and carry_state")
            if self.epochs_b < 1 or (self.steps_b is not None and self.steps_b < 1) or (self.epochs_c or 1) < 1:
                bad("epochs_b", "phase B needs at least one epoch and one step")
            if self.criterion is not None and not 0 < self.criterion <= 1:
                bad("criterion", f"an accuracy in (0, 1]; got {self.criterion}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        for k in _LATER_HP + _PROTOCOL:
            if d[k] is None:
                del d[k]
        if self.order in ORDER_VERSIONS:
            d["order_version"] = ORDER_VERSIONS[self.order]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunSpec":
        d = dict(d)
        if "order_version" in d:  # written by to_dict; only the current sampler can be rebuilt
            version, order = d.pop("order_version"), d.get("order", "shuffled")
            if version != ORDER_VERSIONS.get(order):
                raise SpecError(f"order_version: {version!r} is not a version of order {order!r} "
                                f"this code can run (it runs {ORDER_VERSIONS.get(order, 'none')})")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SpecError(f"{', '.join(sorted(unknown))}: not a RunSpec field (fields: {', '.join(sorted(known))})")
        return cls(**d)

    @property
    def key(self) -> str:
        """Stable 16-hex-digit hash of the spec (JSON with sorted keys)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def replace(self, **changes) -> "RunSpec":
        """A copy with ``changes``; a new optimizer starts from its own baseline hyper-parameters."""
        if changes.get("optimizer", self.optimizer) != self.optimizer:
            changes = {**{k: None for k in _HP}, **changes}
        return dataclasses.replace(self, **changes)

    @property
    def hp(self) -> dict:
        """The optimizer's hyper-parameters, as make_optimizer takes them."""
        return {k: getattr(self, k) for k in BASELINE[self.optimizer]}

    @property
    def steps_per_epoch(self) -> int:
        from .orders import batches_per_epoch
        return batches_per_epoch(self)

    @property
    def total_steps(self) -> int:
        """The updates the whole run makes: ``steps_per_epoch`` x ``epochs``; for the two-task
        protocol, phases A, B and C on the images of five digits each (about half the training
        set), an upper bound where phase A stops at its criterion."""
        if self.protocol != "forget":
            return self.steps_per_epoch * self.epochs
        task = -(-(self.train_size or TRAIN_FULL) // 2 // self.batch_size)
        b = task * self.epochs_b if self.steps_b is None else min(task * self.epochs_b, self.steps_b)
        return task * (self.epochs + (self.epochs_c or 0)) + b


@dataclass(frozen=True)
class Cell:
    """One run of an experiment's grid: the experiment, its condition label and the spec."""
    experiment: str
    condition: str
    spec: RunSpec
    meta: dict = field(default_factory=dict, compare=False, hash=False)
