"""What `ide3d serve` runs with. Plain dataclasses; the CLI fills them from flags."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..limits import Limits

__all__ = ["LOOPBACK_HOSTS", "Limits", "Settings", "default_data_dir"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def default_data_dir() -> Path:
    """$IDE3D_DATA_DIR, else $XDG_DATA_HOME/ide3d (default ~/.local/share/ide3d), the
    add-on's default too."""
    if os.environ.get("IDE3D_DATA_DIR"):
        return Path(os.environ["IDE3D_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ide3d"


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None                       # None: the token file (created on first start)
    token_file: Path | None = None                 # None: $XDG_CONFIG_HOME/ide3d/token
    data_dir: Path = field(default_factory=default_data_dir)
    checkpoint: str | None = None                  # generator checkpoint; "build:tiny[:seed]" builds one
    encoders: str | None = None                    # encoders checkpoint (None: the shipped one, if any)
    parser: str | None = None                      # face parser checkpoint (None: the shipped one, if any)
    device: str | None = None                      # cpu | cuda[:N]; None: auto
    allow_remote: bool = False
    threads: int | None = None                     # torch intra-op threads (None: torch's default)
    limits: Limits = field(default_factory=Limits)
    # Step counts per inversion preset, overriding the engine's (tests, slow machines):
    # {"fast": (latent_steps, tune_steps)}.
    preset_steps: dict = field(default_factory=dict)
    session_cache: int = 8                         # sessions kept open in memory
    render_cache: int = 256                        # PNGs kept in memory

    def __post_init__(self):
        self.data_dir = Path(self.data_dir).expanduser()
        if self.token_file is not None:
            self.token_file = Path(self.token_file).expanduser()

    def generator_spec(self) -> str | None:
        """The generator to serve (sources' spec): --checkpoint, else $IDE3D_CHECKPOINT,
        else None (the shipped default). The one place IDE3D_CHECKPOINT is read."""
        return self.checkpoint or os.environ.get("IDE3D_CHECKPOINT") or None

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")

    def check(self) -> None:
        """Raise ValueError when the settings are unsafe or inconsistent."""
        if not self.is_loopback and not self.allow_remote:
            raise ValueError(f"binding to {self.host} exposes the backend to the network; pass --allow-remote "
                             "to do it on purpose (keep the token secret), or use --host 127.0.0.1")
        if not 0 <= int(self.port) <= 65535:
            raise ValueError(f"port {self.port} is out of range 0..65535")
        for name, (lat, tune) in self.preset_steps.items():
            if int(lat) < 1 or int(tune) < 0:
                raise ValueError(f"preset steps for {name} must be latent>=1, tune>=0")
