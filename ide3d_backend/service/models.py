"""Request and response models of docs/api.md (they make /openapi.json)."""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

JobState = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
MAX_SEED = 2**31 - 1


class Problem(BaseModel):
    detail: str = Field(description="what is wrong and what to do")


class ModelInfo(BaseModel):
    preset: str
    device: str
    output_resolution: int


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    model: ModelInfo


class ClassInfo(BaseModel):
    id: int
    name: str
    color: list[int]


class Info(BaseModel):
    classes: list[ClassInfo]
    regions: dict[str, list[int]]
    groups: dict[str, list[int]] = {}
    aliases: dict[str, str] = {}
    presets: list[str]
    limits: dict[str, int | float]  # sizes are ints, angle bounds (radians) floats
    capabilities: dict[str, bool] = {}


class Camera(BaseModel):
    yaw: float
    pitch: float


class HistoryEntry(BaseModel):
    version: int
    kind: str
    summary: str


class SessionInfo(BaseModel):
    id: str
    name: str
    created: float
    version: int
    camera: Camera
    classes_present: list[int]
    can_undo: bool
    can_redo: bool
    history: list[HistoryEntry]
    warnings: list[str] = []
    mask_source: Optional[str] = None
    damaged: bool = False
    error: Optional[str] = None


class JobResult(BaseModel):
    session: SessionInfo


class Job(BaseModel):
    id: str
    kind: Literal["invert"]
    state: JobState
    progress: float = Field(ge=0.0, le=1.0)
    stage: str
    message: str
    queue_position: Optional[int] = None
    result: Optional[JobResult] = None
    error: Optional[str] = None
    created: float = 0.0
    preview_available: bool = False


class SampleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: StrictInt = Field(ge=0, le=MAX_SEED)
    truncation: float = Field(0.7, ge=0.0, le=2.0, allow_inf_nan=False)
    name: Optional[str] = Field(None, max_length=200)


ClassRef = Union[StrictInt, str]


class _StyleSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: Optional[StrictInt] = Field(None, ge=0, le=MAX_SEED)
    source_session: Optional[str] = Field(None, max_length=64)
    truncation: float = Field(0.7, ge=0.0, le=2.0, allow_inf_nan=False)


class RegionEdit(_StyleSource):
    classes: list[ClassRef] = Field(min_length=1, max_length=64,
                                    description="class names, aliases, region/group names or ids 0..18")

    @field_validator("classes")
    @classmethod
    def _short_names(cls, v):
        for c in v:
            if isinstance(c, str) and len(c) > 64:
                raise ValueError("class names are at most 64 characters")
        return v


class TextureEdit(_StyleSource):
    pass


class CompactMesh(BaseModel):
    version: int = Field(description="the session version the mesh was made from")
    frame: str = "blender"
    vertices: str = Field(description="base64 little-endian float32 (V, 3), Blender frame (Z up, face -Y, metres)")
    faces: str = Field(description="base64 little-endian int32 (F, 3)")
    colors: str = Field(description="base64 uint8 (V, 3) sRGB")
    labels: str = Field(description="base64 uint8 (V,) class ids")
    vertex_count: int
    face_count: int
    uvs: Optional[str] = Field(None, description="with ?texture=N: base64 float32 (V, 2), origin top-left (glTF)")
    texture_png: Optional[str] = Field(None, description="with ?texture=N: base64 sRGB PNG, N x N")
    texture_size: Optional[int] = None
    warnings: Optional[list[str]] = None


class LiveStroke(BaseModel):
    """One stroke of live painting: the edit's new session state, the canonical preview and,
    when asked for, the coarse mesh of the new state (docs/api.md)."""
    session: SessionInfo
    preview_png: str = Field(description="base64 PNG: the canonical (frontal) RGB view after the edit")
    mesh: Optional[CompactMesh] = Field(None, description="with ?mesh_resolution=N: the coarse live mesh")
    seconds: dict[str, float] = Field(default_factory=dict, description="server-side time per step")
