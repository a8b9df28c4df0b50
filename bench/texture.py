#!/usr/bin/env python3
"""Textured heads (issue 16, items 6-7) -> bench/results/texture.json.

quality   16 held-out SynthHeads heads (seeds 900000+), meshed from their SDF at 128^3.
          photo = the ground-truth render at the frontal view; "renders" = ground-truth
          renders at the K bake views (BakeConfig.render_views), standing in for the
          generator's super-resolved renders (no generator is trained on these heads).
          PSNR of the mesh rendered (unlit, texture.preview) vs the ground truth:
            - input view, inside the face (ground-truth classes skin..lips);
            - held-out side view (yaw 0.9, pitch 0.1, not a bake view), head pixels.
          Compared: the textured mesh (1024^2), the same with photo + mirror only (no
          renders), vertex colours baked from the same views (mesh.baking), and the
          colour field at the vertices (what the texture decoder gives).
astronaut the shipped default model: invert the bundled astronaut (fast preset), bake
          from the aligned photo + the session's renders, PSNR inside the face (session
          mask) of the textured mesh rendered from the input camera vs the aligned photo.
speed     the shipped default model (tiny preset, a seed's latent): bake at 1024^2 including the K renders; a
          region re-bake (hair) including its K renders, and without them.
Usage: python bench/texture.py [--parts quality astronaut speed] [--heads 16]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

FACE_CLASSES = (1, 2, 4, 5, 6, 7, 10, 11, 12)
SIDE = (0.9, 0.1)


def psnr(a, b, mask) -> float:
    if not mask.any():
        return float("nan")
    err = np.mean((a[mask].astype(np.float64) - b[mask].astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(err, 1e-12)))


def synth_head_case(seed: int, size: int, res: int = 256) -> dict:
    import torch

    from ide3d_backend import camera
    from ide3d_backend import mesh as M
    from ide3d_backend.synthheads import render_views, sample_head
    from ide3d_backend.texture import BakeConfig, texture_head
    from ide3d_backend.texture.preview import render_mesh

    head = sample_head(seed)
    t0 = time.perf_counter()
    with torch.no_grad():
        hm = M.mesh_from_fields(M.sdf_to_density(head.sdf, 50.0, 200.0), lambda x: head.sdf(x)[1],
                                lambda x: head.albedo(x, head.sdf(x)[1]), resolution=128, level=25.0,
                                keep_components=0.01)
    t_mesh = time.perf_counter() - t0
    cfg = BakeConfig(size=size)
    front = camera.label_from_angles(0.0, 0.0)
    side = camera.label_from_angles(*SIDE)
    bake_labels = [camera.label_from_angles(y, p) for y, p in cfg.render_views]
    views = render_views(head, np.stack([front, side] + bake_labels), res)
    lookup = {np.asarray(l, np.float32).round(5).tobytes(): v["rgb"] for l, v in zip(bake_labels, views[2:])}
    render = lambda lab: lookup[np.asarray(lab, np.float32).round(5).tobytes()]  # noqa: E731
    photo = views[0]["rgb"]
    th = texture_head(hm, photo, front, render, cfg)
    th_photo = texture_head(hm, photo, front, None, cfg)
    vb_views = [dict(label=front, rgb=photo, depth=views[0]["depth"])] + [
        dict(label=l, rgb=v["rgb"], depth=v["depth"]) for l, v in zip(bake_labels, views[2:])]
    baked, choice = M.bake_colors_from_views(hm.vertices, hm.normals, vb_views)
    baked[choice < 0] = hm.colors[choice < 0]
    out = {"seed": seed, "vertices": int(len(hm.vertices)), "faces": int(len(hm.faces)),
           "charts": th.atlas.stats["charts"], "seconds_mesh": t_mesh, "seconds_texture": th.seconds}
    for name, gt, lab in (("input", views[0], front), ("side", views[1], side)):
        region = (np.isin(gt["mask"], FACE_CLASSES) if name == "input" else np.isfinite(gt["depth"]))
        imgs = {
            "textured": render_mesh(th.mesh.vertices, th.mesh.faces, lab, res, uvs=th.mesh.uvs, texture=th.texture),
            "textured_photo_only": render_mesh(th_photo.mesh.vertices, th_photo.mesh.faces, lab, res,
                                               uvs=th_photo.mesh.uvs, texture=th_photo.texture),
            "vertex_baked": render_mesh(hm.vertices, hm.faces, lab, res, colors=baked),
            "vertex_field": render_mesh(hm.vertices, hm.faces, lab, res, colors=hm.colors),
        }
        hit = np.logical_and.reduce([h for _, h in imgs.values()])
        m = region & hit
        out[name] = {k: psnr(img, gt["rgb"], m) for k, (img, _) in imgs.items()}
        out[name]["pixels"] = int(m.sum())
    return out


def quality(n: int, size: int) -> dict:
    cases = []
    for i in range(n):
        c = synth_head_case(900000 + i, size)
        print(f"head {c['seed']}: input {c['input']['textured']:.2f} dB (vertex baked "
              f"{c['input']['vertex_baked']:.2f}), side {c['side']['textured']:.2f} dB (vertex baked "
              f"{c['side']['vertex_baked']:.2f}, field {c['side']['vertex_field']:.2f})", flush=True)
        cases.append(c)
    keys = ("textured", "textured_photo_only", "vertex_baked", "vertex_field")
    summary = {view: {k: float(np.nanmean([c[view][k] for c in cases])) for k in keys} for view in ("input", "side")}
    summary["side_gain_over_vertex_baked_db"] = summary["side"]["textured"] - summary["side"]["vertex_baked"]
    summary["side_gain_over_vertex_field_db"] = summary["side"]["textured"] - summary["side"]["vertex_field"]
    summary["targets"] = {"side_gain_ge_2db": summary["side_gain_over_vertex_baked_db"] >= 2.0,
                          "input_face_ge_25db": summary["input"]["textured"] >= 25.0}
    return {"cases": cases, "summary": summary}


def astronaut(size: int, session_dir: str | None) -> dict:
    import torch

    from ide3d_backend import camera
    from ide3d_backend.assets import ASTRONAUT
    from ide3d_backend.engine_cli import resolve_generator
    from ide3d_backend.session import Session, invert_photo
    from ide3d_backend.texture.preview import render_mesh
    from ide3d_backend.texturing import SessionTexturer

    G, base = resolve_generator(None, None)
    t0 = time.perf_counter()
    if session_dir and (Path(session_dir) / "session.json").exists():
        s = Session.open(session_dir, G=G)
    else:
        s = invert_photo(G, ASTRONAUT, session_dir or "out/bench_astronaut", preset="fast", base_source=base,
                         overwrite=True)
    t_invert = time.perf_counter() - t0
    with torch.no_grad():
        hm = s.mesh(256)
    t1 = time.perf_counter()
    th = SessionTexturer().textured_mesh("astronaut", s, hm, size)
    t_bake = time.perf_counter() - t1
    photo = s.photo()
    label = camera.label_from_angles(s.yaw, s.pitch)
    r = photo.shape[0]
    tex, hit = render_mesh(th.mesh.vertices, th.mesh.faces, label, r, uvs=th.mesh.uvs, texture=th.texture)
    vc, _ = render_mesh(hm.vertices, hm.faces, label, r, colors=hm.colors)
    face = np.isin(s.mask(), FACE_CLASSES)
    if face.shape != hit.shape:
        from PIL import Image
        face = np.asarray(Image.fromarray(face.astype(np.uint8)).resize(hit.shape[::-1], Image.NEAREST)) > 0
    m = face & hit
    return {"model": G.cfg.preset, "photo_size": list(photo.shape[:2]), "camera": [s.yaw, s.pitch],
            "vertices": int(len(hm.vertices)), "faces": int(len(hm.faces)), "seconds_invert": t_invert,
            "seconds_texture": th.seconds, "coverage": th.result.coverage, "face_pixels": int(m.sum()),
            "face_pixels_in_photo": int(face.sum()),
            "psnr_face_textured": psnr(tex, photo, m), "psnr_face_vertex_colours": psnr(vc, photo, m),
            "target_ge_25db": psnr(tex, photo, m) >= 25.0, "session": str(s.path)}


def speed(size: int, resolution: int) -> dict:
    import torch

    from ide3d_backend.camera import angles_from_label, label_from_angles
    from ide3d_backend.editing import latents_from_seed
    from ide3d_backend.engine_cli import resolve_generator
    from ide3d_backend.mesh import extract_head_mesh
    from ide3d_backend.texture import BakeConfig, rebake, texture_head, view_labels
    from ide3d_backend.views import render_arrays

    torch.set_num_threads(2)
    G, _ = resolve_generator(None, None)   # the shipped default model (tiny preset)
    ws = latents_from_seed(G, 1, 0.7)
    with torch.no_grad():
        planes = G.planes(ws)
        t0 = time.perf_counter()
        hm = extract_head_mesh(G, ws, resolution=resolution, level=None, planes=planes)
        t_mesh = time.perf_counter() - t0

    def render(label):
        y, p, _ = angles_from_label(label)
        return render_arrays(G, ws, y, p, None, planes)["rgb"]

    cfg = BakeConfig(size=size)
    t0 = time.perf_counter()
    th = texture_head(hm, None, None, render, cfg)
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    re = rebake(th, hm, classes=[13, 1], render=render)
    t_region = time.perf_counter() - t0
    frozen = {np.asarray(l).tobytes(): render(l) for l in view_labels(cfg.render_views)}
    t0 = time.perf_counter()
    rebake(th, hm, classes=[13, 1], render=lambda l: frozen[np.asarray(l).tobytes()])
    t_region_no_render = time.perf_counter() - t0
    t0 = time.perf_counter()
    render(label_from_angles(0.3, 0.0))
    t_one = time.perf_counter() - t0
    return {"model": G.cfg.preset, "texture": size, "seconds_one_render": t_one, "mesh_resolution": resolution, "vertices": int(len(hm.vertices)),
            "faces": int(len(hm.faces)), "charts": th.atlas.stats["charts"], "seconds_mesh": t_mesh,
            "seconds_bake_total": t_full, "seconds_breakdown": th.seconds, "bake_detail": th.result.seconds,
            "seconds_region_rebake": t_region, "seconds_region_rebake_without_renders": t_region_no_render,
            "region_texels": int(np.isin(th.surface.labels, [13, 1]).sum()), "texels": int(len(th.surface.index)),
            "targets": {"bake_le_5s": t_full <= 5.0, "bake_without_atlas_le_5s": t_full - th.seconds["atlas"] <= 5.0,
                        "region_rebake_le_1s": t_region <= 1.0,
                        "region_rebake_without_renders_le_1s": t_region_no_render <= 1.0}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", nargs="+", default=["speed", "quality", "astronaut"])
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--speed-resolution", type=int, default=256)
    ap.add_argument("--astronaut-session", default=None, help="reuse an inverted astronaut session")
    ap.add_argument("--out", default="texture")
    args = ap.parse_args()
    out = {"size": args.size}
    if "speed" in args.parts:
        out["speed"] = speed(args.size, args.speed_resolution)
        print({k: v for k, v in out["speed"].items() if k.startswith("seconds") or k == "targets"}, flush=True)
    if "quality" in args.parts:
        out["quality"] = quality(args.heads, args.size)
        print(out["quality"]["summary"], flush=True)
    if "astronaut" in args.parts:
        out["astronaut"] = astronaut(args.size, args.astronaut_session)
        print({k: v for k, v in out["astronaut"].items() if k.startswith(("psnr", "target", "seconds"))}, flush=True)
    common.write(args.out, out)


if __name__ == "__main__":
    main()
