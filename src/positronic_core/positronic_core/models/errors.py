"""Errors that every source of models raises alike, whether it serves them or runs them in-process."""


class UnknownModelError(LookupError):
    """A model id the source does not have; the message names the id and the available ones."""

