"""IDE-3D backend: generator, renderer, encoders, inversion, editing, meshes and service."""
__version__ = "0.1.0"
