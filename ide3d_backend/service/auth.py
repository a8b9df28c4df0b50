"""The bearer token: `secrets.token_urlsafe`, created on first start in
$XDG_CONFIG_HOME/ide3d/token (default ~/.config/ide3d/token) with mode 0600, compared
in constant time."""
from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from ..checkpoint import atomic_write_bytes


def token_path(env: dict | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "ide3d" / "token"


def load_or_create_token(path: str | os.PathLike | None = None) -> tuple[str, Path, bool]:
    """(token, path, created). An existing non-empty file is reused (its mode is tightened
    to 0600); otherwise a new token is written with mode 0600 from the start."""
    path = Path(path) if path else token_path()
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    if text:
        if os.name == "posix" and (path.stat().st_mode & 0o077):
            os.chmod(path, 0o600)
        return text, path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        try:
            os.chmod(path.parent, 0o700)
        except OSError:
            pass
    token = secrets.token_urlsafe(32)
    # mode 0600 from the start (before the token is written), and the rename keeps it.
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(token + "\n", encoding="utf-8"), mode=0o600)
    return token, path, True


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def token_matches(expected: str, given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
