"""The two exceptions the dataset package raises on purpose."""

from __future__ import annotations


class DatasetError(Exception):
    """A dataset cannot be written or read: unusable directory, low disk, unfinished or malformed episode, misuse."""


class InvalidSampleError(DatasetError, ValueError):
    """A sample or static cannot be recorded as given; the message names the signal or static key."""
