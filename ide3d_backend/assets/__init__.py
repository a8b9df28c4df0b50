"""Bundled sample data (see README.md here for provenance and licence)."""
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent
ASTRONAUT = ASSETS_DIR / "astronaut.png"  # public domain (NASA), from scikit-image
