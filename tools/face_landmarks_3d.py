"""Build ide3d_backend/assets/face_landmarks_3d.json: the MediaPipe face-mesh landmarks of
the model's mean head in world coordinates, and the landmark polygons of each face part.

How: SynthHeads heads of training seeds (never the held-out seeds >= 10^6) are rendered
with exact cameras and depth (synthheads.render_views) at a frontal view and at yaw
+-YAW; the face mesh runs on each render; each landmark's pixel is lifted to 3D along
its camera ray with the rendered depth there. A landmark is taken from the frontal view
and from the side view that faces it (the far side's points are guessed by MediaPipe
and lie on the wrong surface); the asset keeps the per-landmark median over heads and
views and the spread. Part polygons come from MediaPipe's contour edge sets, ordered
into loops, split and named by geometry: +x in world is the person's left (l_*).
The nose is the set of landmarks that land on the ground-truth nose class in most
frontal renders (MediaPipe has no closed nose contour).

Then `--calibrate` adds the offset of the depth-based pitch (photo/pose.py).
Usage: python tools/face_landmarks_3d.py [--heads 24] [--resolution 256]; then --calibrate
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from ide3d_backend import camera, semantics
from ide3d_backend.photo import landmarks as lm
from ide3d_backend.synthheads import render_views, sample_head

OUT = Path(__file__).resolve().parents[1] / "ide3d_backend" / "assets" / "face_landmarks_3d.json"
YAW = 0.3


def lift(points_px: np.ndarray, depth: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Landmark pixels (N, 2) + the render's ray depth -> world points (N, 3); NaN where the
    pixel's ray hits nothing."""
    r = depth.shape[0]
    cam2world, k = camera.split_label(label)
    uv = points_px / r
    x = (uv[:, 0] - k[0, 2]) / k[0, 0]
    y = -(uv[:, 1] - k[1, 2]) / k[1, 1]
    d_cam = np.stack([x, y, -np.ones_like(x)], 1)
    d_cam /= np.linalg.norm(d_cam, axis=1, keepdims=True)
    d_world = d_cam @ cam2world[:3, :3].T
    ij = np.clip(np.floor(points_px).astype(int), 0, r - 1)
    t = depth[ij[:, 1], ij[:, 0]].astype(np.float64)
    t[~np.isfinite(t)] = np.nan
    return cam2world[:3, 3] + d_world * t[:, None]


