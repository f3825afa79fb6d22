"""The client stack an upstream 0.4.x server declares (`local_stack` in its ready meta), read into what we run.

A stack is a tree of components, `{"name", "version", "args"}`, composed with `{"seq": [...]}` and `{"par": [...]}`
(upstream's `positronic_model_server.spec`). The outermost sequence may hold processors, which shape *when* the
robot asks and plays, and codecs, which shape *what* goes to the model and what comes back (`stack_codecs`).
We run:
- `chunked_schedule` (v2, v3): a chunk's action i is due i / fps after the chunk starts, and actions at or past
  `horizon_sec` are dropped. Its `inference_lead`, `replan_on_error` and `record_stats` tune upstream's own scheduler;
  ours (`runtime.chunk_scheduler`) requests against measured latency instead, so they are accepted and not applied.
- `stop_on_fault` (v2): withholds commands while an arm reports a fault in `robot_state.status`; our observations
  carry no such status (a faulted sim or arm stops the episode instead), so it never fires.
- the codecs in `stack_codecs.CODECS`.
Anything else (RTC, temporal stacking, image transforms, frame changes, deltas, ...) is refused when the session
opens, in one line naming every component we lack, so no episode starts on a stack we would run wrongly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from positronic_core.policy.stack_codecs import CODECS, ROBOT_COMMAND, TARGET_GRIP, Chain, Merge, StackCodec
from positronic_core.robot.commands import Action, RobotCommand, command_from_wire

LOCAL_STACK = "local_stack"
SCHEDULE = "chunked_schedule"
FAULT_STOP = "stop_on_fault"
#: Processors we run, with the versions 0.4.1's client accepts and the arguments each version takes.
PROCESSORS: dict[str, dict[int, frozenset[str]]] = {
    SCHEDULE: {2: frozenset({"fps", "horizon_sec", "record_stats", "inference_lead"}),
               3: frozenset({"fps", "horizon_sec", "record_stats", "inference_lead", "replan_on_error"})},
    FAULT_STOP: {2: frozenset()},
}


class UnsupportedStack(ValueError):
    """A declared stack this client cannot run; the message names what is missing."""


@dataclass(frozen=True)
class Schedule:
    fps: float
    horizon_sec: float | None = None


class DeclaredStack:
    """Observations through the declared codecs to the model's input, and its output back to timed actions."""

    def __init__(self, schedule: Schedule, codec: StackCodec, components: list[str]) -> None:
        self.schedule = schedule
        self.codec = codec
        #: `name vN` of each component, in declaration order, for the record.
        self.components = components

    @property
    def meta(self) -> dict[str, Any]:
        return {**self.codec.meta, "action_fps": self.schedule.fps}

    def encode(self, observation: Mapping[str, Any]) -> dict[str, Any]:
        return self.codec.encode(dict(observation))

    def decode(self, result: Any) -> list[Action]:
        """The server's result (commands from v2, model output from v3) as actions due i / fps after the chunk
        starts. An empty record is a step with no command (the arm holds) and keeps its slot in time."""
        records = self.codec.decode(result)
        if records is None:
            return []
        if isinstance(records, Mapping):
            records = [records]
        if not isinstance(records, list):
            raise ValueError(f"the stack decoded a {type(records).__name__}, not a list of actions")
        period = 1.0 / self.schedule.fps
        actions = []
        for i, record in enumerate(records):
            due = i * period
            if self.schedule.horizon_sec is not None and due >= self.schedule.horizon_sec:
                break
            if not record:
                continue
            actions.append(Action(_command(record), _grip(record), timestamp=due))
        return actions


def _command(record: Mapping[str, Any]) -> RobotCommand:
    extra = sorted(set(record) - {ROBOT_COMMAND, TARGET_GRIP})
    if extra:
        raise ValueError(f"action carries {', '.join(map(str, extra))}, which this client cannot execute")
    if ROBOT_COMMAND not in record:
        raise ValueError("action lacks 'robot_command'")
    command = record[ROBOT_COMMAND]
    return command if not isinstance(command, Mapping) else command_from_wire(command)


def _grip(record: Mapping[str, Any]) -> float:
    if TARGET_GRIP not in record:
        raise ValueError("action lacks 'target_grip'")
    return float(record[TARGET_GRIP])


