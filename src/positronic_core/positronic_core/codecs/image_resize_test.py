import numpy as np
import pytest
from PIL import Image

from positronic_core.codecs.image_resize import fitted_size, resize_bilinear, resize_with_padding


def _pil_resize_with_padding(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Upstream Positronic's PIL implementation, the reference our numpy version must reproduce."""
    in_height, in_width = image.shape[:2]
    ratio = max(in_width / width, in_height / height)
    new_width, new_height = int(in_width / ratio), int(in_height / ratio)
    resized = Image.fromarray(image).resize((new_width, new_height), resample=Image.Resampling.BILINEAR)
    canvas = Image.new(resized.mode, (width, height), 0)
    canvas.paste(resized, (int((width - new_width) / 2), int((height - new_height) / 2)))
    return np.array(canvas)


@pytest.mark.parametrize(
    ("in_size", "out_size"),
    [((320, 240), (224, 224)), ((640, 480), (224, 224)), ((1280, 720), (224, 224)), ((300, 100), (224, 224)),
     ((33, 17), (224, 224)), ((320, 240), (512, 512)), ((320, 240), (128, 96)), ((224, 160), (224, 224))],
)
def test_matches_pil_bit_for_bit(in_size, out_size):
    width, height = in_size
    image = np.random.default_rng(width * height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    ours = resize_with_padding(image, *out_size)
    assert ours.dtype == np.uint8 and ours.shape == (out_size[1], out_size[0], 3)
    np.testing.assert_array_equal(ours, _pil_resize_with_padding(image, *out_size))


def test_exact_size_is_returned_unchanged():
    image = np.zeros((224, 224, 3), dtype=np.uint8)
    assert resize_with_padding(image, 224, 224) is image


def test_landscape_frame_is_padded_top_and_bottom():
    image = np.full((240, 320, 3), 200, dtype=np.uint8)
    out = resize_with_padding(image, 224, 224)
    assert fitted_size(320, 240, 224, 224) == (224, 168)
    assert np.all(out[:28] == 0) and np.all(out[196:] == 0)
    assert np.all(out[28:196] == 200)  # a flat colour survives the filter exactly


def test_portrait_frame_is_padded_left_and_right():
    image = np.full((320, 240, 3), 50, dtype=np.uint8)
    out = resize_with_padding(image, 224, 224)
    assert fitted_size(240, 320, 224, 224) == (168, 224)
    assert np.all(out[:, :28] == 0) and np.all(out[:, 196:] == 0)
    assert np.all(out[:, 28:196] == 50)


def test_small_image_is_upscaled_to_fit():
    image = np.random.default_rng(0).integers(0, 256, (50, 100, 3), dtype=np.uint8)
    out = resize_with_padding(image, 224, 224)
    assert fitted_size(100, 50, 224, 224) == (224, 112)
    assert np.all(out[:56] == 0) and np.all(out[168:] == 0)
    np.testing.assert_array_equal(out, _pil_resize_with_padding(image, 224, 224))


def test_resize_bilinear_keeps_channels_apart():
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    image[..., 1] = 255
    out = resize_bilinear(image, 30, 20)
    assert out.shape == (20, 30, 3)
    assert np.all(out[..., 0] == 0) and np.all(out[..., 1] == 255) and np.all(out[..., 2] == 0)


@pytest.mark.parametrize(
    ("image", "message"),
    [(np.zeros((10, 10, 3), dtype=np.float32), "uint8"), (np.zeros((10, 10), dtype=np.uint8), "height, width"),
     (np.zeros((0, 10, 3), dtype=np.uint8), "height, width")],
)
def test_bad_images_are_refused(image, message):
    with pytest.raises(ValueError, match=message):
        resize_with_padding(image, 224, 224)


def test_image_that_vanishes_is_refused():
    with pytest.raises(ValueError, match="leaves nothing"):
        resize_with_padding(np.zeros((1000, 1, 3), dtype=np.uint8), 224, 224)


def test_downscale_to_fit_keeps_aspect_and_leaves_small_images_alone():
    from positronic_core.codecs.image_resize import downscale_to_fit

    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    small = downscale_to_fit(image, 320)
    assert small.shape == (240, 320, 3)
    np.testing.assert_array_equal(small, resize_bilinear(image, 320, 240))
    assert downscale_to_fit(image, 640) is image
    assert downscale_to_fit(np.zeros((600, 100, 3), np.uint8), 300).shape == (300, 50, 3)
