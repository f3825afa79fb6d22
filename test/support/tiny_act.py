"""Tiny, freshly initialised LeRobot ACT checkpoints for tests: no download, about a second to build.

`make_tiny_act_checkpoint` writes the LeRobot training layout `dest/checkpoints/<step>/pretrained_model/` in either
format the lerobot backend reads:
- "0.4.4": `ACTPolicy.save_pretrained` plus the pre/post-processor pipelines' own `save_pretrained`;
- "0.3.3": what LeRobot 0.3.3's `save_pretrained` writes, no processor files: a config.json with 0.3.3's fields in
  0.3.3's order, and a model.safetensors holding the weights plus the normalization buffers under 0.3.3's names
  (`normalize_inputs.buffer_<feature>.{mean,std}`, `normalize_targets.buffer_action.*`,
  `unnormalize_outputs.buffer_action.*`), as a policy trained on a GPU saves them. LeRobot 0.3.3 itself loads this
  file with `strict=True`. `shared_action_stats=True` writes the variant a CPU-resident 0.3.3 policy saves: its
  target and output buffers share memory, so safetensors stores them once, under `normalize_targets.`, with the
  `unnormalize_outputs.` names recorded as aliases in the file's metadata.

Checkpoints with the same codec and seed hold the same weights and statistics whatever their format, so a test can
check that both formats give the same chunk. The statistics are far from identity (action mean of several units),
so serving without them changes every output. Builds are cached for the test session and copied to `dest`.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from positronic_core.codecs import Codec, get_codec

FORMATS = ("0.4.4", "0.3.3")
DEFAULT_STEP = 1000
CHUNK_SIZE = 30

# LeRobot 0.4 added these config fields; 0.3.3's config.json has neither.
_FIELDS_NEW_IN_0_4 = ("use_peft", "pretrained_path")

_cache_root: Path | None = None
_built: dict[tuple[Any, ...], Path] = {}


def _session_cache() -> Path:
    global _cache_root
    if _cache_root is None:
        _cache_root = Path(tempfile.mkdtemp(prefix="tiny_act_"))
        atexit.register(shutil.rmtree, _cache_root, ignore_errors=True)
    return _cache_root


def tiny_act_stats(codec: Codec | str = "ee", seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Dataset statistics (float32) for every feature of `codec`, deterministic in `seed`."""
    codec = get_codec(codec)
    rng = np.random.default_rng(1000 + seed)
    stats: dict[str, dict[str, np.ndarray]] = {}
    (state_dim,) = codec.input_features[codec.state_feature]
    stats[codec.state_feature] = {"mean": rng.normal(0.0, 0.5, state_dim), "std": rng.uniform(0.2, 1.0, state_dim)}
    for image in codec.images:
        stats[image.feature] = {"mean": rng.uniform(0.3, 0.6, (3, 1, 1)), "std": rng.uniform(0.15, 0.3, (3, 1, 1))}
    (action_dim,) = codec.output_features[codec.action_feature]
    stats[codec.action_feature] = {"mean": rng.normal(0.0, 1.0, action_dim) + 2.0,
                                   "std": rng.uniform(0.1, 0.5, action_dim)}
    return {name: {k: v.astype(np.float32) for k, v in values.items()} for name, values in stats.items()}


def _act_config(codec: Codec) -> Any:
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.act.configuration_act import ACTConfig

    inputs = {}
    for name, shape in codec.input_features.items():
        kind = FeatureType.VISUAL if len(shape) == 3 else FeatureType.STATE
        inputs[name] = PolicyFeature(kind, shape)
    outputs = {name: PolicyFeature(FeatureType.ACTION, shape) for name, shape in codec.output_features.items()}
    return ACTConfig(
        input_features=inputs,
        output_features=outputs,
        dim_model=64,
        n_heads=4,
        dim_feedforward=256,
        n_encoder_layers=1,
        n_decoder_layers=1,
        n_vae_encoder_layers=1,
        vision_backbone="resnet18",
        pretrained_backbone_weights=None,
        chunk_size=CHUNK_SIZE,
        n_action_steps=CHUNK_SIZE,
        device="cpu",
    )


