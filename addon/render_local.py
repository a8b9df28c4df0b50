"""Render head objects with Cycles on the CPU into a PNG (tests, docs, headless checks).

Builds a temporary scene (camera on a yaw/pitch orbit around the objects' bounds,
a sun, a grey world), renders, and removes everything it created.
"""
from __future__ import annotations

import math

import bpy
from mathutils import Euler, Vector


def _bounds(objects):
    pts = [o.matrix_world @ Vector(c) for o in objects for c in o.bound_box]
    lo = Vector((min(p.x for p in pts), min(p.y for p in pts), min(p.z for p in pts)))
    hi = Vector((max(p.x for p in pts), max(p.y for p in pts), max(p.z for p in pts)))
    return (lo + hi) / 2, max((hi - lo).length, 1e-3)


def render_objects(objects, filepath: str, size: int = 64, samples: int = 4, yaw: float = 0.0,
                   pitch: float = 0.0, front=(0.0, -1.0, 0.0)) -> str:
    """Render ``objects`` (looking from ``front`` rotated by yaw/pitch radians) to a PNG."""
    scene = bpy.data.scenes.new("IDE3D Render")
    created = []
    try:
        for o in objects:
            scene.collection.objects.link(o)
        scene.view_layers[0].update()   # fresh world matrices (a location set in a script is not evaluated yet)
        centre, diag = _bounds(objects)
        cam_data = bpy.data.cameras.new("IDE3D Render Cam")
        cam_data.lens = 50.0
        cam = bpy.data.objects.new("IDE3D Render Cam", cam_data)
        created += [cam, cam_data]
        scene.collection.objects.link(cam)
        d = Vector(front).normalized()
        d.rotate(Euler((pitch, 0.0, yaw)))
        dist = diag * 1.6
        cam.location = centre + d * dist
        cam.rotation_euler = (centre - cam.location).to_track_quat("-Z", "Y").to_euler()
        scene.camera = cam
        sun_data = bpy.data.lights.new("IDE3D Render Sun", "SUN")
        sun_data.energy = 3.0
        sun = bpy.data.objects.new("IDE3D Render Sun", sun_data)
        created += [sun, sun_data]
        sun.rotation_euler = (math.radians(50), 0.0, math.radians(-30))
        scene.collection.objects.link(sun)
        world = bpy.data.worlds.new("IDE3D Render World")
        created.append(world)
        world.use_nodes = True
        bg = world.node_tree.nodes.get("Background")
        if bg is not None:
            bg.inputs["Color"].default_value = (0.35, 0.35, 0.35, 1.0)
        scene.world = world
        scene.render.engine = "CYCLES"
        scene.cycles.device = "CPU"
        scene.cycles.samples = samples
        try:
            scene.cycles.use_denoising = False
        except AttributeError:
            pass
        scene.render.resolution_x = scene.render.resolution_y = size
        scene.render.resolution_percentage = 100
        scene.render.image_settings.file_format = "PNG"
        scene.render.filepath = filepath
        scene.render.film_transparent = False
        with bpy.context.temp_override(scene=scene):
            bpy.ops.render.render(write_still=True, scene=scene.name)
    finally:
        for o in objects:
            if o.name in scene.collection.objects:
                scene.collection.objects.unlink(o)
        bpy.data.scenes.remove(scene)
        for idb in created:
            try:
                if isinstance(idb, bpy.types.Object):
                    bpy.data.objects.remove(idb)
                elif isinstance(idb, bpy.types.Camera):
                    bpy.data.cameras.remove(idb)
                elif isinstance(idb, bpy.types.Light):
                    bpy.data.lights.remove(idb)
                elif isinstance(idb, bpy.types.World):
                    bpy.data.worlds.remove(idb)
            except ReferenceError:
                pass
    return filepath
