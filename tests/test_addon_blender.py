"""The add-on inside real Blender (the ``bpy`` module from PyPI).

All bpy work happens in ONE child process per test module (bpy state - add-ons,
preferences, extension repos, timers - must not leak into other test files):
``python tests/test_addon_blender.py CHECKS OUT_JSON ...`` runs the ``check_*``
functions below and writes their facts as JSON; the pytest functions assert on them.

* build the extension zip with tools/build_addon.py (``blender_ext.py validate`` must pass),
  install it into a temporary user repo and check the operators, panels, preferences;
* build a head from a compact mesh payload (an icosphere labelled by height):
  attributes, vertex groups, material; update in place keeps object + material;
* export GLB and OBJ through ``ide3d.export_avatar`` and read them back;
* render a 64x64 Cycles-CPU preview of the head;
* the operators in background mode against the in-test fake API of
  tests/test_addon_client.py (protocol level: import, style, mask paint/apply, preview,
  undo, backend export, error reports), then save and reopen the .blend;
* end to end with the real ``ide3d serve``.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
REPO_MODULE = "ide3d_test"
ADDON_MODULE = f"bl_ext.{REPO_MODULE}.ide3d"


# =========================================================================== child side (bpy)


def _install(zip_path: str, tmp: str) -> dict:
    import addon_utils  # noqa: F401 - part of bpy's scripts
    import bpy

    prefs = bpy.context.preferences
    repo = prefs.extensions.repos.new(name=REPO_MODULE, module=REPO_MODULE,
                                      custom_directory=os.path.join(tmp, "ext_repo"), source="USER")
    res = bpy.ops.extensions.package_install_files(filepath=zip_path, repo=repo.module, enable_on_install=True)
    return {"result": sorted(res), "addons": sorted(k for k in prefs.addons.keys() if "ide3d" in k)}


def _labelled_icosphere():
    import bpy
    import numpy as np

    bpy.ops.mesh.primitive_ico_sphere_add(subdivisions=3, radius=0.5)
    ico = bpy.context.active_object
    n = len(ico.data.vertices)
    v = np.empty(n * 3, np.float32)
    ico.data.vertices.foreach_get("co", v)
    v = v.reshape(-1, 3)
    f = np.array([tuple(p.vertices) for p in ico.data.polygons], np.int32)
    me = ico.data
    bpy.data.objects.remove(ico)
    bpy.data.meshes.remove(me)
    lab = np.where(v[:, 2] > 0.2, 13, np.where(v[:, 2] > -0.3, 1, 17)).astype(np.uint8)
    return v, f, lab


def check_register(ctx) -> dict:
    import bpy

    facts = {"install": ctx["install"]}
    facts["operators"] = sorted(name for name in dir(bpy.ops.ide3d))
    facts["panels"] = sorted(n for n in dir(bpy.types) if n.startswith("IDE3D_PT_"))
    facts["panel_category"] = bpy.types.IDE3D_PT_main.bl_category
    facts["panel_space"] = bpy.types.IDE3D_PT_main.bl_space_type
    facts["prefs"] = bpy.context.preferences.addons[ADDON_MODULE].preferences.backend_url
    facts["scene_props"] = hasattr(bpy.context.scene, "ide3d")
    facts["background"] = bpy.app.background
    facts["drawn"] = _draw_panels_with_mock_layout()
    return facts


class _MockLayout:
    """Records UILayout calls so panel draw() code runs headless (no window, no real layout).
    Checks property names against the RNA of the data passed to prop()."""

    def __init__(self, log):
        self._log = log

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name!r}"
        self._log.append(("prop", name))
        return None

    def operator(self, idname, **kw):
        import bpy
        mod, op = idname.split(".")
        assert hasattr(getattr(bpy.ops, mod), op), f"no operator {idname}"
        self._log.append(("operator", idname))
        props = bpy.ops._op_get_rna_type(f"{mod.upper()}_OT_{op}")

        class _Props:
            def __setattr__(self, key, value):
                assert key in props.properties, f"{idname} has no property {key!r}"
        return _Props()

    def __getattr__(self, name):
        def call(*args, **kw):
            self._log.append((name,))
            return _MockLayout(self._log)
        return call

    def __setattr__(self, key, value):
        object.__setattr__(self, key, value)


def _draw_panels_with_mock_layout() -> list:
    import bpy

    drawn = []
    for name in sorted(n for n in dir(bpy.types) if n.startswith("IDE3D_PT_")):
        cls = getattr(bpy.types, name)
        log = []
        fake = type("P", (), {"layout": _MockLayout(log)})()
        cls.draw(fake, bpy.context)
        drawn.append([name, len(log)])
    prefs = bpy.context.preferences.addons[ADDON_MODULE].preferences
    log = []
    type(prefs).draw(type("P", (), {"layout": _MockLayout(log), "bl_rna": prefs.bl_rna})(), bpy.context)
    drawn.append(["preferences", len(log)])
    return drawn


def check_mesh(ctx) -> dict:
    import importlib

    import bpy
    import numpy as np

    mesh_io = importlib.import_module(f"{ADDON_MODULE}.mesh_io")
    palette = importlib.import_module(f"{ADDON_MODULE}.palette")
    for o in list(bpy.data.objects):   # start from an empty scene (no default cube/camera/light)
        bpy.data.objects.remove(o)
    v, f, lab = _labelled_icosphere()
    col = np.array(palette.PALETTE, np.uint8)[lab]
    payload = json.loads(json.dumps(mesh_io.encode_compact(v, f, col, lab)))
    obj = mesh_io.create_head_object("Head", payload, {"id": "sess-1", "version": 1}, "http://127.0.0.1:9")
    me = obj.data
    attrs = {a.name: [a.data_type, a.domain] for a in me.attributes if not a.name.startswith(".")}
    c = np.empty(len(me.vertices) * 4, np.float32)
    me.color_attributes["Col"].data.foreach_get("color_srgb", c)
    col_err = float(np.abs(np.rint(c.reshape(-1, 4)[:, :3] * 255) - col).max())
    sem = mesh_io.head_labels(obj)
    groups = {}
    for g in obj.vertex_groups:
        groups[g.name] = sum(1 for vert in me.vertices for ge in vert.groups if ge.group == g.index)
    mat = me.materials[0]
    links = [(l.from_node.bl_idname, l.from_socket.name, l.to_node.bl_idname, l.to_socket.name)
             for l in mat.node_tree.links]
    vc = [n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeVertexColor"]
    facts = {
        "n_verts": len(me.vertices), "n_faces": len(me.polygons), "expected": [len(v), len(f)],
        "attrs": attrs, "active_color": me.color_attributes.active_color.name, "color_err": col_err,
        "labels_ok": bool((sem == lab).all()), "groups": groups,
        "expected_groups": {palette.CLASS_NAMES[c]: int((lab == c).sum()) for c in np.unique(lab)},
        "material": mat.name, "links": links, "vc_layer": vc[0].layer_name if vc else None,
        "props": {k: (list(v_) if hasattr(v_, "__len__") and not isinstance(v_, str) else v_)
                  for k, v_ in obj.items()},
        "is_head": mesh_io.is_head(obj),
    }
    # update in place: same object, same mesh datablock, same material
    obj_ptr, mesh_ptr, mat_ptr = obj.as_pointer(), me.as_pointer(), mat.as_pointer()
    obj.location = (1.0, 2.0, 3.0)
    lab2 = np.where(v[:, 0] > 0, 2, 10).astype(np.uint8)
    mesh_io.update_head_object(obj, mesh_io.encode_compact(v * 1.2, f, np.array(palette.PALETTE, np.uint8)[lab2],
                                                           lab2), {"id": "sess-1", "version": 2})
    facts["update"] = {
        "same_object": obj.as_pointer() == obj_ptr and bpy.data.objects.get("Head") == obj,
        "same_mesh": obj.data.as_pointer() == mesh_ptr, "n_objects": len(bpy.data.objects),
        "same_material": obj.data.materials[0].as_pointer() == mat_ptr and len(obj.data.materials) == 1,
        "location": list(obj.location), "groups": sorted(g.name for g in obj.vertex_groups),
        "version": obj["ide3d_version"], "present": list(obj["ide3d_classes_present"]),
        "labels_ok": bool((mesh_io.head_labels(obj) == lab2).all()),
        "radius": float(max(abs(vv.co.length) for vv in obj.data.vertices)),
    }
    # keep the first labelling for the export checks
    mesh_io.update_head_object(obj, payload, {"id": "sess-1", "version": 3})
    ctx["head"] = obj.name
    ctx["labels"] = lab.tolist()
    bpy.context.view_layer.objects.active = obj
    facts["drawn_with_head"] = _draw_panels_with_mock_layout()
    return facts


def check_export(ctx) -> dict:
    import bpy

    obj = bpy.data.objects[ctx["head"]]
    for o in bpy.context.scene.objects:
        o.select_set(o == obj)
    bpy.context.view_layer.objects.active = obj
    out = Path(ctx["tmp"])
    r1 = bpy.ops.ide3d.export_avatar(filepath=str(out / "head.glb"), format="GLB")
    r2 = bpy.ops.ide3d.export_avatar(filepath=str(out / "head.obj"), format="OBJ")
    return {"glb": sorted(r1), "obj": sorted(r2), "glb_path": str(out / "head.glb"), "obj_path": str(out / "head.obj"),
            "has_export_attr": "_SEMANTIC" in obj.data.attributes, "labels": ctx["labels"]}


def _png(rgb) -> bytes:
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def check_texture(ctx) -> dict:
    """A textured payload: UV map, packed image, Principled material, display switch,
    in-place image update, and Blender's GLB/OBJ exporters keeping the texture."""
    import importlib
    import math

    import bpy
    import numpy as np

    mesh_io = importlib.import_module(f"{ADDON_MODULE}.mesh_io")
    texture_io = importlib.import_module(f"{ADDON_MODULE}.texture_io")
    palette = importlib.import_module(f"{ADDON_MODULE}.palette")
    v, f, lab = _labelled_icosphere()
    r = np.linalg.norm(v, axis=1)
    uvs = np.stack([0.5 + np.arctan2(v[:, 0], v[:, 1]) / (2 * math.pi), 0.5 - np.arcsin(v[:, 2] / r) / math.pi], 1)
    tex = np.zeros((256, 256, 3), np.uint8)
    tex[..., 0] = np.arange(256)[None]          # red grows along u, green along v (top-left origin)
    tex[..., 1] = np.arange(256)[:, None]
    col = np.array(palette.PALETTE, np.uint8)[lab]
    payload = json.loads(json.dumps(mesh_io.encode_compact(v, f, col, lab, uvs=uvs, texture_png=_png(tex))))
    obj = mesh_io.create_head_object("TexHead", payload, {"id": "sess-t", "version": 1}, "http://127.0.0.1:9")
    me = obj.data
    layer = me.uv_layers.get(texture_io.UV_NAME)
    loop_uv = np.empty(len(me.loops) * 2, np.float32)
    layer.data.foreach_get("uv", loop_uv)
    loop_v = np.empty(len(me.loops), np.int32)
    me.loops.foreach_get("vertex_index", loop_v)
    mat = me.materials[0]
    img = texture_io.head_image(obj)

    def base_colour_source():
        bsdf = next(n for n in mat.node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
        link = bsdf.inputs["Base Color"].links[0]
        node = link.from_node
        return [node.bl_idname, getattr(node, "layer_name", None) or (node.image.name if node.image else None)
                if node.bl_idname == "ShaderNodeTexImage" else getattr(node, "layer_name", None)]

    facts = {"uv_layer": layer.name if layer else None,
             "uv_err": float(np.abs(loop_uv.reshape(-1, 2) - np.stack([uvs[loop_v, 0], 1 - uvs[loop_v, 1]], 1)).max()),
             "material": mat.name, "image": img.name if img else None, "image_size": list(img.size),
             "packed": img.packed_file is not None, "shows": {"TEXTURE": base_colour_source()},
             "attrs": sorted(a.name for a in me.color_attributes), "active_color": me.color_attributes.active_color.name}
    for mode in ("VERTEX", "CLASSES", "TEXTURE"):
        facts[f"set_{mode}"] = texture_io.set_display(obj, mode)
        facts["shows"][mode] = base_colour_source()
    # in place: same image datablock, new pixels
    ptr = img.as_pointer()
    tex2 = np.full((256, 256, 3), 200, np.uint8)
    mesh_io.update_head_object(obj, mesh_io.encode_compact(v, f, col, lab, uvs=uvs, texture_png=_png(tex2)),
                               {"id": "sess-t", "version": 2})
    img2 = texture_io.head_image(obj)
    px = np.empty(256 * 256 * 4, np.float32)
    img2.pixels.foreach_get(px)
    facts["update"] = {"same_image": img2.as_pointer() == ptr, "pixel": float(px[:3].mean()),
                       "images": len([i for i in bpy.data.images if i.name.startswith("TexHead")]),
                       "same_material": obj.data.materials[0] == mat}
    for o in bpy.context.scene.objects:
        o.select_set(o == obj)
    bpy.context.view_layer.objects.active = obj
    out = Path(ctx["tmp"])
    facts["glb"] = sorted(bpy.ops.ide3d.export_avatar(filepath=str(out / "tex.glb"), format="GLB"))
    facts["obj"] = sorted(bpy.ops.ide3d.export_avatar(filepath=str(out / "tex.obj"), format="OBJ"))
    facts["glb_path"], facts["obj_path"] = str(out / "tex.glb"), str(out / "tex.obj")
    facts["image_path_restored"] = img2.filepath_raw
    bpy.data.objects.remove(obj)
    return facts


def check_render(ctx) -> dict:
    import importlib

    import bpy

    render_local = importlib.import_module(f"{ADDON_MODULE}.render_local")
    obj = bpy.data.objects[ctx["head"]]
    t = time.time()
    path = render_local.render_objects([obj], os.path.join(ctx["tmp"], "preview.png"), size=64, samples=4)
    return {"path": path, "seconds": time.time() - t, "scenes": len(bpy.data.scenes)}


def check_operators_fake_backend(ctx) -> dict:
    """Background-mode operators against the fake API (protocol level, see test_addon_client)."""
    import importlib
    import threading
    from http.server import ThreadingHTTPServer

    import bpy

    sys.path.insert(0, str(TESTS))
    sys.path.insert(0, str(ROOT))
    fake = importlib.import_module("test_addon_client")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), fake.FakeBackend)
    srv.state = {"requests": [], "jobs": {}, "version": 1}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    os.environ["IDE3D_BACKEND_URL"] = url
    os.environ["IDE3D_TOKEN"] = fake.TOKEN
    facts = {}
    photo = Path(ctx["tmp"]) / "portrait.png"
    photo.write_bytes(fake.PNG)
    try:
        facts["import"] = sorted(bpy.ops.ide3d.import_portrait(filepath=str(photo), preset="fast"))
        obj = bpy.context.view_layer.objects.active
        facts["object"] = {"name": obj.name, "session": obj.get("ide3d_session"), "url": obj.get("ide3d_backend_url"),
                           "verts": len(obj.data.vertices), "history": list(obj.get("ide3d_history", []))}
        facts["upload_preset"] = srv.state["upload"]["preset"]["data"].decode()
        scene = bpy.context.scene
        scene.ide3d.selected_classes[13] = True
        scene.ide3d.style_seed = 11
        facts["new_style"] = sorted(bpy.ops.ide3d.new_style())
        facts["region_body"] = srv.state["edit_body"]
        facts["version_after_style"] = obj.get("ide3d_version")
        facts["texture"] = sorted(bpy.ops.ide3d.texture_swap())
        facts["paint_mask"] = sorted(bpy.ops.ide3d.paint_mask())
        img = bpy.data.images.get("IDE3D Mask " + obj.name)
        facts["mask_image"] = list(img.size) if img else None
        facts["mask_packed"] = bool(img and img.packed_file)
        facts["apply_mask"] = sorted(bpy.ops.ide3d.apply_mask())
        up = srv.state.get("mask_upload", b"")
        facts["mask_upload_png"] = up[:8] == b"\x89PNG\r\n\x1a\n"
        scene.ide3d.preview_yaw = 0.4
        facts["preview"] = sorted(bpy.ops.ide3d.render_preview())
        facts["preview_image"] = list(bpy.data.images["IDE3D Preview"].size) if "IDE3D Preview" in bpy.data.images else None
        facts["render_query"] = [q for m, p, q in srv.state["requests"] if p.endswith("/render")][-1]
        facts["undo"] = sorted(bpy.ops.ide3d.backend_undo())
        facts["version_after_undo"] = obj.get("ide3d_version")
        try:
            bpy.ops.ide3d.backend_redo()
            facts["redo_error"] = None
        except RuntimeError as exc:
            facts["redo_error"] = str(exc)
        facts["export_backend"] = sorted(bpy.ops.ide3d.export_avatar(
            filepath=os.path.join(ctx["tmp"], "backend.glb"), format="GLB", source="BACKEND"))
        facts["backend_file"] = Path(ctx["tmp"], "backend.glb").read_bytes()[:4].decode("latin-1")
        # errors the user can act on go through Operator.report (bpy raises them as RuntimeError)
        os.environ["IDE3D_TOKEN"] = "wrong"
        try:
            bpy.ops.ide3d.import_portrait(filepath=str(photo))
            facts["auth_error"] = None
        except RuntimeError as exc:
            facts["auth_error"] = str(exc)
        os.environ["IDE3D_TOKEN"] = fake.TOKEN
        nofacephoto = Path(ctx["tmp"]) / "cat.png"
        nofacephoto.write_bytes(b"no face")
        try:
            bpy.ops.ide3d.import_portrait(filepath=str(nofacephoto))
            facts["job_error"] = None
        except RuntimeError as exc:
            facts["job_error"] = str(exc)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        os.environ["IDE3D_BACKEND_URL"] = f"http://127.0.0.1:{dead}"
        try:
            bpy.ops.ide3d.sample_head(seed=3)
            facts["unavailable_error"] = None
        except RuntimeError as exc:
            facts["unavailable_error"] = str(exc)
        # import with no backend at a local URL starts one (here the stand-in CLI of
        # test_addon_client, which only answers /health, so the upload then fails with 501)
        pkgs = Path(ctx["tmp"]) / "fake_pkgs" / "ide3d_backend"
        pkgs.mkdir(parents=True)
        (pkgs / "__init__.py").write_text("")
        (pkgs / "cli.py").write_text(fake.FAKE_CLI)
        wrapper = Path(ctx["tmp"]) / "fake_python"
        wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={pkgs.parent} exec {sys.executable} \"$@\"\n")
        wrapper.chmod(0o755)
        data_dir = Path(ctx["tmp"]) / "fake_data"
        data_dir.mkdir()
        (data_dir / "mode").write_text("ok")
        os.environ.update(IDE3D_PYTHON=str(wrapper), IDE3D_DATA_DIR=str(data_dir))
        bp = importlib.import_module(f"{ADDON_MODULE}.backend_process")
        try:
            bpy.ops.ide3d.import_portrait(filepath=str(photo))
            facts["auto_start_error"] = None
        except RuntimeError as exc:
            facts["auto_start_error"] = str(exc)
        facts["auto_started"] = bp.running_process() is not None
        facts["auto_stopped"] = bp.stop_backend()
        # the UI path: work on a worker thread, applied on the main thread by the timer function
        jobs = importlib.import_module(f"{ADDON_MODULE}.jobs")
        ops = importlib.import_module(f"{ADDON_MODULE}.ops_tasks")
        made = []
        task = jobs.RUNNER.submit("ui", lambda t: (t.update(0.5, "working"), 5)[1],
                                  on_done=lambda r: made.append(bpy.data.meshes.new(f"from_worker_{r}").name))
        deadline = time.time() + 10
        while not task.applied.is_set() and time.time() < deadline:
            interval = ops._tick()
            time.sleep(0.02)
        facts["ui_path"] = {"made": made, "state": task.state, "interval_idle": ops._tick()}
        # the saved .blend keeps what makes the head editable
        blend = os.path.join(ctx["tmp"], "scene.blend")
        bpy.ops.wm.save_as_mainfile(filepath=blend)
        name = obj.name
        bpy.ops.wm.open_mainfile(filepath=blend)
        o2 = bpy.data.objects.get(name)
        facts["reopened"] = {"session": o2.get("ide3d_session"), "url": o2.get("ide3d_backend_url"),
                             "semantic": "semantic" in o2.data.attributes,
                             "mask_image": ("IDE3D Mask " + name) in bpy.data.images}
    finally:
        os.environ.pop("IDE3D_BACKEND_URL", None)
        os.environ.pop("IDE3D_TOKEN", None)
        srv.shutdown()
    return facts


