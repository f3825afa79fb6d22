"""Byte-level pins of the protocol v1 numpy envelope: these bytes are what upstream Positronic and openpi-client
encode and decode, so any change here breaks interoperability."""

import msgpack
import numpy as np
import pytest

from positronic_core.wire.envelope import Limits, WireError, packb, unpackb


def test_ndarray_bytes_are_pinned():
    encoded = packb(np.array([1, 2], dtype="<i2"))
    expected = (
        b"\x84"
        + b"\xc4\x0b__ndarray__" + b"\xc3"
        + b"\xc4\x04data" + b"\xc4\x04\x01\x00\x02\x00"
        + b"\xc4\x05dtype" + b"\xa3<i2"
        + b"\xc4\x05shape" + b"\x91\x02"
    )
    assert encoded == expected


def test_npgeneric_bytes_are_pinned():
    encoded = packb(np.float32(1.5))
    expected = (
        b"\x83"
        + b"\xc4\x0d__npgeneric__" + b"\xc3"
        + b"\xc4\x04data" + b"\xcb" + np.float64(1.5).byteswap().tobytes()
        + b"\xc4\x05dtype" + b"\xa3<f4"
    )
    assert encoded == expected
    decoded = unpackb(encoded)
    assert decoded == np.float32(1.5) and decoded.dtype == np.float32


def test_observation_round_trip_keeps_dtypes_shapes_and_values():
    obs = {
        "robot_state.q": np.arange(7, dtype=np.float64),
        "robot_state.ee_pose": np.array([0.4, 0, 0.3, 1, 0, 0, 0], dtype=np.float32),
        "grip": np.float32(0.25),
        "image.wrist": np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8),
        "task": "Pick up the green cube and place it on the red cube.",
    }
    back = unpackb(packb(obs))
    assert set(back) == set(obs)
    for key in ("robot_state.q", "robot_state.ee_pose", "image.wrist"):
        assert back[key].dtype == obs[key].dtype and back[key].shape == obs[key].shape
        np.testing.assert_array_equal(back[key], obs[key])
        assert not back[key].flags.writeable  # decoded arrays wrap the frame, as upstream's do
    assert back["task"] == obs["task"]


def test_non_contiguous_arrays_travel_in_c_order():
    arr = np.arange(12, dtype=np.int32).reshape(3, 4).T
    np.testing.assert_array_equal(unpackb(packb(arr)), arr)


def test_string_keys_stay_strings_and_envelope_keys_are_bin():
    raw = msgpack.unpackb(packb({"a": np.zeros(1)}), raw=True, strict_map_key=False)
    assert b"a" in raw and b"__ndarray__" in raw[b"a"]
    # str keys are msgpack str (0xa1 'a'); envelope keys are msgpack bin (0xc4)
    assert packb({"a": 1}) == b"\x81\xa1a\x01"


@pytest.mark.parametrize("dtype", [np.dtype(object), np.dtype([("a", "<f4")]), np.dtype(np.complex64)])
def test_refused_kinds_cannot_be_sent(dtype):
    with pytest.raises(WireError):
        packb(np.zeros(2, dtype=dtype))


def _frame(fields):
    base = {b"__ndarray__": True, b"data": b"\x00" * 8, b"dtype": "<f4", b"shape": [2]}
    base.update(fields)
    return msgpack.packb({"x": base}, use_bin_type=True)


@pytest.mark.parametrize(
    "frame, message",
    [
        (_frame({b"dtype": "|O"}), "refused"),
        (_frame({b"dtype": "<c8"}), "refused"),
        (_frame({b"dtype": "|V8"}), "refused"),
        (_frame({b"dtype": "not-a-dtype"}), "unknown dtype"),
        (_frame({b"dtype": 5}), "dtype must be a string"),
        (_frame({b"shape": [3]}), "needs 12"),
        (_frame({b"shape": [-1]}), "non-negative"),
        (_frame({b"shape": "2"}), "non-negative"),
        (_frame({b"data": "text"}), "must be bytes"),
        (_frame({b"shape": [1 << 20, 1 << 20]}), "exceeds the limit"),
        (b"\xc1", "not a msgpack document"),
        (b"\x92\x01", "not a msgpack document"),
        (b"\x81\xa1a\x01\x02", "not a msgpack document"),
    ],
)
def test_malformed_frames_raise_wire_errors(frame, message):
    with pytest.raises(WireError, match=message):
        unpackb(frame)


def test_nesting_limit():
    doc = [0]
    for _ in range(40):
        doc = [doc]
    with pytest.raises(WireError, match="nested deeper"):
        unpackb(msgpack.packb(doc), Limits(max_depth=32))
    assert unpackb(msgpack.packb(doc), Limits(max_depth=64)) == doc


def test_scalar_that_does_not_fit_its_dtype():
    frame = msgpack.packb({b"__npgeneric__": True, b"data": 300, b"dtype": "|u1"}, use_bin_type=True)
    with pytest.raises(WireError, match="does not fit"):
        unpackb(frame)


def test_jpeg_images_carry_one_jpeg_per_frame_and_what_restores_their_shape():
    from positronic_core.wire.envelope import jpeg_image

    single = jpeg_image(np.zeros((8, 6, 3), np.uint8))
    assert single[b"__jpeg__"] is True and single[b"ndim"] == 3 and len(single[b"frames"]) == 1
    assert single[b"frames"][0][:2] == b"\xff\xd8"  # a JPEG start-of-image marker
    stack = jpeg_image(np.zeros((2, 3, 8, 6, 3), np.uint8))
    assert stack[b"shape"] == [2, 3, 8, 6, 3] and len(stack[b"frames"]) == 6
    with pytest.raises(WireError, match="must be"):
        jpeg_image(np.zeros((8, 6), np.uint8))
