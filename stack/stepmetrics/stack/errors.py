"""Errors of the local stack launcher."""


class StackError(Exception):
    """A local service could not be found, started or kept running."""


class StackSettingsError(StackError, ValueError):
    """An environment variable or option holds a value that is not allowed."""
