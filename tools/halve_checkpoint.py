#!/usr/bin/env python3
"""Store an IDE-3D checkpoint's float32 tensors as float16 (shipped weights: half the size).
Loading casts them back to float32. Usage: python tools/halve_checkpoint.py SRC DST"""
import sys

from ide3d_backend.checkpoint import load_checkpoint, save_checkpoint


def main(src: str, dst: str) -> int:
    state, meta = load_checkpoint(src)
    save_checkpoint(dst, state, meta["kind"], meta["config"], meta["extra"], half=True)
    print(f"wrote {dst}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
