"""LeRobot ACT checkpoints served in-process with LeRobot 0.4's `ACTPolicy` and its saved pre/post-processors.

Two checkpoint formats load (both are a `pretrained_model` directory):
- **LeRobot 0.4**: `config.json`, `model.safetensors` and the processor pipelines saved beside them
  (`policy_preprocessor.json`, `policy_postprocessor.json` + their `.safetensors` state), which hold the
  normalization statistics.
- **LeRobot 0.3.3** (upstream Positronic's ACT format): no processor files; the statistics are buffers inside
  `model.safetensors` (`normalize_inputs.buffer_observation_state.mean`, ...). LeRobot 0.4 loads such a file only
  with `strict=False`, which silently drops the normalization (every output is then off by the action mean). We
  never do that: the checkpoint is converted once, with LeRobot's own migration functions
  (`lerobot.processor.migrate_policy_normalization`), into a cache directory, and the converted copy loads
  strictly. If the conversion cannot account for every statistic, loading fails with the reason.

Weights always load with `strict=True`, and the backbone is built without torchvision's ImageNet weights
(`pretrained_backbone_weights=None`): the checkpoint supplies every backbone tensor, so downloading them would be
wasted work and a network access at run time.

Serving is stateless: `ActModel.infer_batch` returns, for each observation, the whole chunk the model predicts
(`n_action_steps` actions, which ACT configs cap at `chunk_size`; LeRobot's own `select_action` plays the same
prefix). No action queue survives between calls, so the backend needs no per-session `reset`: a new session is
just the next request.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from positronic_core.codecs import CODECS, Codec, ObservationError, get_codec
from positronic_core.models.errors import ModelLoadError
from positronic_core.robot.commands import Action

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PREPROCESSOR_FILE = "policy_preprocessor.json"
POSTPROCESSOR_FILE = "policy_postprocessor.json"

FORMAT_LEROBOT_0_4 = "lerobot-0.4"
FORMAT_LEROBOT_0_3_3 = "lerobot-0.3.3"

# Where LeRobot 0.3.3 kept normalization statistics inside the policy's state dict.
_LEGACY_STATS_PREFIXES = ("normalize_inputs.", "normalize_targets.", "unnormalize_outputs.")
# Bump when the migration output changes, so that stale cached conversions are not reused.
_MIGRATION_VERSION = 1

DEFAULT_MAX_BATCH_SIZE = 8


class CheckpointError(ModelLoadError):
    """A checkpoint that cannot be served as asked; the message names the file, feature or statistic at fault."""


class MissingDependencyError(ImportError):
    """torch or LeRobot does not import; the message says what to install."""


def require_act_dependencies() -> None:
    """`MissingDependencyError` unless torch and LeRobot's ACT import.

    This module itself imports without them (so that the policy server and the command lines can start), which
    is why a caller that is about to need them asks here first, before it starts serving or recording.
    """
    try:
        import torch  # noqa: F401
        from lerobot.policies.act.modeling_act import ACTPolicy  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError(
            f"LeRobot ACT needs torch and LeRobot, which do not import here ({e}): `make test` installs them into "
            ".venv, or run `pip install -e src/positronic_core[act]` and then `pip install --no-deps lerobot==0.4.4`"
        ) from None


class CodecMismatchError(CheckpointError):
    """The codec's features are not the checkpoint's."""


def _progress_or_log(progress: Callable[[str], None] | None) -> Callable[[str], None]:
    return progress if progress is not None else logger.info


def detect_checkpoint_format(path: Path) -> str:
    """`FORMAT_LEROBOT_0_4` or `FORMAT_LEROBOT_0_3_3` for a `pretrained_model` directory, else `CheckpointError`."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory {path} does not exist")
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if not (path / name).is_file()]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {' and '.join(missing)} (a LeRobot pretrained_model directory "
                              f"holds {CONFIG_FILE} and {WEIGHTS_FILE})")
    processors = [(path / name).is_file() for name in (PREPROCESSOR_FILE, POSTPROCESSOR_FILE)]
    if all(processors):
        return FORMAT_LEROBOT_0_4
    if any(processors):
        present, absent = (PREPROCESSOR_FILE, POSTPROCESSOR_FILE) if processors[0] else (
            POSTPROCESSOR_FILE, PREPROCESSOR_FILE)
        raise CheckpointError(f"checkpoint {path} has {present} but not {absent}; both processor pipelines are needed")
    if any(key.startswith(_LEGACY_STATS_PREFIXES) for key in _safetensors_keys(path / WEIGHTS_FILE)):
        return FORMAT_LEROBOT_0_3_3
    raise CheckpointError(
        f"checkpoint {path} has neither processor files ({PREPROCESSOR_FILE}, {POSTPROCESSOR_FILE}) nor normalization "
        f"buffers in {WEIGHTS_FILE}: its normalization statistics are missing, and serving it without them would "
        "give wrong actions")