def check_packed_image(ctx) -> dict:
    """A PNG loaded by the add-on (previews, masks) is packed without Blender's error report."""
    import importlib
    import tempfile

    import bpy

    ops_results = importlib.import_module(f"{ADDON_MODULE}.ops_results")
    png = importlib.import_module(f"{ADDON_MODULE}.pngio").encode_png(2, 2, bytes([255, 0, 0] * 4))
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            img = ops_results.load_png_image("IDE3D Pack Check", png)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        log.seek(0)
        printed = log.read().decode("utf-8", "replace")
    facts = {"printed": printed, "packed": bool(img.packed_file), "size": list(img.size)}
    bpy.data.images.remove(img)
    return facts


def check_unregister(ctx) -> dict:
    import addon_utils
    import bpy

    addon_utils.disable(ADDON_MODULE)
    return {"operator_gone": not hasattr(bpy.types, "IDE3D_OT_import_portrait"),
            "panel_gone": not hasattr(bpy.types, "IDE3D_PT_main"),
            "scene_prop_gone": not hasattr(bpy.types.Scene, "ide3d")}


def check_end_to_end(ctx) -> dict:
    """The real backend, started by the add-on's own launcher (IDE3D_PYTHON / IDE3D_DATA_DIR /
    IDE3D_BACKEND_URL from the test); the token comes from the backend's token file."""
    import bpy

    t = time.time()
    facts = {"start": sorted(bpy.ops.ide3d.start_backend()), "start_seconds": time.time() - t}
    t = time.time()
    res = bpy.ops.ide3d.import_portrait(filepath=ctx["photo"], preset="fast")
    obj = bpy.context.view_layer.objects.active
    facts.update({"import": sorted(res), "seconds": time.time() - t, "verts": len(obj.data.vertices),
                  "semantic": "semantic" in obj.data.attributes, "session": obj.get("ide3d_session"),
                  "present": list(obj.get("ide3d_classes_present", []))})
    present = [c for c in facts["present"] if c != 0] or [1]
    chosen = 13 if 13 in present else present[-1]

    def snapshot():
        me = obj.data
        n = len(me.vertices)
        co, col, lab = [0.0] * (3 * n), [0.0] * (4 * n), [0] * n
        me.vertices.foreach_get("co", co)
        me.color_attributes["Col"].data.foreach_get("color", col)
        me.attributes["semantic"].data.foreach_get("value", lab)
        return co, col, lab

    co0, col0, lab0 = snapshot()
    mesh_before = obj.data.name
    bpy.context.scene.ide3d.selected_classes[chosen] = True
    facts["new_style"] = sorted(bpy.ops.ide3d.new_style())
    facts["version"] = obj.get("ide3d_version")
    co1, col1, lab1 = snapshot()
    # A region style edit changes texture only: same geometry and labels, new colours on the
    # chosen class, the other classes' colours untouched.
    facts["same_object_mesh"] = obj.data.name == mesh_before
    facts["same_geometry"] = co0 == co1 and lab0 == lab1
    diff = [max(abs(col0[4 * i + k] - col1[4 * i + k]) for k in range(3)) for i in range(len(lab0))] \
        if facts["same_geometry"] else []
    inside = [d for d, c in zip(diff, lab0) if c == chosen]
    outside = [d for d, c in zip(diff, lab0) if c != chosen]
    facts["restyle"] = {"class": chosen, "inside_mean": sum(inside) / max(len(inside), 1),
                        "outside_max": max(outside) if outside else 0.0, "inside_n": len(inside)}
    facts["export"] = sorted(bpy.ops.ide3d.export_avatar(filepath=os.path.join(ctx["tmp"], "e2e.glb"), format="GLB"))
    return facts


