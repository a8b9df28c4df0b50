"""Scene settings of the IDE-3D panel (``scene.ide3d``)."""
from __future__ import annotations

import math

import bpy
from bpy.props import (BoolProperty, BoolVectorProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)
from bpy.types import PropertyGroup

from . import palette
from .mesh_io import is_head

PAINT_CLASS_ITEMS = [(name, palette.CLASS_LABELS[i], f"Paint class {i}: {name}", i)
                     for i, name in enumerate(palette.CLASS_NAMES)]
SOURCE_ITEMS = [("SEED", "Seed", "A random style from a seed"),
                ("HEAD", "Head", "The style of another imported head")]


def _head_poll(self, obj):
    return is_head(obj)


def _paint_class_update(self, context):
    from .ops_paint import set_paint_color
    set_paint_color(context, palette.CLASS_NAMES.index(self.paint_class))


def _live_update(self, context):
    from .ops_live import live_toggled
    live_toggled(self, context)


def _display_update(self, context):
    from .texture_io import set_display
    for obj in context.scene.objects:
        if is_head(obj):
            set_display(obj, self.display_mode)


class IDE3DSceneProperties(PropertyGroup):
    # import
    photo_path: StringProperty(name="Portrait", subtype="FILE_PATH", description="Portrait photo to import")
    mask_path: StringProperty(name="Mask", subtype="FILE_PATH",
                              description="Optional semantic mask (8-bit class ids or palette colours)")
    preset: EnumProperty(name="Preset", items=[("fast", "Fast", "Encoder + short tuning (seconds to a minute)"),
                                               ("quality", "Quality", "Full pivotal tuning (minutes)")],
                         default="fast")
    align: BoolProperty(name="Align face", default=True, description="Detect, crop and align the face first")
    sample_seed: IntProperty(name="Seed", default=0, min=0, description="Seed of a random head")

    # classes
    selected_classes: BoolVectorProperty(name="Classes", size=palette.NUM_CLASSES, default=[False] * palette.NUM_CLASSES,
                                         description="Classes that New style changes")

    # region style
    style_source: EnumProperty(name="From", items=SOURCE_ITEMS, default="SEED")
    style_seed: IntProperty(name="Seed", default=1, min=0)
    style_object: PointerProperty(name="Head", type=bpy.types.Object, poll=_head_poll,
                                  description="Imported head whose style to copy")
    # global texture
    texture_source: EnumProperty(name="From", items=SOURCE_ITEMS, default="SEED")
    texture_seed: IntProperty(name="Seed", default=7, min=0)
    texture_object: PointerProperty(name="Head", type=bpy.types.Object, poll=_head_poll)

    # shape (mask painting)
    paint_class: EnumProperty(name="Paint class", items=PAINT_CLASS_ITEMS, default="hair",
                              update=_paint_class_update)
    live_paint: BoolProperty(name="Live", default=False, update=_live_update,
                             description="Reshape the head after every stroke while you paint the mask "
                                         "(coarse mesh at once, the full mesh when you pause)")

    # preview
    preview_yaw: FloatProperty(name="Yaw", subtype="ANGLE", default=0.0, min=-math.pi / 2, max=math.pi / 2)
    preview_pitch: FloatProperty(name="Pitch", subtype="ANGLE", default=0.0, min=-math.pi / 4, max=math.pi / 4)
    preview_size: IntProperty(name="Size", default=256, min=64, max=1024)
    preview_kind: EnumProperty(name="Kind", items=[("rgb", "Colour", ""), ("mask", "Classes", ""),
                                                   ("depth", "Depth", "")], default="rgb")

    # mesh
    mesh_resolution: IntProperty(name="Resolution", default=128, min=64, max=512,
                                 description="Marching-cubes grid resolution")
    mesh_smooth: IntProperty(name="Smoothing", default=2, min=0, max=50, description="Taubin smoothing iterations")
    mesh_faces: IntProperty(name="Max faces", default=0, min=0, description="Decimate to this many faces (0 = keep all)")

    # texture (issue 16): baked from the photo and the renders, shown on the head
    texture_size: EnumProperty(name="Texture", items=[("NONE", "None", "Vertex colours only"),
                                                      ("1024", "1024", "Bake a 1024 x 1024 photo texture"),
                                                      ("2048", "2048", "Bake a 2048 x 2048 photo texture")],
                               default="1024")
    display_mode: EnumProperty(name="Show", items=[("TEXTURE", "Photo texture", "The baked texture"),
                                                   ("VERTEX", "Vertex colours", "The colours at the vertices"),
                                                   ("CLASSES", "Classes", "The class palette")],
                               default="TEXTURE", update=_display_update)

    # export
    export_format: EnumProperty(name="Format", items=[("GLB", "GLB", "glTF binary with vertex colours and _SEMANTIC"),
                                                      ("OBJ", "OBJ", "Wavefront OBJ with vertex colours")],
                                default="GLB")
    export_source: EnumProperty(name="Using", items=[("BLENDER", "Blender", "Blender's exporters (what you see)"),
                                                     ("BACKEND", "Backend", "Download the backend's file")],
                                default="BLENDER")


CLASSES = (IDE3DSceneProperties,)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.ide3d = PointerProperty(type=IDE3DSceneProperties)


def unregister():
    if hasattr(bpy.types.Scene, "ide3d"):
        del bpy.types.Scene.ide3d
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
