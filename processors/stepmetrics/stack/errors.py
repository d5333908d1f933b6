"""Errors of the local stack launcher."""


class StackError(Exception):
    """A local service could not be found, started or kept running."""
