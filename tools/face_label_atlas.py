"""Build ide3d_backend/assets/face_label_atlas.npz: SynthHeads class frequencies in the
face mesh's own surface frame (ide3d_backend/photo/atlas.py reads it).

How: the triangles are the 3-cliques of MediaPipe's FACEMESH_TESSELATION edges, minus
the few cliques that are not faces (all three edges shared by three cliques: the rim of
a degree-3 vertex); the holes (eyes, mouth: boundary loops other than the face oval) are
closed by fans round their mean point, and a band of two triangles per face-oval edge
reaches RING_SCALE further from the mesh centre (where ears, hair and neck are beside the
face). Triangles are oriented counter-clockwise on the screen (x right, y down) in the
mean head's frontal view, so positive image area means front-facing. Then SynthHeads training heads (seeds 0..heads-1, never the held-out
seeds >= 10^6) are rendered at --views FFHQ-like cameras at 128 px, the face mesh runs
on each render, the mesh is rasterised (photo.atlas.rasterise) and every covered pixel
votes its ground-truth class into its (triangle, barycentric cell) of the camera's yaw
bin (the far cheek and ear change with yaw). Frequencies are smoothed towards the
triangle's own (then the global) frequencies with weight SMOOTH votes, stored as uint8.
Usage: python tools/face_label_atlas.py [--heads 400] [--views 2] [--cells 4] [--yaw-edges=-0.15,0.15]
"""
from __future__ import annotations

import argparse
import itertools
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ide3d_backend import camera, semantics
from ide3d_backend.photo import align, atlas, landmarks as lm
from ide3d_backend.photo.pose import mean_head
from ide3d_backend.synthheads import render_head, sample_head

RESOLUTION = 128
SMOOTH = 3.0
RING_SCALE = 0.35                      # the outer band: 35 % beyond the face oval
YAW_EDGES = (-0.15, 0.15)    # separate frequencies for left-turned, frontal, right-turned


def mesh_triangles() -> list[tuple[int, int, int]]:
    from mediapipe.python.solutions import face_mesh_connections
    edges = {tuple(sorted(e)) for e in face_mesh_connections.FACEMESH_TESSELATION}
    adj: dict[int, set[int]] = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    cliques = {tuple(sorted((a, b, c))) for a, b in edges for c in adj[a] & adj[b]}
    uses = Counter(e for t in cliques for e in itertools.combinations(t, 2))
    return sorted(t for t in cliques if not all(uses[e] == 3 for e in itertools.combinations(t, 2)))


def hole_loops(triangles) -> list[list[int]]:
    """Ordered boundary loops of the mesh other than the face oval."""
    uses = Counter(e for t in triangles for e in itertools.combinations(t, 2))
    adj: dict[int, list[int]] = {}
    for (a, b), n in uses.items():
        if n == 1:
            adj.setdefault(a, []).append(b)
            adj.setdefault(b, []).append(a)
    oval = set(mean_head()["regions"]["face_oval"])
    loops, seen = [], set()
    for start in sorted(adj):
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [n for n in adj[cur] if n != prev and n not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            loop.append(cur)
            seen.add(cur)
        if not set(loop) & oval:
            loops.append(loop)
    return loops


def build_mesh() -> tuple[np.ndarray, list[list[int]], list[int]]:
    tris = mesh_triangles()
    loops = hole_loops(tris)
    for k, loop in enumerate(loops):
        centre = lm.NUM_LANDMARKS + k
        tris += [(loop[i], loop[(i + 1) % len(loop)], centre) for i in range(len(loop))]
    ring = list(mean_head()["regions"]["face_oval"])
    rim0 = lm.NUM_LANDMARKS + len(loops)
    for i in range(len(ring)):  # the band: two triangles per face-oval edge
        j = (i + 1) % len(ring)
        tris += [(ring[i], ring[j], rim0 + j), (ring[i], rim0 + j, rim0 + i)]
    tris = np.array(tris, dtype=np.int64)
    frontal = align.projected_mean_head(0.0, 0.0, RESOLUTION)
    v = atlas.vertices(np.concatenate([frontal, np.zeros((len(frontal), 1))], 1), loops, ring, RING_SCALE)[tris]
    e1, e2 = v[:, 1, :2] - v[:, 0, :2], v[:, 2, :2] - v[:, 0, :2]
    flip = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] < 0
    tris[flip] = tris[flip][:, [0, 2, 1]]
    return tris, loops, ring


def smooth(votes: np.ndarray) -> np.ndarray:
    """(T, C, K) votes -> frequencies, each cell pulled toward its triangle's, each
    triangle toward the global ones."""
    glob = votes.sum((0, 1)) / max(votes.sum(), 1)
    tri = votes.sum(1)
    tri = (tri + SMOOTH * glob) / (tri.sum(1, keepdims=True) + SMOOTH)
    return (votes + SMOOTH * tri[:, None]) / (votes.sum(2, keepdims=True) + SMOOTH)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heads", type=int, default=400)
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--cells", type=int, default=4)
    ap.add_argument("--out", default=str(atlas.ASSET))
    ap.add_argument("--save-votes", default="")
    ap.add_argument("--yaw-edges", default=",".join(map(str, YAW_EDGES)), help="radians between the yaw bins")
    args = ap.parse_args()
    t0 = time.time()
    tris, loops, ring = build_mesh()
    yaw_edges = np.array([float(v) for v in args.yaw_edges.split(",")])
    votes = np.zeros((len(yaw_edges) + 1, len(tris), args.cells ** 2, semantics.NUM_CLASSES))
    rng = np.random.default_rng(2024)
    used = 0
    for seed in range(args.heads):  # training seeds only
        head = sample_head(seed)
        for yaw, pitch in camera.sample_angles(args.views, rng):
            gt = render_head(head, camera.label_from_angles(yaw, pitch), RESOLUTION)
            faces = lm.detect_landmarks(gt["rgb"])
            if not faces:
                continue
            verts = atlas.vertices(faces[0].points, loops, ring, RING_SCALE)
            tri_id, bary = atlas.rasterise(verts, tris, RESOLUTION)
            on = tri_id >= 0
            np.add.at(votes[int(np.searchsorted(yaw_edges, yaw))],
                      (tri_id[on], atlas.cell_index(bary[on], args.cells), gt["mask"][on]), 1)
            used += 1
        if seed % 20 == 0:
            print(f"head {seed}: {used} renders, {time.time() - t0:.0f} s", flush=True)
    probs = np.round(np.stack([smooth(v) for v in votes]) * 255).astype(np.uint8)
    starts = np.cumsum([0] + [len(l) for l in loops])
    how = (f"tools/face_label_atlas.py --heads {args.heads} --views {args.views} --cells {args.cells} "
           f"--yaw-edges {args.yaw_edges}: "
           f"{used} SynthHeads renders of training seeds 0-{args.heads - 1} at {RESOLUTION} px, FFHQ-like cameras "
           f"(rng 2024), yaw bins split at {yaw_edges.tolist()} rad, band {RING_SCALE} beyond the face oval, "
           f"smoothing {SMOOTH} votes")
    np.savez_compressed(args.out, triangles=tris.astype(np.int16), loop_ids=np.concatenate(loops).astype(np.int16),
                        loop_starts=starts.astype(np.int16), cells=args.cells, probs=probs, yaw_edges=yaw_edges,
                        ring=np.array(ring, np.int16), ring_scale=RING_SCALE, how=how)
    if args.save_votes:  # raw votes, to try other smoothing without rendering again
        np.save(args.save_votes, votes)
    print(how, f"{time.time() - t0:.0f} s", Path(args.out).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
