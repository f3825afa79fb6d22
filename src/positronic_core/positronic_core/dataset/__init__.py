"""Recording and reading episodes in Positronic's on-disk dataset format (see `layout` for the layout).

ROS-free. Datasets written here are read by upstream Positronic 0.2.1 and 0.4.1, and theirs here; `writer` explains
the episode lifecycle and crash behaviour, `signals` the step-function reading semantics, `timeline` how 0.4.x's
multi-timeline files are read, `edits` how its edit logs apply.
"""

from positronic_core.dataset.errors import DatasetError, InvalidSampleError
from positronic_core.dataset.reader import Dataset, Episode
from positronic_core.dataset.signals import ParquetSignal, Signal, VideoSignal
from positronic_core.dataset.writer import DatasetWriter, EpisodeWriter

__all__ = [
    "Dataset",
    "DatasetError",
    "DatasetWriter",
    "Episode",
    "EpisodeWriter",
    "InvalidSampleError",
    "ParquetSignal",
    "Signal",
    "VideoSignal",
]
