"""IDE-3D backend: generator, renderer, encoders, inversion, editing, meshes and service.

Public entry points (imported lazily so that light modules such as
`ide3d_backend.semantics` do not pull in torch):
`build_generator(preset="tiny", seed=0)`, `load_generator(path=None)`, `save_generator(G, path)`.
"""
__version__ = "0.1.0"

_LAZY = {"build_generator": "api", "load_generator": "api", "save_generator": "api",
         "get_config": "config", "GeneratorConfig": "config"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
