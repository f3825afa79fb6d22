"""What a conversion found in a bag: per-topic and per-signal counts, gaps, dropped samples, skipped topics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TopicReport:
    """One recorded topic. `ignored` messages carried nothing the dataset records (e.g. only finger joints)."""

    topic: str
    msgtype: str
    declared: int = 0
    messages: int = 0
    ignored: int = 0
    header_stamped: int = 0
    largest_gap_ns: int = 0
    last_ts_ns: int | None = field(default=None, repr=False)

    def accept(self, ts_ns: int) -> None:
        if self.last_ts_ns is not None:
            self.largest_gap_ns = max(self.largest_gap_ns, ts_ns - self.last_ts_ns)
        self.last_ts_ns = ts_ns


@dataclass
class SignalReport:
    """One dataset signal. Samples whose time repeats or precedes the previous one are dropped and counted."""

    name: str
    samples: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    frame_size: tuple[int, int] | None = None  # (width, height), cameras only

    @property
    def dropped(self) -> int:
        return self.duplicates + self.out_of_order

    def admit(self, ts_ns: int) -> bool:
        """Count a sample at `ts_ns`; False (and counted as dropped) unless it is after the previous one."""
        if self.last_ts_ns is not None and ts_ns <= self.last_ts_ns:
            if ts_ns == self.last_ts_ns:
                self.duplicates += 1
            else:
                self.out_of_order += 1
            return False
        if self.first_ts_ns is None:
            self.first_ts_ns = ts_ns
        self.last_ts_ns = ts_ns
        self.samples += 1
        return True


@dataclass(frozen=True)
class SkippedTopic:
    topic: str
    msgtype: str
    messages: int
    reason: str


@dataclass
class ConversionReport:
    """Validation findings for one bag; `episode` is set once it has been written."""

    bag: Path
    backend: str
    storage: str
    topics: dict[str, TopicReport] = field(default_factory=dict)
    signals: dict[str, SignalReport] = field(default_factory=dict)
    skipped: list[SkippedTopic] = field(default_factory=list)
    statics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    episode: Path | None = None

    def signal(self, name: str) -> SignalReport:
        report = self.signals.get(name)
        if report is None:
            report = self.signals[name] = SignalReport(name)
        return report

    @property
    def messages(self) -> int:
        return sum(topic.messages for topic in self.topics.values())

    @property
    def frames(self) -> dict[str, int]:
        """Frames per camera signal."""
        return {name: s.samples for name, s in sorted(self.signals.items()) if s.frame_size is not None}

    @property
    def dropped(self) -> int:
        return sum(signal.dropped for signal in self.signals.values())

    @property
    def duration_ns(self) -> int:
        firsts = [s.first_ts_ns for s in self.signals.values() if s.first_ts_ns is not None]
        lasts = [s.last_ts_ns for s in self.signals.values() if s.last_ts_ns is not None]
        return max(lasts) - min(firsts) if firsts else 0

    def format(self) -> str:
        """A plain-text report for a terminal."""
        target = f" -> {self.episode}" if self.episode else ""
        lines = [
            f"bag {self.bag} ({self.storage}, read with {self.backend}){target}",
            f"  {self.messages} messages, {self.duration_ns / 1e9:.2f} s",
            f"  {'topic':<36} {'type':<36} {'messages':>8} {'ignored':>8} {'largest gap':>12}",
        ]
        for name, topic in sorted(self.topics.items()):
            gap = f"{topic.largest_gap_ns / 1e6:.1f} ms" if topic.messages > 1 else "-"
            lines.append(f"  {name:<36} {topic.msgtype:<36} {topic.messages:>8} {topic.ignored:>8} {gap:>12}")
        lines.append(f"  {'signal':<36} {'samples':>8} {'duplicates':>11} {'out of order':>13}  camera")
        for name, signal in sorted(self.signals.items()):
            camera = f"{signal.frame_size[0]}x{signal.frame_size[1]}" if signal.frame_size else ""
            lines.append(
                f"  {name:<36} {signal.samples:>8} {signal.duplicates:>11} {signal.out_of_order:>13}  {camera}"
            )
        frames = ", ".join(f"{name} {count}" for name, count in self.frames.items())
        lines.append(f"  frames per camera: {frames or 'none'}")
        lines.append(f"  dropped samples (duplicate or out-of-order times): {self.dropped}")
        if self.skipped:
            lines.append("  skipped topics:")
            for skipped in self.skipped:
                lines.append(
                    f"    {skipped.topic} ({skipped.msgtype or 'mixed types'}, {skipped.messages} messages): "
                    f"{skipped.reason}"
                )
        else:
            lines.append("  skipped topics: none")
        if self.statics:
            lines.append("  statics: " + ", ".join(f"{k}={v!r}" for k, v in sorted(self.statics.items())))
        for warning in self.warnings:
            lines.append(f"  warning: {warning}")
        return "\n".join(lines)
