"""Inversion jobs: POST /sessions queues one (photo [+ mask] -> a new session), and
GET /jobs/{job_id}, POST /jobs/{job_id}/cancel and GET /jobs/{job_id}/preview follow it.

The job runs on the worker's own copies of the models (`Backend.G_job`...), writes into
tmp/ and publishes the finished session; the job table (job_table.py) keeps jobs across restarts."""
from __future__ import annotations

import json
import os
from typing import Literal, Optional

from fastapi import APIRouter, File, Form, Response, UploadFile
from PIL import Image

from ..backend import Backend
from ..deps import BackendDep, JobDep, LimitsDep, secured
from ..errors import ERRORS, ApiError
from ..images import decode_mask, decode_photo, png_bytes
from ..jobs import Cancelled, JobConflict
from ..models import Job

router = APIRouter(tags=["jobs"], dependencies=secured, responses=ERRORS)


@router.post("/sessions", status_code=202, response_model=Job)
def create_session(backend: BackendDep, limits: LimitsDep,
                   photo: UploadFile = File(..., description="portrait (JPEG, PNG, WebP, ...)"),
                   mask: Optional[UploadFile] = File(None, description="8-bit id PNG or palette-colour PNG"),
                   preset: Literal["fast", "quality"] = Form("fast"),
                   align: bool = Form(True),
                   name: Optional[str] = Form(None, max_length=200)):
    b = backend
    data = photo.file.read()
    im = decode_photo(data, "photo", limits)
    w, h = im.size
    ids = None
    if mask is not None:
        mdata = mask.file.read()
        if mdata:  # an empty part is "no mask" (some clients send one)
            ids = decode_mask(mdata, "mask", limits)
            if ids.shape not in ((h, w), (b.resolution, b.resolution)):
                raise ApiError(422, f"the mask is {ids.shape[1]}x{ids.shape[0]} but must be the photo's size "
                                    f"({w}x{h}) or the aligned size ({b.resolution}x{b.resolution})")
    if align:  # a photo without a usable face fails now, not inside the job
        from ... import preprocess
        try:
            preprocess.detect_face(preprocess.load_image(im))  # the photo decoded above
        except preprocess.PreprocessError as exc:
            raise ApiError(422, getattr(exc, "api_detail", str(exc))) from None
    preset_obj = b.preset(preset)
    label = (name or os.path.splitext(os.path.basename(photo.filename or ""))[0] or "portrait").strip()[:200]
    run = _inversion(b, data, ids, preset, preset_obj, align, label)
    try:
        job = b.jobs.submit("invert", run, label)
    except JobConflict as exc:
        raise ApiError(409, str(exc)) from None
    return b.jobs.snapshot(job)


def _inversion(b: Backend, data: bytes, ids, preset: str, preset_obj, align: bool, label: str):
    """The job's work: invert the photo in a tmp dir, publish it as a session, answer its info."""

    def run(job):
        from ...session import invert_photo
        sid = b.store.new_id()
        tmp = b.store.tmp_path(sid)
        spans = {"latent": (0.05, 0.6, "optimising the latent code"),
                 "tune": (0.6, 0.95, "tuning the generator")}

        def callback(stage, step, total, loss, preview):
            b.model_lock.yield_cpu()  # between two steps: renders and edits first
            if preview is not None:
                job.preview = preview
            if stage == "encode":
                job.report(0.05, "encoding", "initial latent code ready")
                return
            lo, hi, text = spans.get(stage, (0.05, 0.95, stage))
            loss_txt = f", loss {loss:.4f}" if loss == loss else ""
            job.report(lo + (hi - lo) * step / max(total, 1), stage, f"{text}: step {step}/{total}{loss_txt}")

        job.report(0.01, "preprocessing", "aligning the photo" if align else "framing the photo")
        try:
            # the job's directory exists from the start (a marker of unfinished work that the
            # next start removes after a crash); it moves to sessions/ only when complete
            tmp.mkdir(parents=True)
            job.workdir = str(tmp)
            job.persist()
            (tmp / "job.json").write_text(json.dumps({"job": job.id, "name": label, "preset": preset,
                                                      "started": job.created}))
            invert_photo(b.G_job, data, tmp, mask=ids, preset=preset_obj, align=align, encoders=b.enc_job,
                         parser=b.parser_job, callback=callback, cancel=job.cancel, name=label,
                         base_source=b.base_source)
            job.report(0.97, "saving", "publishing the session")
            (tmp / "job.json").unlink()
            with job.finishing():
                b.store.publish(tmp, sid)
        except Exception as exc:
            from ...inversion import Cancelled as InversionCancelled
            if isinstance(exc, InversionCancelled):
                raise Cancelled(str(exc)) from None
            if isinstance(exc, Image.DecompressionBombError):
                raise ValueError(f"the photo has too many pixels ({exc})") from None
            raise
        finally:
            b.store.discard(tmp)
        return {"session": b.store.info(sid)}

    return run


@router.get("/jobs/{job_id}", response_model=Job)
def get_job(job: JobDep, backend: BackendDep):
    return backend.jobs.snapshot(job)


@router.post("/jobs/{job_id}/cancel", response_model=Job)
def cancel_job(job: JobDep, backend: BackendDep):
    try:
        job = backend.jobs.cancel(job.id)
    except JobConflict as exc:
        raise ApiError(409, str(exc)) from None
    return backend.jobs.snapshot(job)


@router.get("/jobs/{job_id}/preview", responses={200: {"content": {"image/png": {}}}}, response_class=Response)
def job_preview(job: JobDep):
    if job.preview is None:
        raise ApiError(404, "no preview yet; the inversion sends one every few steps")
    return Response(png_bytes(job.preview), media_type="image/png")
