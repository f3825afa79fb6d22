"""Why a bag is refused, and what a batch conversion reports when some bags are."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from positronic_core.bags.report import ConversionReport


class BagError(Exception):
    """One bag cannot be converted; the message starts with the bag's path and says why."""

    def __init__(self, bag: Path, reason: str) -> None:
        super().__init__(f"{bag}: {reason}")
        self.bag = Path(bag)
        self.reason = reason


class ConversionError(Exception):
    """A batch stopped: `errors` name each bag that failed.

    When validation refuses bags nothing is written and `converted` is empty. When writing fails part-way, the
    failing bag's episode is aborted and `converted` holds the bags finished before it.
    """

    def __init__(self, errors: list[BagError], converted: list[ConversionReport] | None = None) -> None:
        self.errors = list(errors)
        self.converted = list(converted or [])
        lines = [str(error) for error in self.errors]
        super().__init__("\n".join(lines))