def read_stack(meta: Mapping[str, Any], protocol: str) -> DeclaredStack:
    """The stack `meta` declares, or UnsupportedStack naming `protocol` and everything this client lacks."""
    spec = meta.get(LOCAL_STACK)
    if spec is None:
        raise UnsupportedStack(f"the {protocol} server declares no client stack ({LOCAL_STACK}), so this client "
                               "cannot tell how to play its output")
    reader = _Reader()
    try:
        parts = reader.top(spec)
    except _Malformed as e:
        raise UnsupportedStack(f"the {protocol} server declares a malformed {LOCAL_STACK}: {e}") from None
    schedules = [p for p in parts if isinstance(p, Schedule)]
    if reader.missing:
        raise UnsupportedStack(f"the {protocol} server's client stack needs {', '.join(reader.missing)}, which this "
                               "client does not implement")
    if len(schedules) != 1:
        raise UnsupportedStack(f"the {protocol} server's client stack has {len(schedules)} {SCHEDULE} components; "
                               "this client runs stacks with exactly one")
    codecs = [p for p in parts if isinstance(p, StackCodec)]
    return DeclaredStack(schedules[0], Chain(codecs), reader.seen)


class _Malformed(ValueError):
    pass


class _Reader:
    def __init__(self) -> None:
        self.missing: list[str] = []
        self.seen: list[str] = []

    def top(self, node: Any) -> list[Schedule | StackCodec | None]:
        """The outermost sequence, flattened (nested sequences group without changing what runs)."""
        if isinstance(node, Mapping) and "seq" in node:
            return [part for child in self._children(node, "seq") for part in self.top(child)]
        if isinstance(node, Mapping) and node.get("name") in PROCESSORS:
            return [self._processor(node)]
        return [self.codec(node)]

    def codec(self, node: Any) -> StackCodec | None:
        if isinstance(node, Mapping) and ("seq" in node or "par" in node):
            kind = "seq" if "seq" in node else "par"
            parts = [self.codec(child) for child in self._children(node, kind)]
            if any(p is None for p in parts):
                return None
            return Chain(parts) if kind == "seq" else Merge(parts)
        name, version, args = self._component(node)
        if name in PROCESSORS:
            self.missing.append(f"{_label(name, version)} inside a composition")
            return None
        factory = CODECS.get(name, {}).get(self._version(name, version, CODECS.get(name, {})))
        if factory is None:
            self.missing.append(_label(name, version))
            return None
        try:
            codec = factory(**args)
        except TypeError:
            self.missing.append(f"{_label(name, version)} with arguments {', '.join(sorted(args)) or 'none'}")
            return None
        except ValueError as e:
            self.missing.append(f"{_label(name, version)} with {e}")
            return None
        self.seen.append(f"{name} v{self._version(name, version, CODECS[name])}")
        return codec

    def _processor(self, node: Mapping[str, Any]) -> Schedule | None:
        name, version, args = self._component(node)
        resolved = self._version(name, version, PROCESSORS[name])
        accepted = PROCESSORS[name].get(resolved)
        if accepted is None:
            self.missing.append(_label(name, version))
            return None
        unknown = sorted(set(args) - accepted)
        if unknown:
            self.missing.append(f"{name} v{resolved} with {', '.join(unknown)}")
            return None
        self.seen.append(f"{name} v{resolved}")
        if name != SCHEDULE:
            return None
        fps, horizon = args.get("fps"), args.get("horizon_sec")
        if not _positive(fps) or (horizon is not None and not _positive(horizon)):
            raise _Malformed(f"{SCHEDULE} needs a positive fps and horizon_sec, got {fps!r} and {horizon!r}")
        return Schedule(float(fps), None if horizon is None else float(horizon))

    @staticmethod
    def _version(name: str, version: Any, versions: Mapping[int, Any]) -> Any:
        return max(versions) if version == "latest" and versions else version

    @staticmethod
    def _children(node: Mapping[str, Any], kind: str) -> list[Any]:
        children = node[kind]
        if len(node) != 1 or not isinstance(children, list) or not children:
            raise _Malformed(f"a {kind!r} must be the only key and hold a non-empty list")
        return children

    @staticmethod
    def _component(node: Any) -> tuple[str, Any, dict[str, Any]]:
        if not isinstance(node, Mapping) or not isinstance(node.get("name"), str):
            raise _Malformed(f"a component must be a map with a name, got {node!r:.120}")
        args = node.get("args") or {}
        if not isinstance(args, Mapping):
            raise _Malformed(f"{node['name']}'s args must be a map")
        return node["name"], node.get("version", 1), dict(args)


def _label(name: str, version: Any) -> str:
    return name if version == "latest" else f"{name} v{version}"


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
