"""Non-video signals: buffered in memory while recording, written as one parquet file per signal at finish.

A signal's first sample fixes its kind: a bool, integer, float or str scalar, or a 1-D numeric vector of fixed
length (numpy array, list or tuple). Later samples must match: same vector length, and a dtype that converts
without changing kind (an int into a float signal is fine; a float into an int signal, or anything into a bool
signal, is refused). Values are copied on append, so callers may reuse their buffers.

Columns are `timestamp` (int64 ns) and `value`, typed as upstream writes them: the scalar's arrow type, or
`list<item: dtype>` for vectors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from positronic_core.dataset.errors import InvalidSampleError
from positronic_core.dataset.timeline import SIGNAL_TIME_COLUMN, VALUE_COLUMN, read_times

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def check_timestamp(name: str, ts_ns: object, last_ts_ns: int | None) -> int:
    """`ts_ns` as an int if it is an integer after `last_ts_ns`, else InvalidSampleError naming the signal."""
    if isinstance(ts_ns, (bool, np.bool_)) or not isinstance(ts_ns, (int, np.integer)):
        raise InvalidSampleError(f"signal {name!r}: timestamp must be an integer in ns, got {ts_ns!r}")
    ts = int(ts_ns)
    if not _INT64_MIN <= ts <= _INT64_MAX:
        raise InvalidSampleError(f"signal {name!r}: timestamp {ts} does not fit in int64 ns")
    if last_ts_ns is not None and ts <= last_ts_ns:
        what = "repeats" if ts == last_ts_ns else "is before"
        raise InvalidSampleError(
            f"signal {name!r}: timestamp {ts} {what} the previous sample's {last_ts_ns}; "
            "timestamps must strictly increase within a signal"
        )
    return ts


class TimestampedColumn:
    """The timestamps of one signal being recorded, shared by scalar and video columns."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._timestamps: list[int] = []

    def __len__(self) -> int:
        return len(self._timestamps)

    @property
    def last_ts_ns(self) -> int | None:
        return self._timestamps[-1] if self._timestamps else None

    @property
    def first_ts_ns(self) -> int | None:
        return self._timestamps[0] if self._timestamps else None


class ScalarColumn(TimestampedColumn):
    """One non-video signal being recorded."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._values: list[Any] = []
        self._dtype: np.dtype | None = None
        self._shape: tuple[int, ...] = ()
        self._text = False

    def append(self, value: Any, ts_ns: int) -> None:
        ts = check_timestamp(self.name, ts_ns, self.last_ts_ns)
        sample = self._convert(value)
        self._timestamps.append(ts)
        self._values.append(sample)

    def _convert(self, value: Any) -> Any:
        if isinstance(value, str):
            if self._dtype is None:
                self._dtype, self._text = np.dtype(object), True
            elif not self._text:
                raise InvalidSampleError(f"signal {self.name!r}: got a str, but the signal holds {self._describe()}")
            return value
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise InvalidSampleError(f"signal {self.name!r}: {type(value).__name__} is not recordable: {exc}") from None
        if array.dtype.kind not in "biuf" or array.ndim > 1:
            raise InvalidSampleError(
                f"signal {self.name!r}: cannot record {type(value).__name__} with dtype {array.dtype} and shape "
                f"{array.shape}; record bool/int/float/str scalars, 1-D numeric vectors, or uint8 (H, W, 3) images"
            )
        if self._dtype is None:
            self._dtype, self._shape = array.dtype, array.shape
        elif self._text:
            raise InvalidSampleError(f"signal {self.name!r}: got {array.dtype}, but the signal holds str")
        elif array.shape != self._shape:
            raise InvalidSampleError(
                f"signal {self.name!r}: got shape {array.shape}, but the signal holds {self._describe()}"
            )
        elif array.dtype != self._dtype and not _same_kind(array.dtype, self._dtype):
            raise InvalidSampleError(
                f"signal {self.name!r}: got dtype {array.dtype}, but the signal holds {self._describe()}"
            )
        return array.astype(self._dtype, copy=True)

    def _describe(self) -> str:
        if self._text:
            return "str"
        if self._shape == ():
            return f"{self._dtype} scalars"
        return f"{self._dtype} vectors of shape {self._shape}"

    def write(self, path: Path) -> None:
        timestamps = pa.array(np.asarray(self._timestamps, dtype=np.int64), type=pa.int64())
        table = pa.table({"timestamp": timestamps, "value": self._value_array()})
        pq.write_table(table, path)

    def _value_array(self) -> pa.Array:
        if self._dtype is None:
            return pa.array([], type=pa.int64())
        if self._text:
            return pa.array(self._values, type=pa.string())
        if self._shape == ():
            return pa.array(np.array(self._values, dtype=self._dtype))
        width = self._shape[0]
        flat = np.stack(self._values).reshape(-1) if self._values else np.empty(0, dtype=self._dtype)
        offsets = np.arange(0, (len(self._values) + 1) * width, width, dtype=np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat))


def _same_kind(got: np.dtype, held: np.dtype) -> bool:
    if (got.kind == "b") != (held.kind == "b"):
        return False
    return bool(np.can_cast(got, held, casting="same_kind"))


def read_scalar_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps as int64 ns, values) of a signal's parquet file.

    Vectors come back as a 2-D array (samples x length); strings as an object array. The times are those of
    `timeline.time_column`: `timestamp` in our files and 0.2.x's, one chosen `ts.<timeline>` in 0.4.x's.
    """
    timestamps, table = read_times(path, SIGNAL_TIME_COLUMN, VALUE_COLUMN)
    return timestamps, _to_numpy(table.column(VALUE_COLUMN).combine_chunks())


def _to_numpy(column: pa.Array) -> np.ndarray:
    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        rows = len(column)
        flat = column.flatten().to_numpy(zero_copy_only=False)
        lengths = set(column.value_lengths().to_pylist()) if rows else {0}
        if len(lengths) == 1:
            return flat.reshape(rows, lengths.pop())
        return np.array([np.asarray(item) for item in column.to_pylist()], dtype=object)
    return column.to_numpy(zero_copy_only=False)