def _child_main(argv) -> int:
    checks, out_json, zip_path, tmp = argv[0].split(","), argv[1], argv[2], argv[3]
    ctx = {"tmp": tmp}
    ctx.update(json.loads(argv[4]) if len(argv) > 4 else {})
    results = {}
    try:
        import bpy  # noqa: F401
        ctx["install"] = _install(zip_path, tmp)
    except Exception:  # noqa: BLE001
        results["install"] = {"ok": False, "error": traceback.format_exc()}
        Path(out_json).write_text(json.dumps(results))
        return 1
    for name in checks:
        try:
            facts = globals()[f"check_{name}"](ctx)
            results[name] = {"ok": True, "facts": facts}
        except Exception:  # noqa: BLE001
            results[name] = {"ok": False, "error": traceback.format_exc()}
        Path(out_json).write_text(json.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))


# =========================================================================== pytest side

import pytest  # noqa: E402

pytest.importorskip("bpy")
pytestmark = pytest.mark.blender


def run_checks(checks: list[str], tmp: Path, zip_path: Path, extra: dict | None = None, env: dict | None = None,
               timeout: float = 150) -> dict:
    out = tmp / "results.json"
    cmd = [sys.executable, str(Path(__file__)), ",".join(checks), str(out), str(zip_path), str(tmp)]
    if extra:
        cmd.append(json.dumps(extra))
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("OMP_NUM_THREADS", "2")
    # keep Blender's user config (extension repos, prefs) out of the real home
    child_env["BLENDER_USER_RESOURCES"] = str(tmp / "blender_user")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env, cwd=str(tmp))
    if not out.exists():
        raise AssertionError(f"bpy child wrote no results (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    results = json.loads(out.read_text())
    results["_log"] = proc.stdout[-4000:] + proc.stderr[-4000:]
    return results


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import build_addon
    finally:
        sys.path.pop(0)
    out = tmp_path_factory.mktemp("dist")
    return build_addon.build(out, verbose=False)


@pytest.fixture(scope="module")
def results(built_zip, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bpy_child")
    return run_checks(["register", "mesh", "export", "texture", "render", "operators_fake_backend", "packed_image",
                       "unregister"],
                      tmp, built_zip)


def facts(results, name):
    r = results.get(name)
    assert r is not None, f"check {name} did not run:\n{results.get('_log', '')}"
    assert r["ok"], f"check {name} failed in Blender:\n{r['error']}"
    return r["facts"]


def test_zip_layout(built_zip):
    import zipfile
    with zipfile.ZipFile(built_zip) as zf:
        names = set(zf.namelist())
        manifest = zf.read("blender_manifest.toml").decode()
    assert built_zip.name == "ide3d-0.1.0.zip"
    assert {"blender_manifest.toml", "__init__.py", "client.py", "jobs.py", "mesh_io.py", "operators.py",
            "panels.py", "palette.py", "preferences.py", "properties.py", "backend_process.py"} <= names
    assert not any("__pycache__" in n for n in names)
    import tomllib
    m = tomllib.loads(manifest)
    assert m["id"] == "ide3d" and m["type"] == "add-on" and m["blender_version_min"] == "4.2.0"
    assert len(m["tagline"]) <= 64 and m["tagline"][-1].isalnum()
    assert m["license"] == ["SPDX:GPL-3.0-or-later"] and set(m["permissions"]) == {"network", "files"}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert m["version"] == pyproject["project"]["version"]


def test_install_registers_operators_and_panel(results):
    f = facts(results, "register")
    assert f["install"]["result"] == ["FINISHED"] and f["install"]["addons"] == [ADDON_MODULE]
    assert {"import_portrait", "export_avatar", "new_style", "revert", "texture_swap", "paint_mask", "apply_mask",
            "render_preview", "backend_undo", "backend_redo", "start_backend", "cancel_task",
            "refresh_mesh"} <= set(f["operators"])
    assert "IDE3D_PT_main" in f["panels"] and len(f["panels"]) >= 6
    assert (f["panel_space"], f["panel_category"]) == ("VIEW_3D", "IDE-3D")
    assert f["prefs"] == "http://127.0.0.1:8765" and f["scene_props"] and f["background"]
    assert len(f["drawn"]) == len(f["panels"]) + 1 and all(n > 0 for _, n in f["drawn"])


def test_head_mesh_attributes_groups_material(results):
    f = facts(results, "mesh")
    assert [f["n_verts"], f["n_faces"]] == f["expected"]
    assert f["attrs"]["Col"] == ["BYTE_COLOR", "POINT"] and f["attrs"]["semantic"] == ["INT", "POINT"]
    assert f["active_color"] == "Col" and f["color_err"] == 0.0 and f["labels_ok"]
    assert f["groups"] == f["expected_groups"] and set(f["groups"]) == {"hair", "skin", "neck"}
    assert f["vc_layer"] == "Col"
    assert all(n > 0 for _, n in f["drawn_with_head"])   # panels draw with a head active
    assert ("ShaderNodeVertexColor", "Color", "ShaderNodeBsdfPrincipled", "Base Color") in [tuple(x) for x in f["links"]]
    assert f["props"]["ide3d_session"] == "sess-1" and f["props"]["ide3d_backend_url"] == "http://127.0.0.1:9"
    assert sorted(f["props"]["ide3d_classes_present"]) == [1, 13, 17] and f["is_head"]


def test_update_in_place_keeps_object_and_material(results):
    u = facts(results, "mesh")["update"]
    assert u["same_object"] and u["same_mesh"] and u["same_material"] and u["n_objects"] == 1
    assert u["location"] == [1.0, 2.0, 3.0]
    assert u["groups"] == ["mouth", "nose"] and u["present"] == [2, 10] and u["labels_ok"]
    assert u["version"] == 2 and u["radius"] == pytest.approx(0.6, rel=1e-3)


def _glb_accessor(path: Path, name: str):
    import numpy as np
    data = path.read_bytes()
    jlen = struct.unpack("<I", data[12:16])[0]
    gltf = json.loads(data[20:20 + jlen])
    bin_start = 20 + jlen + 8
    attrs = gltf["meshes"][0]["primitives"][0]["attributes"]
    acc = gltf["accessors"][attrs[name]]
    view = gltf["bufferViews"][acc["bufferView"]]
    comps = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc["type"]]
    dtype = {5126: np.float32, 5121: np.uint8, 5123: np.uint16}[acc["componentType"]]
    start = bin_start + view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    arr = np.frombuffer(data, dtype=dtype, count=acc["count"] * comps, offset=start).reshape(acc["count"], comps)
    if acc.get("normalized"):
        arr = arr.astype(np.float32) / np.iinfo(dtype).max
    return attrs, arr


def test_export_glb_and_obj_read_back(results):
    import numpy as np
    import trimesh
    f = facts(results, "export")
    assert f["glb"] == ["FINISHED"] and f["obj"] == ["FINISHED"] and f["has_export_attr"]
    labels = np.array(f["labels"])
    glb = Path(f["glb_path"])
    attrs, sem = _glb_accessor(glb, "_SEMANTIC")
    assert {"POSITION", "COLOR_0", "_SEMANTIC"} <= set(attrs)
    sem = sem[:, 0]
    assert sorted(np.unique(sem).tolist()) == [1.0, 13.0, 17.0] and len(sem) == len(labels)
    _, colour = _glb_accessor(glb, "COLOR_0")
    lin = colour[:, :3].astype(np.float64)
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055) * 255
    palette = np.array([(0, 0, 0), (204, 0, 0), (76, 153, 0)] + [(0, 0, 0)] * 10 + [(0, 0, 204)] +
                       [(0, 0, 0)] * 3 + [(255, 153, 51)], float)
    assert np.abs(srgb - palette[sem.astype(int)]).max() < 2.0   # each vertex coloured by its class
    scene = trimesh.load(glb, force="mesh", process=False)
    assert len(scene.vertices) == len(labels)
    # OBJ: `v x y z r g b` lines with the sRGB palette colours
    vlines = [ln.split() for ln in Path(f["obj_path"]).read_text().splitlines() if ln.startswith("v ")]
    assert len(vlines) == len(labels) and all(len(v) == 7 for v in vlines)
    cols = np.array([[float(x) for x in v[4:]] for v in vlines]) * 255
    assert {tuple(np.rint(c).astype(int)) for c in cols} == {(204, 0, 0), (0, 0, 204), (255, 153, 51)}
    mesh = trimesh.load(f["obj_path"], force="mesh", process=False)
    assert len(mesh.vertices) == len(labels)


