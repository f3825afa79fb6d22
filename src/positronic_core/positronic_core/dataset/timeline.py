"""Which time column of a signal file the reader uses: one column per file, the same choice for every file.

Two on-disk forms exist:

- version 1 (ours, and upstream 0.2.x): one `timestamp` column in signal files, `ts_ns` in frame indexes;
- version 2 (upstream 0.4.x, schema metadata `positronic.signal_version=2`): one `ts.<timeline>` column per
  timeline the sample was stamped on, such as `ts.harness.world` (when the recording harness handled it, on the
  simulated or robot world clock), `ts.received.world`, `ts.emitted.world` (when its producer made it) and their
  `.wall` twins on the host's wall clock. Frame indexes carry the same columns.

A version-2 file is read on the first of `TIMELINE_ORDER` it has. That is 0.4.x's own reading order
(`eval_vocabulary.timeline.RECORDING_TIMELINE_ORDER`: the harness's world time, then receipt on the world clock),
extended by the emission time on the world clock, so every signal of an episode lands on the world clock the
harness ran, and commands (stamped only when emitted) line up with the states they answered. A file with none of
these is read on its first `ts.*` column. Within a timeline 0.4.x requires times to be non-decreasing, not strictly
increasing: where samples share a time, the step-function reading (`signals`) gives the last of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from positronic_core.dataset.errors import DatasetError

VERSION_KEY = b"positronic.signal_version"
TIMELINE_PREFIX = "ts."
SIGNAL_TIME_COLUMN = "timestamp"
FRAMES_TIME_COLUMN = "ts_ns"
VALUE_COLUMN = "value"
TIMELINE_ORDER = ("harness.world", "received.world", "emitted.world", "recorded")


def time_column(schema: pa.Schema, legacy_column: str) -> str:
    """The column holding the sample times the reader uses (see the module docstring); DatasetError if none."""
    metadata = schema.metadata or {}
    if metadata.get(VERSION_KEY) is None:
        if legacy_column not in schema.names:
            raise DatasetError(f"no {legacy_column!r} column and no positronic.signal_version in the schema")
        return legacy_column
    timelines = [name for name in schema.names if name.startswith(TIMELINE_PREFIX)]
    for timeline in TIMELINE_ORDER:
        if TIMELINE_PREFIX + timeline in timelines:
            return TIMELINE_PREFIX + timeline
    if not timelines:
        raise DatasetError("a version 2 signal file without any ts.<timeline> column")
    return timelines[0]


def read_times(path: Path, legacy_column: str, *extra: str) -> tuple[np.ndarray, pa.Table]:
    """(sample times as int64 ns, the table of `extra` columns) of a signal file or frame index."""
    try:
        column = time_column(pq.read_schema(path), legacy_column)
        table = pq.read_table(path, columns=[column, *extra])
    except (OSError, pa.ArrowException) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    except DatasetError as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    return table.column(column).to_numpy().astype(np.int64, copy=False), table
