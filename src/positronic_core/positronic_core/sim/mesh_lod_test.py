import mujoco
import numpy as np

from positronic_core.sim.assets import panda_xml
from positronic_core.sim.mesh_lod import cluster_simplify, simplify_visual_meshes


def test_clustering_merges_close_vertices_and_drops_collapsed_triangles():
    vertices = np.array([[0, 0, 0], [0.001, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=float)
    faces = np.array([[0, 2, 3], [1, 2, 3], [0, 1, 2]])
    merged, kept = cluster_simplify(vertices, faces, cell=0.01)
    assert len(merged) == 3
    assert len(kept) == 1  # the two copies of one triangle become one; the sliver collapses
    np.testing.assert_allclose(merged[kept[0, 0]], [0.0005, 0, 0])


def test_simplified_panda_keeps_its_shape_with_far_fewer_triangles():
    spec = mujoco.MjSpec.from_file(str(panda_xml()))
    full = mujoco.MjSpec.from_file(str(panda_xml())).compile()
    simplify_visual_meshes(spec)
    light = spec.compile()

    def visual_faces(model):
        return sum(int(model.mesh_facenum[model.geom_dataid[g]]) for g in range(model.ngeom)
                   if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH and model.geom_group[g] == 2)

    assert visual_faces(light) < visual_faces(full) / 2
    # the physics is untouched: bodies that weigh their geoms keep their meshes
    for field in ("body_mass", "body_inertia", "body_ipos", "body_iquat"):
        np.testing.assert_array_equal(getattr(light, field), getattr(full, field))
    images = []
    for model in (full, light):
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
        camera = mujoco.MjvCamera()
        camera.lookat[:], camera.distance, camera.azimuth, camera.elevation = [0.3, 0, 0.4], 1.3, 140, -20
        with mujoco.Renderer(model, 120, 160) as renderer:
            renderer.update_scene(data, camera)
            images.append(renderer.render().astype(int))
    difference = np.abs(images[0] - images[1]).max(axis=2)
    assert images[0].std() > 5
    assert (difference > 30).mean() < 0.01