def test_textured_head_material_display_and_exports(results):
    import numpy as np
    from PIL import Image

    from gltf_validator import assert_valid
    f = facts(results, "texture")
    assert f["uv_layer"] == "UVMap" and f["uv_err"] < 1e-6
    assert f["material"] == "IDE3D Textured TexHead" and f["image"] == "TexHead texture"
    assert f["image_size"] == [256, 256] and f["packed"]
    assert f["shows"]["TEXTURE"] == ["ShaderNodeTexImage", "TexHead texture"]
    assert f["shows"]["VERTEX"] == ["ShaderNodeVertexColor", "Col"]
    assert f["shows"]["CLASSES"] == ["ShaderNodeVertexColor", "Classes"]
    assert f["set_VERTEX"] and f["set_CLASSES"] and f["set_TEXTURE"]
    assert f["active_color"] == "Col" and {"Col", "Classes"} <= set(f["attrs"])
    u = f["update"]
    assert u["same_image"] and u["same_material"] and u["images"] == 1
    assert abs(u["pixel"] - 200 / 255) < 0.01
    # Blender's glTF exporter: texture embedded, UVs, valid
    assert f["glb"] == ["FINISHED"]
    report = assert_valid(f["glb_path"])
    images = [r for r in report["info"]["resources"] if r["pointer"].startswith("/images/")]
    assert len(images) == 1 and images[0]["image"]["width"] == 256
    attrs, _ = _glb_accessor(Path(f["glb_path"]), "POSITION")
    assert "TEXCOORD_0" in attrs and "_SEMANTIC" in attrs
    # Blender's OBJ exporter: vt lines, map_Kd pointing at the PNG written beside it
    assert f["obj"] == ["FINISHED"]
    obj_text = Path(f["obj_path"]).read_text()
    assert any(line.startswith("vt ") for line in obj_text.splitlines())
    mtl = Path(f["obj_path"]).with_suffix(".mtl").read_text()
    maps = [line.split(None, 1)[1] for line in mtl.splitlines() if line.startswith("map_Kd")]
    assert maps == ["TexHead_texture.png"]
    png = Path(f["obj_path"]).parent / maps[0]
    assert np.asarray(Image.open(png)).shape[:2] == (256, 256)
    assert not f["image_path_restored"].startswith(str(png.parent))   # the .blend keeps its own path


