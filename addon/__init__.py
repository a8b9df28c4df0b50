"""IDE-3D Portrait Heads: a Blender add-on (extension) that talks to the local IDE-3D backend.

Modules that need bpy are imported inside register() so that ``client``, ``jobs``,
``backend_process``, ``palette`` and ``pngio`` stay importable without Blender
(tests drive them directly).
"""

_MODULES = ("preferences", "properties", "operators", "panels")


def _modules():
    import importlib
    return [importlib.import_module(f"{__package__}.{name}") for name in _MODULES]


def register():
    for mod in _modules():
        mod.register()


def unregister():
    from . import backend_process, jobs
    jobs.RUNNER.cancel_all()
    for mod in reversed(_modules()):
        try:
            mod.unregister()
        except (RuntimeError, ValueError):
            pass
    backend_process.stop_backend()
