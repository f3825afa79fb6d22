"""Converting rosbag2 episode bags into Positronic dataset episodes: one new episode per bag.

A batch runs in two passes. The first validates every bag completely (storage files intact, required topics present,
every message of a recorded topic decodable and convertible, per-topic counts matching what the bag declares, camera
frame sizes usable, statics storable) and writes nothing; one refused bag refuses the batch. The second pass reads
each bag again and writes its episode; if that fails the episode is aborted (its directory removed), so a dataset
never holds a partial conversion, and the episodes of bags finished before it stay.

Per signal, sample times must strictly increase: a sample at the same time as the previous one (a duplicate) or
before it (out of order) is dropped and counted in the report. Topic-to-signal rules are in `topics`, statics in
`episode_metadata`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from positronic_core.bags import topics
from positronic_core.bags.bag_reader import OpenBag, available_backend, open_bag
from positronic_core.bags.derived_statics import DerivedStatics
from positronic_core.bags.episode_metadata import episode_statics, parse_metadata_message
from positronic_core.bags.errors import BagError, ConversionError
from positronic_core.bags.progress import Progress, StderrProgress
from positronic_core.bags.report import ConversionReport, SignalReport, SkippedTopic, TopicReport
from positronic_core.dataset import DatasetWriter, layout
from positronic_core.dataset.errors import InvalidSampleError
from positronic_core.dataset.statics import normalize_static

# Header stamps this far from receive times mean two clocks (say sim time in headers, wall time in the recorder):
# signals timed by receive time (Float32 topics have no header) would then not line up with the stamped ones.
CLOCK_SKEW_WARNING_NS = 1_000_000_000
_SKEW_SAMPLES = 200


@dataclass
class _Plan:
    """A validated bag: what to read, how, and the statics to store."""

    bag: Path
    rules: dict[str, topics.TopicRule]
    report: ConversionReport
    statics: dict[str, Any]


def _progress_fn(progress: Progress | bool) -> Progress | None:
    if progress is True:
        return StderrProgress()
    return progress or None


def validate_bags(
    bags: Sequence[Path], progress: Progress | bool = True, backend: str = "auto"
) -> list[ConversionReport]:
    """Validate `bags` without writing anything; ConversionError naming every refused bag."""
    return [plan.report for plan in _validate_all(bags, _progress_fn(progress), backend)]


def convert_bags(
    bags: Sequence[Path], output_dir: Path, progress: Progress | bool = True, backend: str = "auto"
) -> list[ConversionReport]:
    """Convert each bag into a new episode of the dataset at `output_dir`; the reports, in order, with `episode` set.

    `progress` is True for a progress line on stderr, False for none, or a callable (see `progress.Progress`).
    `backend` picks the bag reader: "auto", "rosbags" or "rosbag2_py" (see `bag_reader`).
    Raises DatasetError if `output_dir` cannot take episodes, ValueError if `backend` is unusable, and
    ConversionError if any bag is refused (then nothing is written) or an episode fails to write (that episode is
    aborted; the error lists the episodes written before it).
    """
    report_progress = _progress_fn(progress)
    writer = DatasetWriter(Path(output_dir))
    writer.preflight()
    plans = _validate_all(bags, report_progress, backend)
    converted: list[ConversionReport] = []
    for plan in plans:
        try:
            converted.append(_write_episode(plan, writer, report_progress, backend))
        except BagError as exc:
            raise ConversionError([exc], converted) from exc
        except Exception as exc:
            error = BagError(plan.bag, f"writing its episode failed, so it was aborted: {type(exc).__name__}: {exc}")
            raise ConversionError([error], converted) from exc
    return converted


def _validate_all(bags: Sequence[Path], progress: Progress | None, backend: str) -> list[_Plan]:
    paths = [Path(bag) for bag in bags]
    if not paths:
        raise ValueError("no bags given")
    available_backend(backend)  # an unusable reader is one error, not one per bag
    plans: list[_Plan] = []
    errors: list[BagError] = []
    seen: set[Path] = set()
    for path in paths:
        key = path.resolve()
        if key in seen:
            errors.append(BagError(path, "is given more than once"))
            continue
        seen.add(key)
        try:
            plans.append(_validate(path, progress, backend))
        except BagError as exc:
            errors.append(exc)
    if errors:
        raise ConversionError(errors)
    return plans


def _validate(path: Path, progress: Progress | None, backend: str) -> _Plan:
    with open_bag(path, backend) as source:
        report = ConversionReport(source.path, source.backend, source.storage)
        rules = _choose_topics(source, report)
        _require_topics(source, rules)
        objects: list[dict[str, Any]] = []
        skew: list[int] = []
        for _ in _samples(source, rules, report, "validating", progress, objects, skew):
            pass
        _check_counts(source, report)
        _require_samples(source.path, report, rules)
        _warn_clock_skew(report, rules, skew)
        statics, notes = episode_statics(source.custom_data, objects)
        report.warnings.extend(notes)
        if source.path.is_file() and not source.custom_data:
            report.warnings.append(
                "a lone storage file has no metadata.yaml, so no custom_data: statics come from /episode/metadata only"
            )
        statics.setdefault("ros.bag", source.path.name)
        if source.ros_distro:
            statics.setdefault("ros.distro", source.ros_distro)
        report.statics = _checked_statics(source.path, statics, report)
        return _Plan(source.path, rules, report, report.statics)


def _choose_topics(source: OpenBag, report: ConversionReport) -> dict[str, topics.TopicRule]:
    rules: dict[str, topics.TopicRule] = {}
    for name, info in sorted(source.topics.items()):
        if name == topics.METADATA_TOPIC:
            rule = topics.TopicRule(topics.STRING, (), lambda msg: ())
        else:
            rule = topics.rule_for(name)
        if rule is None:
            known = info.msgtype in topics.known_types()
            reason = "no dataset signal for this topic" if known else "message type unknown to the converter"
            report.skipped.append(SkippedTopic(name, info.msgtype, info.count, reason))
        elif rule.msgtype != info.msgtype:
            reason = f"expected {rule.msgtype}, so it cannot be read as {', '.join(rule.signals) or 'metadata'}"
            report.skipped.append(SkippedTopic(name, info.msgtype, info.count, reason))
        elif unusable := _unusable_signal_name(rule):
            report.skipped.append(SkippedTopic(name, info.msgtype, info.count, unusable))
        else:
            rules[name] = rule
            report.topics[name] = TopicReport(name, info.msgtype, declared=info.count)
    return rules


def _unusable_signal_name(rule: topics.TopicRule) -> str:
    for signal in rule.signals:
        try:
            layout.check_signal_name(signal)
        except ValueError as exc:
            return str(exc)
    return ""


def _require_topics(source: OpenBag, rules: dict[str, topics.TopicRule]) -> None:
    problems = []
    if topics.JOINT_STATES_TOPIC not in rules:
        found = source.topics.get(topics.JOINT_STATES_TOPIC)
        if found is None:
            problems.append(f"it has no {topics.JOINT_STATES_TOPIC} topic")
        else:
            kind = found.msgtype or "of mixed types"
            problems.append(f"its {topics.JOINT_STATES_TOPIC} is {kind}, not {topics.JOINT_STATE}")
    if not any(rule.msgtype == topics.IMAGE for rule in rules.values()):
        problems.append(f"it has no camera topic (/camera/<name>/image_raw, {topics.IMAGE})")
    if problems:
        required = f"{topics.JOINT_STATES_TOPIC} and at least one camera are required"
        raise BagError(source.path, f"refused: {' and '.join(problems)}; {required}")


def _samples(
    source: OpenBag,
    rules: dict[str, topics.TopicRule],
    report: ConversionReport,
    phase: str,
    progress: Progress | None,
    metadata_objects: list[dict[str, Any]] | None = None,
    skew: list[int] | None = None,
    pack_frames: bool = False,
) -> Iterator[tuple[str, Any, int]]:
    """(signal, value, ts_ns) for every sample of the bag in receive order, counting into `report` as it goes.

    Frames are views into the message buffers unless `pack_frames` asks for contiguous copies ready to encode.
    """
    wanted = {name: rule for name, rule in rules.items() if metadata_objects is not None or rule.signals}
    total = sum(report.topics[name].declared for name in wanted)
    for done, (topic, received_ns, raw) in enumerate(source.messages(wanted), start=1):
        if progress is not None:
            progress(source.path, phase, done, total)
        rule = wanted[topic]
        topic_report = report.topics[topic]
        topic_report.messages += 1
        where = f"{topic} message {topic_report.messages} (received at {received_ns} ns)"
        try:
            msg = topics.decode(raw, rule.msgtype)
        except Exception as exc:  # rosbags raises assorted errors on malformed CDR
            raise BagError(source.path, f"{where} cannot be decoded as {rule.msgtype}: {exc}") from exc
        if topic == topics.METADATA_TOPIC:
            try:
                metadata_objects.append(parse_metadata_message(msg.data))
            except ValueError as exc:
                raise BagError(source.path, f"{where} {exc}") from None
            continue
        stamp = topics.header_stamp_ns(msg)
        if stamp is not None:
            topic_report.header_stamped += 1
            if skew is not None and len(skew) < _SKEW_SAMPLES:
                skew.append(stamp - received_ns)
        ts = stamp if stamp is not None else received_ns
        try:
            samples = rule.samples(msg)
        except topics.MessageError as exc:
            raise BagError(source.path, f"{where}: {exc}") from None
        if not samples:
            topic_report.ignored += 1
            continue
        accepted = False
        for sample in samples:
            signal, value = sample[0], sample[1]
            if rule.self_timed:
                ts = sample[2]
            signal_report = report.signal(signal)
            if not signal_report.admit(ts):
                continue
            if rule.msgtype == topics.IMAGE:
                _check_frame(source.path, signal_report, value, where)
                if pack_frames:
                    value = topics.packed_rgb(value)
            accepted = True
            yield signal, value, ts
        if accepted:
            topic_report.accept(ts)


def _check_frame(bag: Path, signal_report: SignalReport, frame: np.ndarray, where: str) -> None:
    height, width = frame.shape[:2]
    if signal_report.frame_size is None:
        if height % 2 or width % 2:
            raise BagError(bag, f"{where}: {width}x{height} frames cannot be H.264 yuv420p video (odd size)")
        signal_report.frame_size = (width, height)
    elif signal_report.frame_size != (width, height):
        first = signal_report.frame_size
        raise BagError(bag, f"{where}: frame is {width}x{height}, earlier frames are {first[0]}x{first[1]}")


def _check_counts(source: OpenBag, report: ConversionReport) -> None:
    for name, topic in sorted(report.topics.items()):
        if topic.messages != topic.declared:
            raise BagError(
                source.path,
                f"{name}: the bag declares {topic.declared} messages but {topic.messages} could be read; "
                "it is truncated or corrupt",
            )


def _require_samples(bag: Path, report: ConversionReport, rules: dict[str, topics.TopicRule]) -> None:
    if not report.signal("robot_state.q").samples:
        joints = " or ".join(", ".join(joints) for joints in topics.ARM_JOINT_SETS)
        raise BagError(bag, f"refused: {topics.JOINT_STATES_TOPIC} has no message naming {joints}")
    cameras = [rule.signals[0] for rule in rules.values() if rule.msgtype == topics.IMAGE]
    if not any(report.signals.get(camera) and report.signals[camera].samples for camera in cameras):
        raise BagError(bag, f"refused: its camera topics hold no frames ({', '.join(sorted(cameras))})")


def _warn_clock_skew(report: ConversionReport, rules: dict[str, topics.TopicRule], skew: list[int]) -> None:
    if not skew:
        return
    offset = statistics.median(skew)
    unstamped = sorted(
        name
        for name, topic in report.topics.items()
        if rules[name].signals and topic.messages and not topic.header_stamped
    )
    if abs(offset) > CLOCK_SKEW_WARNING_NS and unstamped:
        report.warnings.append(
            f"header stamps differ from receive times by {offset / 1e9:+.3f} s (median): {', '.join(unstamped)} "
            "are timed by receive time and will not line up with stamped topics (use_sim_time mismatch?)"
        )


def _checked_statics(bag: Path, statics: dict[str, Any], report: ConversionReport) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in statics.items():
        if not key:
            raise BagError(bag, "episode metadata has an empty key")
        if key in report.signals:
            raise BagError(bag, f"episode metadata key {key!r} is also a signal's name")
        try:
            checked[key] = normalize_static(key, value)
        except InvalidSampleError as exc:
            raise BagError(bag, f"episode metadata: {exc}") from None
    return checked


def _write_episode(plan: _Plan, writer: DatasetWriter, progress: Progress | None, backend: str) -> ConversionReport:
    with open_bag(plan.bag, backend) as source:
        report = ConversionReport(source.path, source.backend, source.storage)
        for name, validated in plan.report.topics.items():
            report.topics[name] = TopicReport(name, validated.msgtype, declared=validated.declared)
        episode = writer.new_episode()
        try:
            for key, value in plan.statics.items():
                episode.set_static(key, value)
            # Reading and encoding take turns on one thread. A reader thread feeding a queue measured about 30%
            # slower (wall and CPU, 900 frames at 320x240, other jobs loading the 2 cores): its GIL hand-offs cost
            # more than overlapping with libx264, which encodes without the GIL, gained.
            derived = DerivedStatics()
            for signal, value, ts in _samples(source, plan.rules, report, "converting", progress, pack_frames=True):
                episode.append(signal, value, ts)
                derived.add(signal, value, ts)
            for key, value in derived.statics().items():
                if key not in plan.statics:
                    episode.set_static(key, value)
            expected = {name: s.samples for name, s in plan.report.signals.items() if s.samples}
            written = {name: s.samples for name, s in report.signals.items() if s.samples}
            if written != expected:
                raise BagError(plan.bag, "changed between validation and conversion; convert it again")
            plan.report.episode = episode.finish()
        except BaseException:
            episode.abort()
            raise
    return plan.report
