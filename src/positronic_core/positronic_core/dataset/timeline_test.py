"""Which time column the reader uses in upstream 0.4.x's version-2 signal files (files written here with pyarrow in
0.4.x's schema; files from 0.4.1's own writer are read in test/review/test_upstream04_datasets.py)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from positronic_core.dataset.errors import DatasetError
from positronic_core.dataset.scalars import read_scalar_file
from positronic_core.dataset.video import read_frame_timestamps


def _v2(path: Path, columns: dict[str, list[int]], values: list[float] | None = None) -> Path:
    fields = [pa.field(f"ts.{name}", pa.int64(), nullable=False) for name in columns]
    arrays = [pa.array(v, pa.int64()) for v in columns.values()]
    if values is not None:
        fields.append(pa.field("value", pa.float64()))
        arrays.append(pa.array(values, pa.float64()))
    schema = pa.schema(fields, metadata={b"positronic.signal_version": b"2"})
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)
    return path


def test_the_harness_world_clock_comes_first_then_receipt_then_emission(tmp_path: Path) -> None:
    wall, world, received, emitted = [10**12, 10**12 + 5], [4, 6], [5, 7], [2, 3]
    every = _v2(tmp_path / "a.parquet", {"emitted.wall": wall, "emitted.world": emitted,
                                         "received.world": received, "harness.world": world}, [0.5, 1.5])
    times, values = read_scalar_file(every)
    assert times.tolist() == world and values.tolist() == [0.5, 1.5]
    no_harness = _v2(tmp_path / "b.parquet", {"emitted.world": emitted, "received.world": received}, [0.0, 1.0])
    assert read_scalar_file(no_harness)[0].tolist() == received
    only_emitted = _v2(tmp_path / "c.parquet", {"emitted.wall": wall, "emitted.world": emitted}, [0.0, 1.0])
    assert read_scalar_file(only_emitted)[0].tolist() == emitted
    only_wall = _v2(tmp_path / "d.parquet", {"emitted.wall": wall}, [0.0, 1.0])
    assert read_scalar_file(only_wall)[0].tolist() == wall


def test_frame_indexes_without_ts_ns_and_files_without_any_time(tmp_path: Path) -> None:
    frames = _v2(tmp_path / "cam.frames.parquet", {"harness.wall": [9, 10], "harness.world": [1, 2]})
    assert read_frame_timestamps(frames).tolist() == [1, 2]
    pq.write_table(pa.table({"value": [1.0]}), tmp_path / "none.parquet")
    with pytest.raises(DatasetError, match="no 'timestamp' column"):
        read_scalar_file(tmp_path / "none.parquet")