def test_cycles_preview_render(results):
    from PIL import Image
    import numpy as np
    f = facts(results, "render")
    img = np.asarray(Image.open(f["path"]).convert("RGB"))
    assert img.shape == (64, 64, 3) and img.std() > 5   # the head is visible against the grey world
    assert f["scenes"] == 1   # the temporary render scene was removed


def test_operators_against_fake_backend(results):
    f = facts(results, "operators_fake_backend")
    assert f["import"] == ["FINISHED"] and f["upload_preset"] == "fast"
    assert f["object"]["session"] == "s1" and f["object"]["url"].startswith("http://127.0.0.1:")
    assert f["object"]["verts"] == 3 and f["object"]["history"]
    assert f["new_style"] == ["FINISHED"] and f["region_body"] == {"classes": ["hair"], "seed": 11}
    assert f["version_after_style"] == 2 and f["texture"] == ["FINISHED"]
    assert f["paint_mask"] == ["FINISHED"] and f["mask_image"] == [2, 2] and f["mask_packed"]
    assert f["apply_mask"] == ["FINISHED"] and f["mask_upload_png"]
    assert f["preview"] == ["FINISHED"] and f["preview_image"] == [2, 2]
    assert float(f["render_query"]["yaw"]) == pytest.approx(0.4, abs=1e-5)
    assert f["undo"] == ["FINISHED"] and f["version_after_undo"] == 3
    assert f["redo_error"] and "nothing to redo" in f["redo_error"]
    assert f["export_backend"] == ["FINISHED"] and f["backend_file"] == "glTF"
    assert f["auth_error"] and "token" in f["auth_error"]
    assert f["job_error"] and "no face found" in f["job_error"]
    assert f["unavailable_error"] and "Start local backend" in f["unavailable_error"]
    assert f["auto_started"] and f["auto_stopped"] and "HTTP 501" in f["auto_start_error"]
    assert f["ui_path"] == {"made": ["from_worker_5"], "state": "done", "interval_idle": 0.5}
    assert f["reopened"] == {"session": "s1", "url": f["object"]["url"], "semantic": True, "mask_image": True}


