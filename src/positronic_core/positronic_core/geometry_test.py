import numpy as np
import pytest

from positronic_core.geometry import (
    matrix_to_quat_wxyz,
    matrix_to_rot6d,
    pose7_to_pose9,
    pose7_to_pose12,
    pose9_to_pose12,
    quat_wxyz_to_matrices,
    quat_wxyz_to_matrix,
    rot6d_to_matrices,
    rot6d_to_matrix,
)


def _random_quats(n: int, seed: int = 0) -> np.ndarray:
    # Normalised 4D Gaussians are uniform over rotations.
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def test_rot6d_round_trips_a_rotation_matrix():
    for quat in _random_quats(500):
        matrix = quat_wxyz_to_matrix(quat)
        rot6d = matrix_to_rot6d(matrix)
        assert rot6d.shape == (6,)
        np.testing.assert_allclose(rot6d_to_matrix(rot6d), matrix, atol=1e-12)


def test_rot6d_round_trips_a_quaternion():
    for quat in _random_quats(500, seed=1):
        back = matrix_to_quat_wxyz(rot6d_to_matrix(matrix_to_rot6d(quat_wxyz_to_matrix(quat))))
        expected = -quat if quat[0] < 0 else quat  # q and -q are the same rotation
        np.testing.assert_allclose(back, expected, atol=1e-9)


@pytest.mark.parametrize(
    ("quat", "rot6d"),
    [  # upstream Positronic's own expectations for its `as_rot6d`: the first two ROWS of the matrix
        ([1.0, 0.0, 0.0, 0.0], [1, 0, 0, 0, 1, 0]),
        ([np.sqrt(0.5), np.sqrt(0.5), 0.0, 0.0], [1, 0, 0, 0, 0, -1]),  # 90 degrees about x
        ([np.sqrt(0.5), 0.0, 0.0, np.sqrt(0.5)], [0, -1, 0, 1, 0, 0]),  # 90 degrees about z
    ],
)
def test_rot6d_layout_is_upstreams(quat, rot6d):
    np.testing.assert_allclose(matrix_to_rot6d(quat_wxyz_to_matrix(quat)), rot6d, atol=1e-12)


def test_decoding_orthonormalises_a_noisy_6d_vector():
    rng = np.random.default_rng(2)
    for quat in _random_quats(100, seed=3):
        exact = quat_wxyz_to_matrix(quat)
        noisy = matrix_to_rot6d(exact) * rng.uniform(0.5, 2.0) + rng.normal(scale=0.05, size=6)
        matrix = rot6d_to_matrix(noisy)
        np.testing.assert_allclose(matrix @ matrix.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(matrix) == pytest.approx(1.0)
        # Gram-Schmidt keeps the first row's direction and stays close to the rotation the noise came from.
        np.testing.assert_allclose(matrix[0], noisy[:3] / np.linalg.norm(noisy[:3]), atol=1e-12)
        assert np.abs(matrix - exact).max() < 0.3


@pytest.mark.parametrize(
    ("vector", "message"),
    [([0, 0, 0, 0, 1, 0], "first row is zero"), ([1, 0, 0, 2, 0, 0], "parallel"), ([1, 0, 0], "6 values"),
     ([1, 0, 0, 0, np.nan, 0], "non-finite")],
)
def test_degenerate_6d_vectors_are_refused(vector, message):
    with pytest.raises(ValueError, match=message):
        rot6d_to_matrix(np.array(vector, dtype=float))


def test_pose9_carries_translation_and_round_trips_to_pose12():
    for quat in _random_quats(20, seed=4):
        pose7 = np.concatenate([[0.4, -0.1, 0.3], quat])
        pose9 = pose7_to_pose9(pose7)
        assert pose9.shape == (9,)
        np.testing.assert_array_equal(pose9[:3], pose7[:3])
        np.testing.assert_allclose(pose9_to_pose12(pose9), pose7_to_pose12(pose7), atol=1e-12)


def test_chunk_conversions_match_the_one_row_ones_bit_for_bit():
    rng = np.random.default_rng(7)
    quats, rot6ds = rng.normal(size=(50, 4)), rng.normal(size=(50, 6))
    for quat, matrix in zip(quats, quat_wxyz_to_matrices(quats), strict=True):
        assert np.array_equal(quat_wxyz_to_matrix(quat), matrix)
    for rot6d, matrix in zip(rot6ds, rot6d_to_matrices(rot6ds), strict=True):
        assert np.array_equal(rot6d_to_matrix(rot6d), matrix)


def test_chunk_rot6d_names_its_first_bad_row():
    rows = np.array([[1.0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0], [1, 0, 0, 2, 0, 0]])
    with pytest.raises(ValueError, match=r"first row is zero: \[0.0, 0.0, 0.0, 0.0, 1.0, 0.0\]"):
        rot6d_to_matrices(rows)
    with pytest.raises(ValueError, match="rows are parallel"):
        rot6d_to_matrices(rows[[0, 2]])
