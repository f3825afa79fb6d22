"""Does a screenshot show a camera frame? Shared by the scenarios that take screenshots."""

from __future__ import annotations

import numpy as np


def assert_shows(screenshot: np.ndarray, rect: tuple[int, int, int, int], frame: np.ndarray) -> float:
    """The screenshot's `rect` (x, y, w, h) holds `frame`: not blank, and close to it pixel for pixel.

    Returns the mean absolute difference per channel (0-255).
    """
    from PIL import Image

    x, y, width, height = rect
    assert width > 0 and height > 0, f"empty image rect {rect}"
    crop = screenshot[y : y + height, x : x + width].astype(np.float64)
    assert crop.shape[:2] == (height, width), f"image rect {rect} is outside the {screenshot.shape} screenshot"
    assert crop.std() > 8.0, f"the camera area is blank (pixel std {crop.std():.1f})"
    if frame.shape[:2] != (height, width):
        frame = np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))
    difference = float(np.abs(crop - frame.astype(np.float64)).mean())
    assert difference < 6.0, f"the camera area differs from the rendered frame by {difference:.1f} per channel"
    return difference