def test_loaded_images_are_packed_without_an_error(results):
    f = facts(results, "packed_image")
    assert f["packed"] and f["size"] == [2, 2]
    assert "Unable to pack" not in f["printed"] and "ERROR" not in f["printed"], f["printed"]


def test_unregister_removes_everything(results):
    f = facts(results, "unregister")
    assert f["operator_gone"] and f["panel_gone"] and f["scene_prop_gone"]


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_end_to_end_real_backend(built_zip, tmp_path):
    import numpy as np
    from PIL import Image

    from ide3d_backend import camera
    from ide3d_backend.synthheads import render_head, sample_head

    rgb = render_head(sample_head(0), camera.frontal_label(), 128)["rgb"]
    photo = tmp_path / "synthhead.png"
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(photo)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data_dir = tmp_path / "data"
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), OMP_NUM_THREADS="2",
               IDE3D_BACKEND_URL=f"http://127.0.0.1:{port}", IDE3D_PYTHON=sys.executable,
               IDE3D_DATA_DIR=str(data_dir))
    try:
        results = run_checks(["end_to_end"], tmp_path, built_zip, {"photo": str(photo)}, env=env, timeout=900)
        log = data_dir / "backend.log"
        f = facts(results, "end_to_end")
        assert f["start"] == ["FINISHED"], log.read_text()[-3000:] if log.exists() else "no backend log"
        assert f["import"] == ["FINISHED"] and f["verts"] > 100 and f["semantic"] and f["session"]
        assert f["present"] and f["new_style"] == ["FINISHED"] and f["version"] >= 2
        assert f["same_object_mesh"] and f["same_geometry"], "a texture edit must not move the mesh"
        r = f["restyle"]
        assert r["inside_n"] > 0 and r["inside_mean"] > 0.01, r  # the chosen class visibly changed
        assert r["outside_max"] < 2 / 255, r  # every other vertex kept its colour (byte rounding)
        assert f["export"] == ["FINISHED"] and (tmp_path / "e2e.glb").stat().st_size > 1000
    finally:
        # the add-on stops its backend at exit; make sure nothing survives a crashed child
        pid_file = data_dir / "backend.pid"
        if pid_file.exists():
            try:
                os.kill(json.loads(pid_file.read_text())["pid"], 15)
            except (OSError, ValueError, KeyError):
                pass
