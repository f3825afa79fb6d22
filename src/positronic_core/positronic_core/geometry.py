"""Rotation conventions shared by every component.

Positronic quaternions are scalar-first (w, x, y, z); ROS messages are (x, y, z, w) and are converted exactly once,
in the ROS adapter. A pose on the wire is 12 floats: translation then a row-major 3x3 rotation matrix. GR00T
checkpoints see a pose as 9 floats: translation then the 6D rotation (the matrix's first two rows).
"""

from __future__ import annotations

import math

import numpy as np


def quat_wxyz_to_matrix(q: np.ndarray) -> np.ndarray:
    # In Python floats: numpy scalar arithmetic costs ten times as much, and a chunk decodes this per action.
    w, x, y, z = np.asarray(q, dtype=np.float64).reshape(4).tolist()
    norm = math.sqrt(w * w + x * x + y * y + z * z) or math.nan  # a zero quaternion gives NaNs, as numpy would
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def quat_wxyz_to_matrices(q: np.ndarray) -> np.ndarray:
    """(N, 4) quaternions -> (N, 3, 3) rotation matrices, each bit for bit `quat_wxyz_to_matrix` of its row (the same
    float64 operations in the same order), for decoding a whole action chunk at once."""
    q = np.asarray(q, dtype=np.float64).reshape(-1, 4)
    w, x, y, z = q.T
    norm = np.sqrt(w * w + x * x + y * y + z * z)
    norm[norm == 0.0] = np.nan  # a zero quaternion gives NaNs, as the one-row version does
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    out = np.empty((len(q), 3, 3))
    out[:, 0, 0] = 1 - 2 * (y * y + z * z)
    out[:, 0, 1] = 2 * (x * y - z * w)
    out[:, 0, 2] = 2 * (x * z + y * w)
    out[:, 1, 0] = 2 * (x * y + z * w)
    out[:, 1, 1] = 1 - 2 * (x * x + z * z)
    out[:, 1, 2] = 2 * (y * z - x * w)
    out[:, 2, 0] = 2 * (x * z - y * w)
    out[:, 2, 1] = 2 * (y * z + x * w)
    out[:, 2, 2] = 1 - 2 * (x * x + y * y)
    return out


def matrix_to_quat_wxyz(m: np.ndarray) -> np.ndarray:
    """Shepperd's method; the result has w >= 0 so equal rotations compare equal."""
    m = np.asarray(m, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.array(q)
    q /= np.linalg.norm(q)
    return -q if q[0] < 0 else q


def pose7_to_pose12(pose7: np.ndarray) -> np.ndarray:
    """(x, y, z, qw, qx, qy, qz) -> (x, y, z, row-major rotation)."""
    pose7 = np.asarray(pose7, dtype=np.float64)
    return np.concatenate([pose7[:3], quat_wxyz_to_matrix(pose7[3:7]).reshape(9)])


def pose12_to_pose7(pose12: np.ndarray) -> np.ndarray:
    pose12 = np.asarray(pose12, dtype=np.float64)
    return np.concatenate([pose12[:3], matrix_to_quat_wxyz(pose12[3:12].reshape(3, 3))])


def matrix_to_rot6d(m: np.ndarray) -> np.ndarray:
    """The 6D rotation representation: the matrix's first two rows, concatenated.

    Rows, not the columns of Zhou et al.: upstream Positronic's `Rotation.as_rot6d` takes rows, and GR00T
    checkpoints trained on its datasets expect exactly that layout.
    """
    m = np.asarray(m, dtype=np.float64)
    if m.shape != (3, 3):
        raise ValueError(f"a rotation matrix is 3x3, got shape {m.shape}")
    return np.concatenate([m[0], m[1]])


def rot6d_to_matrix(v: np.ndarray) -> np.ndarray:
    """The rotation nearest a (possibly unnormalised, non-orthogonal) 6D vector, by Gram-Schmidt.

    A network's output is never exactly orthonormal: the first row keeps its direction, the second loses its
    component along the first, and the third is their cross product, which makes the result a proper rotation.
    """
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    if v.shape != (6,):
        raise ValueError(f"a 6D rotation has 6 values, got {v.size}")
    if not np.isfinite(v).all():
        raise ValueError(f"a 6D rotation contains a non-finite value: {v.tolist()}")
    # In Python floats: numpy's per-call overhead on 3-vectors costs more than the arithmetic, and a chunk decodes
    # this once per action.
    ax, ay, az, bx, by, bz = v.tolist()
    norm = math.sqrt(ax * ax + ay * ay + az * az)
    if norm < 1e-9:
        raise ValueError(f"a 6D rotation's first row is zero: {v.tolist()}")
    ax, ay, az = ax / norm, ay / norm, az / norm
    along = ax * bx + ay * by + az * bz
    bx, by, bz = bx - along * ax, by - along * ay, bz - along * az
    norm = math.sqrt(bx * bx + by * by + bz * bz)
    if norm < 1e-9:
        raise ValueError(f"a 6D rotation's rows are parallel: {v.tolist()}")
    bx, by, bz = bx / norm, by / norm, bz / norm
    return np.array([[ax, ay, az], [bx, by, bz], [ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx]])


def rot6d_to_matrices(v: np.ndarray) -> np.ndarray:
    """(N, 6) 6D rotations -> (N, 3, 3) matrices, each bit for bit `rot6d_to_matrix` of its row, with its errors
    (naming the first bad row)."""
    v = np.asarray(v, dtype=np.float64).reshape(-1, 6)
    bad = ~np.isfinite(v).all(axis=1)
    if bad.any():
        raise ValueError(f"a 6D rotation contains a non-finite value: {v[bad.argmax()].tolist()}")
    ax, ay, az, bx, by, bz = v.T
    norm = np.sqrt(ax * ax + ay * ay + az * az)
    if (norm < 1e-9).any():
        raise ValueError(f"a 6D rotation's first row is zero: {v[(norm < 1e-9).argmax()].tolist()}")
    ax, ay, az = ax / norm, ay / norm, az / norm
    along = ax * bx + ay * by + az * bz
    bx, by, bz = bx - along * ax, by - along * ay, bz - along * az
    norm = np.sqrt(bx * bx + by * by + bz * bz)
    if (norm < 1e-9).any():
        raise ValueError(f"a 6D rotation's rows are parallel: {v[(norm < 1e-9).argmax()].tolist()}")
    bx, by, bz = bx / norm, by / norm, bz / norm
    rows = (ax, ay, az, bx, by, bz, ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx)
    return np.stack(rows, axis=1).reshape(-1, 3, 3)


def pose7_to_pose9(pose7: np.ndarray) -> np.ndarray:
    """(x, y, z, qw, qx, qy, qz) -> (x, y, z, 6D rotation)."""
    pose7 = np.asarray(pose7, dtype=np.float64)
    return np.concatenate([pose7[:3], matrix_to_rot6d(quat_wxyz_to_matrix(pose7[3:7]))])


def pose9_to_pose12(pose9: np.ndarray) -> np.ndarray:
    """(x, y, z, 6D rotation) -> (x, y, z, row-major rotation), orthonormalising the rotation."""
    pose9 = np.asarray(pose9, dtype=np.float64)
    return np.concatenate([pose9[:3], rot6d_to_matrix(pose9[3:9]).reshape(9)])


def quat_wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q)
    return np.concatenate([q[1:4], q[:1]])


def quat_xyzw_to_wxyz(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q)
    return np.concatenate([q[3:4], q[:3]])