def _components(edges) -> list[list[int]]:
    """Edge set -> its connected pieces, each an ordered loop or path of vertex ids."""
    adj: dict[int, list[int]] = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    seen: set[int] = set()
    pieces = []
    for start in sorted(adj, key=lambda v: (len(adj[v]) != 1, v)):  # path ends first
        if start in seen:
            continue
        order, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [n for n in adj[cur] if n != prev and n not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            order.append(cur)
            seen.add(cur)
        pieces.append(order)
    return pieces


def _area(loop, p) -> float:
    x, y = p[loop, 0], p[loop, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def _split_at_corners(loop, p) -> tuple[list[int], list[int]]:
    """A closed lip contour -> (upper arc, lower arc), both from the -x to the +x corner."""
    i0 = int(np.argmin(p[loop, 0]))
    loop = loop[i0:] + loop[:i0]
    i1 = int(np.argmax(p[loop, 0]))
    a, b = loop[:i1 + 1], [loop[0]] + loop[i1:][::-1]
    return (a, b) if p[a, 1].mean() > p[b, 1].mean() else (b, a)  # world y up: upper = larger y


def build_regions(p: np.ndarray, nose_points: list[int]) -> dict[str, list[int]]:
    sets = lm.connection_sets()
    regions: dict[str, list[int]] = {}
    side = {}
    for mp_name in ("left_eye", "right_eye", "left_brow", "right_brow", "left_iris", "right_iris"):
        verts = sorted({v for e in sets[mp_name] for v in e})
        side[mp_name] = "l" if p[verts, 0].mean() > 0 else "r"  # +x = the person's left
    for mp_name, ours in (("left_eye", "eye"), ("right_eye", "eye"), ("left_iris", "iris"), ("right_iris", "iris")):
        (loop,) = _components(sets[mp_name])
        regions[f"{side[mp_name]}_{ours}"] = loop
    for mp_name in ("left_brow", "right_brow"):
        a, b = _components(sets[mp_name])  # upper and lower edge of the brow, two open paths
        if np.linalg.norm(p[a[-1], :2] - p[b[0], :2]) > np.linalg.norm(p[a[-1], :2] - p[b[-1], :2]):
            b = b[::-1]
        regions[f"{side[mp_name]}_brow"] = a + b
    loops = sorted(_components(sets["lips"]), key=lambda l: _area(l, p), reverse=True)
    outer, inner = loops[0], loops[1]
    ou, ol = _split_at_corners(outer, p)
    iu, il = _split_at_corners(inner, p)
    regions["u_lip"] = ou + iu[::-1]
    regions["l_lip"] = ol + il[::-1]
    regions["mouth"] = inner
    (regions["face_oval"],) = _components(sets["face_oval"])
    regions["nose"] = nose_points  # a point set: its convex hull is the nose
    return regions


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heads", type=int, default=24)
    ap.add_argument("--resolution", type=int, default=256)
    args = ap.parse_args()
    t0 = time.time()
    labels = np.stack([camera.label_from_angles(y, 0.0) for y in (0.0, -YAW, YAW)])
    samples = [[] for _ in range(lm.NUM_LANDMARKS)]
    nose_votes, frontal_found = np.zeros(lm.NUM_LANDMARKS), 0
    for seed in range(args.heads):  # training seeds only
        views = render_views(sample_head(seed), labels, args.resolution, threads=None)
        lifted = []
        for v, (view, label) in enumerate(zip(views, labels)):
            faces = lm.detect_landmarks(view["rgb"])
            lifted.append(lift(faces[0].points[:, :2], view["depth"], label) if faces else None)
            if faces and v == 0:
                frontal_found += 1
                ij = np.clip(np.floor(faces[0].points[:, :2]).astype(int), 0, args.resolution - 1)
                nose_votes += view["mask"][ij[:, 1], ij[:, 0]] == semantics.class_id("nose")
        if lifted[0] is None:
            continue
        for i in range(lm.NUM_LANDMARKS):
            facing = 2 if lifted[0][i, 0] > 0 else 1  # camera at +yaw sees the +x side
            for v in (0, facing):
                if lifted[v] is not None and np.isfinite(lifted[v][i]).all():
                    samples[i].append(lifted[v][i])
        print(f"head {seed}: {sum(l is not None for l in lifted)}/3 views with a face, {time.time() - t0:.0f} s")
    points = np.array([np.median(s, 0) for s in samples])
    spread = np.array([np.median(np.linalg.norm(np.asarray(s) - m, axis=1)) for s, m in zip(samples, points)])
    nose = [int(i) for i in np.nonzero(nose_votes >= 0.5 * frontal_found)[0] if i < 468]
    regions = build_regions(points, nose)
    oval, irises = set(regions["face_oval"]), set(regions["l_iris"] + regions["r_iris"])
    # PnP uses points fixed on the skull: not the silhouette (oval), not the irises (gaze),
    # not the lips (expressions), and only those whose position agrees across heads.
    lips = set(regions["u_lip"] + regions["l_lip"])
    pnp = [i for i in range(468) if i not in oval | irises | lips and spread[i] < np.percentile(spread, 80)]
    OUT.write_text(json.dumps({
        "how": (f"tools/face_landmarks_3d.py: MediaPipe 0.10.21 face mesh on SynthHeads training seeds "
                f"0..{args.heads - 1} rendered at {args.resolution} px at yaw 0 and +-{YAW} (pitch 0), "
                "landmark pixels lifted to 3D with the rendered depth, median over heads and views "
                "(a landmark only from the views facing it)"),
        "frame": "model world: y up, face looks along +z, +x = the person's left, units of the tri-plane cube",
        "points": np.round(points, 5).tolist(),
        "spread": np.round(spread, 5).tolist(),
        "regions": regions,
        "pnp_indices": pnp,
    }, indent=None))
    print(f"wrote {OUT}: {len(pnp)} PnP points, nose {len(nose)} points, {time.time() - t0:.0f} s")


def calibrate(count: int = 16, resolution: int = 128) -> None:
    """Store the mean offset of pose.depth_angles' pitch (MediaPipe's depth axis is tilted
    against the model's) over training-seed renders at known cameras."""
    from ide3d_backend.photo import align, pose
    data = json.loads(OUT.read_text())
    data["depth_pitch_offset"] = 0.0
    OUT.write_text(json.dumps(data))
    pose.mean_head.cache_clear()
    rng = np.random.default_rng(11)
    offsets = []
    for i in range(count):
        yaw, pitch = camera.sample_angles(1, rng)[0]
        view = render_views(sample_head(100 + i), camera.label_from_angles(yaw, pitch)[None], resolution)[0]
        faces = lm.detect_landmarks(view["rgb"])
        if faces:  # the render is framed like the model's view: its pixels are the crop
            offsets.append(pose.depth_angles(faces[0].points)[1] - pitch)
    data["depth_pitch_offset"] = round(float(np.mean(offsets)), 5)
    data["how_depth_pitch_offset"] = (f"tools/face_landmarks_3d.py --calibrate: mean depth-pitch minus true "
                                      f"pitch over {len(offsets)} renders of training seeds 100.. at FFHQ-like cameras")
    OUT.write_text(json.dumps(data))
    print(f"depth pitch offset {data['depth_pitch_offset']:+.4f} rad (std {np.std(offsets):.4f})")


if __name__ == "__main__":
    import sys
    calibrate() if "--calibrate" in sys.argv else main()
