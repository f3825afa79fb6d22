"""Codecs: one object per model interface, shared by training export and serving (see `codec.py`)."""

from positronic_core.codecs.catalog import CODECS, DEFAULT_ACTION_FPS, UnknownCodecError, get_codec
from positronic_core.codecs.codec import Codec, ImageInput, ObservationError, StateInput
from positronic_core.codecs.image_resize import resize_with_padding

__all__ = [
    "CODECS",
    "DEFAULT_ACTION_FPS",
    "Codec",
    "ImageInput",
    "ObservationError",
    "StateInput",
    "UnknownCodecError",
    "get_codec",
    "resize_with_padding",
]
