"""Where things live in a Positronic dataset, shared by the writer and the reader.

```
<root>/<block>/<episode>/     both 12-digit zero-padded; block = (episode // 1000) * 1000
  <signal>.parquet            timestamp (int64 ns, strictly increasing), value
  <camera>.mp4                H.264 yuv420p, one frame per sample
  <camera>.frames.parquet     ts_ns (int64): row i is the timestamp of frame i
  static.json                 the episode's statics (a JSON object)
  meta.json                   schema_version 1, created_ts_ns, writer, duration_ns, uid
  .unfinished                 present from the episode's creation until it is complete; readers skip it
  edits.jsonl                 (optional, also in the dataset root) upstream 0.4.x's edit log, see `edits`
```

This is upstream Positronic's layout (0.2.1), so either implementation reads what the other writes. Upstream 0.4.x
keeps the layout but stamps samples on several timelines (`timeline` says which the reader uses) and reads our
single-timestamp files as they are.
"""

from __future__ import annotations

from pathlib import Path

UNFINISHED_MARKER = ".unfinished"
STATIC_FILE = "static.json"
META_FILE = "meta.json"
SCHEMA_VERSION = 1
BLOCK_SIZE = 1000
_ID_DIGITS = 12

SCALAR_SUFFIX = ".parquet"
VIDEO_SUFFIX = ".mp4"
FRAMES_SUFFIX = ".frames.parquet"


def episode_dir(root: Path, episode_id: int) -> Path:
    block = (episode_id // BLOCK_SIZE) * BLOCK_SIZE
    return root / f"{block:0{_ID_DIGITS}d}" / f"{episode_id:0{_ID_DIGITS}d}"


def parse_id(name: str) -> int | None:
    """The id a block or episode directory name stands for, or None if the name is not one."""
    if len(name) == _ID_DIGITS and name.isascii() and name.isdigit():
        return int(name)
    return None


def episode_dirs(root: Path) -> list[tuple[int, Path]]:
    """Every episode directory under `root` as (id, path), finished or not, in id order."""
    found: list[tuple[int, Path]] = []
    if not root.is_dir():
        return found
    for block in root.iterdir():
        if parse_id(block.name) is None or not block.is_dir():
            continue
        for episode in block.iterdir():
            episode_id = parse_id(episode.name)
            if episode_id is not None and episode.is_dir():
                found.append((episode_id, episode))
    found.sort(key=lambda item: item[0])
    return found


def is_finished(path: Path) -> bool:
    return not (path / UNFINISHED_MARKER).exists()


def scalar_file(episode: Path, name: str) -> Path:
    return episode / f"{name}{SCALAR_SUFFIX}"


def video_file(episode: Path, name: str) -> Path:
    return episode / f"{name}{VIDEO_SUFFIX}"


def frames_file(episode: Path, name: str) -> Path:
    return episode / f"{name}{FRAMES_SUFFIX}"


OUR_COMMANDS = "robot_commands."
UPSTREAM_COMMANDS = "robot_command."  # upstream 0.4.x's name for the same signals


def upstream_command_name(name: str) -> str | None:
    """`robot_command.<x>` for our `robot_commands.<x>`, else None."""
    return UPSTREAM_COMMANDS + name[len(OUR_COMMANDS):] if name.startswith(OUR_COMMANDS) else None


def check_signal_name(name: object) -> str:
    """Return `name` if it can name a signal file, else raise ValueError saying why."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"signal name must be a non-empty string, got {name!r}")
    if "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"signal name {name!r} must not contain '/', '\\' or NUL: it becomes a file name")
    if name.startswith("."):
        raise ValueError(f"signal name {name!r} must not start with '.' (hidden files are not signals)")
    if name.endswith(".frames"):
        raise ValueError(f"signal name {name!r} must not end with '.frames': it would clash with a video's index")
    return name
