"""Ways a session folder gets damaged on disk (issue 17, items 1-3), shared by the service
tests and the schema fuzzing: each recipe takes a session folder and breaks one thing."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _edit_session_json(path: Path, change) -> None:
    meta = json.loads((path / "session.json").read_text())
    change(meta)
    (path / "session.json").write_text(json.dumps(meta))


SESSION_DAMAGE = {
    "nocamera": lambda p: _edit_session_json(p, lambda m: m.pop("camera")),
    "name123": lambda p: _edit_session_json(p, lambda m: m.update(name=123)),
    "creatednull": lambda p: _edit_session_json(p, lambda m: m.update(created=None)),
    "yawabc": lambda p: _edit_session_json(p, lambda m: m["camera"].update(yaw="abc")),
    "versionx": lambda p: _edit_session_json(p, lambda m: m["history"][0].update(version="x")),
    "nosummary": lambda p: _edit_session_json(p, lambda m: m["history"][0].pop("summary")),
    "badmask": lambda p: (p / "mask.png").write_bytes(np.random.default_rng(3).bytes(400)),
    "notuned": lambda p: (p / "generator_tuned.safetensors").unlink(),
    "emptystate": lambda p: next((p / "states").iterdir()).write_bytes(b""),
    "escaping": lambda p: _edit_session_json(p, lambda m: m["history"][0].update(file="../good/states/x")),
}


def make_sessions(sessions: Path, G, ckpt: Path, good: str = "good") -> list[str]:
    """One good session `good` and one per damage recipe (same head, a tuned copy so
    generator_tuned.safetensors exists); returns the damaged ids."""
    from ide3d_backend import editing as E
    from ide3d_backend.session import Session

    mask = np.zeros((128, 128), np.uint8)
    mask[30:100, 30:100] = 1
    name = next(k for k in G.state_dict() if k.startswith("superres.rgb"))
    tuned = {name: G.state_dict()[name].clone() + 0.01}
    for sid in [good, *SESSION_DAMAGE]:
        Session.create(sessions / sid, G, E.latents_from_seed(G, 7), 0.0, 0.0, tuned, None, mask, "user",
                       base_source={"checkpoint": str(ckpt)})
        if sid in SESSION_DAMAGE:
            SESSION_DAMAGE[sid](sessions / sid)
    return list(SESSION_DAMAGE)