def _build(out: Path, codec: Codec, lerobot_format: str, seed: int, shared_action_stats: bool) -> None:
    import torch
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors

    config = _act_config(codec)
    stats = tiny_act_stats(codec, seed)
    torch.manual_seed(seed)
    policy = ACTPolicy(config)
    out.mkdir(parents=True)
    if lerobot_format == "0.4.4":
        torch_stats = {name: {k: torch.from_numpy(v) for k, v in values.items()} for name, values in stats.items()}
        preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=torch_stats)
        policy.save_pretrained(out)
        preprocessor.save_pretrained(out)
        postprocessor.save_pretrained(out)
    else:
        _write_0_3_3(out, policy, codec, stats, shared_action_stats)


def _write_0_3_3(out: Path, policy: Any, codec: Codec, stats: dict[str, dict[str, np.ndarray]],
                 shared_action_stats: bool) -> None:
    import torch
    from safetensors.torch import save_file

    config = policy.config
    config._save_pretrained(out)  # 0.4's writer, then reshaped into the file 0.3.3 writes
    written = json.loads((out / "config.json").read_text())
    for field in _FIELDS_NEW_IN_0_4:
        written.pop(field, None)
    # 0.3.3 declared normalization_mapping on the base config, right after n_obs_steps.
    mapping = written.pop("normalization_mapping")
    ordered: dict[str, Any] = {}
    for key, value in written.items():
        ordered[key] = value
        if key == "n_obs_steps":
            ordered["normalization_mapping"] = mapping
    (out / "config.json").write_text(json.dumps(ordered, indent=4))

    tensors = {key: value.detach().clone().contiguous() for key, value in policy.state_dict().items()}
    aliases = {}
    for name in codec.input_features:
        for stat in ("mean", "std"):
            tensors[f"normalize_inputs.buffer_{name.replace('.', '_')}.{stat}"] = torch.from_numpy(stats[name][stat])
    for name in codec.output_features:
        for stat in ("mean", "std"):
            buffer = f"buffer_{name.replace('.', '_')}.{stat}"
            tensors[f"normalize_targets.{buffer}"] = torch.from_numpy(stats[name][stat])
            if shared_action_stats:
                aliases[f"unnormalize_outputs.{buffer}"] = f"normalize_targets.{buffer}"
            else:
                tensors[f"unnormalize_outputs.{buffer}"] = torch.from_numpy(stats[name][stat].copy())
    save_file(tensors, str(out / "model.safetensors"), metadata=aliases or None)


def make_tiny_act_checkpoint(dest: Path, *, codec: Codec | str = "ee", lerobot_format: str = "0.4.4", seed: int = 0,
                             step: int = DEFAULT_STEP, shared_action_stats: bool = False) -> Path:
    """Write a tiny ACT checkpoint under `dest/checkpoints/<step, 6 digits>/pretrained_model/`; return that path."""
    if lerobot_format not in FORMATS:
        raise ValueError(f"lerobot_format must be one of {FORMATS}, got {lerobot_format!r}")
    codec = get_codec(codec)
    shared_action_stats = shared_action_stats and lerobot_format == "0.3.3"
    key = (tuple(codec.input_features.items()), tuple(codec.output_features.items()), lerobot_format, seed,
           shared_action_stats)
    if key not in _built:
        cached = _session_cache() / f"{len(_built)}"
        _build(cached, codec, lerobot_format, seed, shared_action_stats)
        _built[key] = cached
    target = Path(dest) / "checkpoints" / f"{step:06d}" / "pretrained_model"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_built[key], target)
    return target


def make_observation(seed: int = 0, *, image_size: tuple[int, int] = (320, 240), task: str = "stack the cubes"
                     ) -> dict[str, Any]:
    """A canonical observation with random but plausible values; `image_size` is (width, height)."""
    rng = np.random.default_rng(seed)
    width, height = image_size
    quat = rng.normal(size=4)
    quat /= np.linalg.norm(quat)
    return {
        "robot_state.q": rng.uniform(-1.5, 1.5, 7),
        "robot_state.dq": rng.normal(0.0, 0.1, 7),
        "robot_state.ee_pose": np.concatenate([rng.uniform(0.2, 0.6, 3), quat]),
        "grip": float(rng.uniform(0.0, 1.0)),
        "image.wrist": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        "image.exterior": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        "task": task,
    }