def _safetensors_keys(path: Path) -> list[str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return list(f.keys())
    except Exception as e:  # safetensors raises its own error types for truncated or foreign files
        raise CheckpointError(f"cannot read {path}: {e}") from e


# ---------------------------------------------------------------------------------------------------------------
# LeRobot 0.3.3 -> 0.4 conversion


def default_cache_dir() -> Path:
    """`$POSITRONIC_ROS_CACHE`, else `$XDG_CACHE_HOME/positronic_ros`, else `~/.cache/positronic_ros`."""
    if os.environ.get("POSITRONIC_ROS_CACHE"):
        return Path(os.environ["POSITRONIC_ROS_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "positronic_ros"


def _migration_key(source: Path) -> str:
    import lerobot

    facts = {"source": str(source.resolve()), "migration": _MIGRATION_VERSION,
             "lerobot": getattr(lerobot, "__version__", "unknown")}
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        stat = (source / name).stat()
        facts[name] = [stat.st_size, stat.st_mtime_ns]
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:24]


def migrated_checkpoint(source: Path, cache_dir: Path | None = None,
                        progress: Callable[[str], None] | None = None) -> Path:
    """The LeRobot 0.4 conversion of the 0.3.3 checkpoint `source`, converted now unless already cached.

    The cache entry is keyed by the source's path, size and modification time, so a rewritten checkpoint is
    converted again; it is written under a temporary name and renamed, so concurrent loaders never see half of it.
    """
    source = Path(source)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / "migrated" / _migration_key(source)
    if (target / PREPROCESSOR_FILE).is_file():
        return target
    _progress_or_log(progress)(f"converting LeRobot 0.3.3 checkpoint {source} to LeRobot 0.4 format in {target}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"cannot create the conversion cache {target.parent}: {e} "
                              "(set POSITRONIC_ROS_CACHE to a writable directory)") from e
    scratch = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        convert_lerobot_0_3_3(source, scratch)
        (scratch / "positronic_source.json").write_text(json.dumps({"source": str(source.resolve())}) + "\n")
        try:
            os.rename(scratch, target)
        except OSError:
            if not (target / PREPROCESSOR_FILE).is_file():  # not another loader winning the race
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def convert_lerobot_0_3_3(source: Path, dest: Path) -> None:
    """Write a LeRobot 0.4 checkpoint (model + processors) for the 0.3.3 checkpoint `source` into `dest`.

    The steps are those of `python -m lerobot.processor.migrate_policy_normalization`, called in-process with the
    module's own functions, minus its last step (a model card whose validation calls the Hugging Face Hub). Where
    the script only warns, this refuses: every normalized feature must have finite statistics and every weight
    must land in the new model.
    """
    import torch
    from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
    from lerobot.policies.factory import get_policy_class, make_policy_config, make_pre_post_processors
    from lerobot.processor import migrate_policy_normalization as migration
    from safetensors.torch import load_file

    source, dest = Path(source), Path(dest)
    try:
        config = json.loads((source / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read {source / CONFIG_FILE}: {e}") from e
    policy_type = config.get("type")
    if not policy_type:
        raise CheckpointError(f"{source / CONFIG_FILE} has no policy 'type'")
    try:
        state_dict = load_file(str(source / WEIGHTS_FILE))
    except Exception as e:
        raise CheckpointError(f"cannot read {source / WEIGHTS_FILE}: {e}") from e

    chatter = io.StringIO()  # the migration functions print their progress; keep it for the debug log
    with contextlib.redirect_stdout(chatter):
        stats = _rename_stats_to_features(migration.extract_normalization_stats(state_dict), config, source)
        _, norm_map = migration.detect_features_and_norm_modes(config, stats)
        weights = migration.clean_state_dict(migration.remove_normalization_layers(state_dict), remove_str="._orig_mod")

        arguments = {k: v for k, v in config.items() if k not in ("type", "normalization_mapping")}
        for key in ("input_features", "output_features"):
            if key in arguments:
                declared = arguments[key]
                features = migration.convert_features_to_policy_features(declared)
                # The script guesses each feature's type from its name; the config states it, so keep that.
                arguments[key] = {
                    name: PolicyFeature(FeatureType(declared[name]["type"]), feature.shape)
                    if isinstance(declared[name], Mapping) and "type" in declared[name] else feature
                    for name, feature in features.items()
                }
        arguments["normalization_mapping"] = norm_map
        # Every backbone tensor comes from the checkpoint: don't fetch torchvision's ImageNet weights first.
        if "pretrained_backbone_weights" in arguments:
            arguments["pretrained_backbone_weights"] = None
        try:
            policy_config = make_policy_config(policy_type, **arguments)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"LeRobot 0.4 cannot build a {policy_type!r} config from {source / CONFIG_FILE}: "
                                  f"{e}") from e
        _check_stats_cover_features(stats, policy_config, NormalizationMode, source)

        policy = get_policy_class(policy_type)(policy_config)
        try:
            # The script loads with strict=False and warns about leftovers; a leftover here is a wrong model.
            policy.load_state_dict(weights, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"the weights of {source / WEIGHTS_FILE} do not fit a LeRobot 0.4 {policy_type!r} "
                                  f"policy: {e}") from e
        policy.to(torch.float32)
        preprocessor, postprocessor = make_pre_post_processors(policy_cfg=policy_config, dataset_stats=stats)
        dest.mkdir(parents=True, exist_ok=True)
        preprocessor.save_pretrained(dest)
        postprocessor.save_pretrained(dest)
        policy.save_pretrained(dest)
    logger.debug("LeRobot migration output for %s:\n%s", source, chatter.getvalue())


def _rename_stats_to_features(stats: dict[str, dict[str, Any]], config: Mapping[str, Any],
                              source: Path) -> dict[str, dict[str, Any]]:
    """Map the migration's feature names back to the config's.

    LeRobot stored `observation.images.wrist_cam` as `buffer_observation_images_wrist_cam`, and the migration turns
    every `_` back into `.`, which is wrong for names holding an underscore; the config says what the names are.
    """
    declared = [*config.get("input_features", {}), *config.get("output_features", {})]
    by_flat_name = {name.replace("_", "."): name for name in declared}
    renamed = {}
    for flat, values in stats.items():
        if flat not in by_flat_name:
            raise CheckpointError(f"{source / WEIGHTS_FILE} holds normalization statistics for {flat!r}, which is "
                                  f"not a feature of {source / CONFIG_FILE} ({', '.join(declared)})")
        renamed[by_flat_name[flat]] = values
    return renamed


def _check_stats_cover_features(stats: Mapping[str, Mapping[str, Any]], policy_config: Any,
                                normalization_mode: Any, source: Path) -> None:
    needed = {normalization_mode.MEAN_STD: ("mean", "std"), normalization_mode.MIN_MAX: ("min", "max")}
    features = {**policy_config.input_features, **policy_config.output_features}
    for name, feature in features.items():
        mode = policy_config.normalization_mapping.get(feature.type, normalization_mode.IDENTITY)
        if mode is normalization_mode.IDENTITY:
            continue
        if mode not in needed:
            raise CheckpointError(f"{source}: feature {name!r} uses normalization {mode.value}, which LeRobot 0.3.3 "
                                  "checkpoints do not have")
        for stat in needed[mode]:
            value = stats.get(name, {}).get(stat)
            if value is None:
                raise CheckpointError(f"{source / WEIGHTS_FILE} has no {stat!r} for {name!r}, which is normalized "
                                      f"with {mode.value}; refusing to serve it un-normalized")
            if not bool(np.all(np.isfinite(np.asarray(value)))):
                raise CheckpointError(f"{source / WEIGHTS_FILE}: the {stat!r} of {name!r} is not finite (the buffer "
                                      "was never filled from dataset statistics)")


# ---------------------------------------------------------------------------------------------------------------
# Loading and inference


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise CheckpointError(f"unknown device {device!r} (use cpu, cuda, cuda:N, mps or auto)") from e
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise CheckpointError(f"device {device!r} asked for, but torch sees no CUDA device")
    if parsed.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise CheckpointError(f"device {device!r} asked for, but MPS is not available")
    return device


def _feature_shapes(features: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    return {name: tuple(int(d) for d in feature.shape) for name, feature in features.items()}


def _format_features(features: Mapping[str, tuple[int, ...]]) -> str:
    return "{" + ", ".join(f"{name}: {list(shape)}" for name, shape in features.items()) + "}"


def check_codec_fits(codec: Codec, policy_config: Any, path: Path) -> None:
    """`CodecMismatchError` unless the codec produces exactly the checkpoint's input and output features."""
    expected_in = _feature_shapes(policy_config.input_features)
    expected_out = _feature_shapes(policy_config.output_features)
    if expected_in == codec.input_features and expected_out == codec.output_features:
        return
    fitting = [name for name, other in CODECS.items()
               if other.input_features == expected_in and other.output_features == expected_out]
    hint = f"codecs that fit it: {', '.join(fitting)}" if fitting else "no known codec fits it"
    raise CodecMismatchError(
        f"codec {codec.name!r} does not fit checkpoint {path}: the checkpoint expects inputs "
        f"{_format_features(expected_in)} and outputs {_format_features(expected_out)}; the codec gives inputs "
        f"{_format_features(codec.input_features)} and outputs {_format_features(codec.output_features)} ({hint})")


def _check_processor_stats(preprocessor: Any, postprocessor: Any, policy_config: Any, path: Path) -> None:
    """LeRobot passes a feature without statistics through un-normalized, silently; refuse such a checkpoint."""
    from lerobot.configs.types import NormalizationMode
    from lerobot.processor import NormalizerProcessorStep, UnnormalizerProcessorStep

    needed = {NormalizationMode.MEAN_STD: ("mean", "std"), NormalizationMode.MIN_MAX: ("min", "max"),
              NormalizationMode.QUANTILES: ("q01", "q99"), NormalizationMode.QUANTILE10: ("q10", "q90")}
    checks = [(preprocessor, NormalizerProcessorStep, {**policy_config.input_features}, PREPROCESSOR_FILE),
              (postprocessor, UnnormalizerProcessorStep, {**policy_config.output_features}, POSTPROCESSOR_FILE)]
    for pipeline, step_type, features, filename in checks:
        steps = [step for step in pipeline.steps if isinstance(step, step_type)]
        normalized = {name: f for name, f in features.items()
                      if policy_config.normalization_mapping.get(f.type, NormalizationMode.IDENTITY)
                      is not NormalizationMode.IDENTITY}
        if not normalized:
            continue
        if not steps:
            raise CheckpointError(f"{path / filename} has no {step_type.__name__}, but the config normalizes "
                                  f"{', '.join(normalized)}")
        stats = steps[0].stats or {}
        for name, feature in normalized.items():
            mode = policy_config.normalization_mapping[feature.type]
            for stat in needed.get(mode, ()):
                value = stats.get(name, {}).get(stat)
                if value is None:
                    raise CheckpointError(f"{path / filename} has no {stat!r} statistic for {name!r}; LeRobot would "
                                          "pass it through un-normalized and the actions would be wrong")
                if not bool(np.all(np.isfinite(np.asarray(value)))):
                    raise CheckpointError(f"{path / filename}: the {stat!r} statistic of {name!r} is not finite")


def load_act_checkpoint(path: Path | str, codec: Codec | str, device: str = "cpu", *,
                        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE, cache_dir: Path | None = None,
                        progress: Callable[[str], None] | None = None) -> ActModel:
    """Load an ACT `pretrained_model` directory (LeRobot 0.4, or 0.3.3 converted on the way) for serving.

    `device` is cpu, cuda, cuda:N, mps or auto. `cache_dir` holds 0.3.3 conversions (default: see
    `default_cache_dir`). Raises `CheckpointError` (`CodecMismatchError` for a codec that does not fit), or
    `MissingDependencyError` without torch or LeRobot.
    """
    require_act_dependencies()
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors

    started = time.perf_counter()
    report = _progress_or_log(progress)
    codec = get_codec(codec)
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
    source = Path(path).expanduser()
    checkpoint_format = detect_checkpoint_format(source)
    device = _resolve_device(device)
    model_dir = source
    if checkpoint_format == FORMAT_LEROBOT_0_3_3:
        model_dir = migrated_checkpoint(source, cache_dir, report)

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # draccus and LeRobot print while loading
            config = PreTrainedConfig.from_pretrained(str(model_dir))
    except Exception as e:
        raise CheckpointError(f"cannot read the policy config in {model_dir / CONFIG_FILE}: {e}") from e
    if not isinstance(config, ACTConfig):
        raise CheckpointError(f"checkpoint {source} holds a {getattr(config, 'type', type(config).__name__)!r} "
                              "policy; this backend serves ACT")
    check_codec_fits(codec, config, source)
    config.device = device
    config.pretrained_backbone_weights = None  # the checkpoint holds every backbone weight (see module docstring)

    report(f"loading ACT weights from {model_dir}")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            policy = ACTPolicy.from_pretrained(str(model_dir), config=config, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"the weights in {model_dir / WEIGHTS_FILE} do not match its {CONFIG_FILE}: {e}") from e
    try:
        overrides = {"device_processor": {"device": device}} if _has_step(model_dir, "device_processor") else {}
        preprocessor, postprocessor = make_pre_post_processors(
            policy.config, pretrained_path=str(model_dir), preprocessor_overrides=overrides)
    except Exception as e:
        raise CheckpointError(f"cannot load the processor pipelines of {model_dir}: {e}") from e
    _check_processor_stats(preprocessor, postprocessor, policy.config, model_dir)
    policy.eval()
    model = ActModel(policy, preprocessor, postprocessor, codec, checkpoint_path=source, device=device,
                     max_batch_size=max_batch_size, checkpoint_format=checkpoint_format)
    logger.info("loaded ACT %s (%s) on %s in %.1f s", source, checkpoint_format, device,
                time.perf_counter() - started)
    return model


def _has_step(model_dir: Path, registry_name: str) -> bool:
    try:
        steps = json.loads((model_dir / PREPROCESSOR_FILE).read_text()).get("steps", [])
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read {model_dir / PREPROCESSOR_FILE}: {e}") from e
    return any(step.get("registry_name") == registry_name for step in steps)


class ActModel:
    """A loaded ACT checkpoint: one batched forward pass per `infer_batch` call (see the module docstring)."""

    def __init__(self, policy: Any, preprocessor: Any, postprocessor: Any, codec: Codec, *, checkpoint_path: Path,
                 device: str, max_batch_size: int, checkpoint_format: str) -> None:
        self.codec = codec
        self.max_batch_size = max_batch_size
        self.checkpoint_format = checkpoint_format
        config = policy.config
        self.chunk_size = min(int(config.chunk_size), int(config.n_action_steps))
        self.meta: dict[str, Any] = {
            "type": "act",
            "checkpoint_path": str(checkpoint_path),
            **codec.meta,
            "chunk_size": self.chunk_size,
            "device": device,
            "checkpoint_format": checkpoint_format,
        }
        self._policy = policy
        self._preprocessor = preprocessor
        self._postprocessor = postprocessor
        self._device = device
        self._lock = threading.Lock()

    def infer_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[list[Action]]:
        """One chunk of `chunk_size` actions per observation, in order.

        Up to `max_batch_size` observations run as one forward pass (a longer list runs in slices of that size).
        A bad observation raises `ObservationError` whose `index` is its position in `observations`.
        """
        if self._policy is None:
            raise RuntimeError("this ACT model is closed")
        chunks: list[list[Action]] = []
        for start in range(0, len(observations), self.max_batch_size):
            part = observations[start : start + self.max_batch_size]
            try:
                batch = self.codec.encode(part)
            except ObservationError as e:
                raise ObservationError(e.detail, start + (e.index or 0)) from None
            outputs = self._forward(batch)
            chunks.extend(self.codec.decode(outputs[i], observation) for i, observation in enumerate(part))
        return chunks

    def _forward(self, batch: Mapping[str, Any]) -> np.ndarray:
        import torch

        inputs = {key: torch.from_numpy(value) if isinstance(value, np.ndarray) else value
                  for key, value in batch.items()}
        with self._lock, torch.inference_mode():
            model_inputs = self._preprocessor(inputs)
            actions = self._policy.predict_action_chunk(model_inputs)[:, : self.chunk_size]
            actions = self._postprocessor(actions)
        return actions.detach().to("cpu", torch.float64).numpy()

    def close(self) -> None:
        with self._lock:
            if self._policy is None:
                return
            self._policy = self._preprocessor = self._postprocessor = None
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
