"""Placeholder replaced below by the stacked engine."""


def supports(spec) -> bool:
    return False


def plan_groups(specs, device, max_group=None):
    return [[s] for s in specs]
