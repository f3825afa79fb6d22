"""Errors that every source of models raises alike, whether it serves them or runs them in-process."""


class UnknownModelError(LookupError):
    """A model id the source does not have; the message names the id and the available ones."""


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded as asked, for a reason the message states in full (no traceback needed)."""
