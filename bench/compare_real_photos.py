"""Compare two bench/real_photos.py results on the real portraits both scored, view by view.

A mean identity distance over "the views where a face was found" rewards a model that
loses the face on its worst views, so the comparison is paired: identity is compared only
on views where both runs found the face, and the faces each run lost are counted apart.
Usage: python bench/compare_real_photos.py BEFORE.json AFTER.json [--yaws=-0.26,+0.26]
Prints a table and writes nothing; exits 0 whichever run is better.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import RESULTS  # bench/common.py: the script's own folder is on sys.path


def load(path: str) -> dict:
    """A results JSON by path, or by its name in bench/results/ without .json."""
    p = Path(path)
    if not p.exists() and not p.suffix:
        p = RESULTS / f"{path}.json"
    return json.loads(p.read_text())


def compare(before: dict, after: dict, yaws: list[str]) -> dict:
    """Paired scores on the portraits and yaws both runs have."""
    rows, pairs = [], []
    lost = {"before": 0, "after": 0}
    for name in sorted(set(before["real"]) & set(after["real"])):
        vb, va = before["real"][name].get("views"), after["real"][name].get("views")
        if vb is None or va is None:
            continue
        for yaw in yaws:
            b, a = vb[yaw], va[yaw]
            rows.append((name, yaw, b["identity_distance"], a["identity_distance"]))
            lost["before"] += not b["face_found"]
            lost["after"] += not a["face_found"]
            if b["face_found"] and a["face_found"]:
                pairs.append((b["identity_distance"], a["identity_distance"]))
    n = len(pairs)
    return {"rows": rows, "views": len(rows), "faces_lost": lost, "paired_views": n,
            "paired_identity_before": sum(b for b, _ in pairs) / n if n else None,
            "paired_identity_after": sum(a for _, a in pairs) / n if n else None,
            "after_closer": sum(a < b for b, a in pairs)}


def fmt(distance: float | None) -> str:
    return "  -  " if distance is None else f"{distance:.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--yaws", default="-0.26,+0.26", help="views to compare, as in the JSON's keys")
    args = ap.parse_args()
    yaws = [f"{float(y):+.2f}" for y in args.yaws.split(",")]
    out = compare(load(args.before), load(args.after), yaws)
    print(f"{'portrait':22s} {'yaw':>6s} {'before':>7s} {'after':>7s}")
    for name, yaw, b, a in out["rows"]:
        print(f"{name:22s} {yaw:>6s} {fmt(b):>7s} {fmt(a):>7s}")
    print(f"faces lost (of {out['views']} views): before {out['faces_lost']['before']}, "
          f"after {out['faces_lost']['after']}")
    if out["paired_views"]:
        print(f"identity on the {out['paired_views']} views both found: before {out['paired_identity_before']:.3f}, "
              f"after {out['paired_identity_after']:.3f}; after closer on {out['after_closer']}")


if __name__ == "__main__":
    main()
