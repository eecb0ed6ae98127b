"""sparsel: sparsity and selectivity of representations learnt by SGD and adaptive optimizers.

A reproduction of the dissertation's MNIST study. Modules, one concept each:
data, models, optim, metrics, spec, orders, train (reference loop), engine (stacked
runs), store (SQLite results), experiments (the registry), sweep, summary, plots,
findings, cli.
"""
__version__ = "0.1.0"
