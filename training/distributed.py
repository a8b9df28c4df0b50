"""Data-parallel training across processes (torchrun): NCCL on GPUs, gloo on CPU.

Like StyleGAN2-ADA and EG3D, we keep the modules unwrapped and all-reduce the
flattened gradients ourselves after each backward pass. A GAN step has several
backward passes over different sub-graphs (G main, G regularisation, D main,
D's R1 double-backward), which DistributedDataParallel's hooks handle poorly;
one explicit all-reduce per optimiser step is simpler and exactly equivalent to
DDP's averaged gradients.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_preference: str | None = None) -> DistContext:
    """Read torchrun's environment; start a process group when there are several ranks."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device_preference or "auto") != "cpu"
    device = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", rank=rank, world_size=world)
    return DistContext(rank, world, local, device)


def all_reduce_gradients(params, ctx: DistContext) -> None:
    """Average gradients over ranks (one flat all-reduce); parameters without grads count as zero."""
    if not ctx.enabled:
        return
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    # nan/inf guard as StyleGAN does: one bad rank must not poison the weights.
    torch.nan_to_num_(flat, nan=0, posinf=1e5, neginf=-1e5)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def broadcast_module(module: torch.nn.Module, ctx: DistContext) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if not ctx.enabled:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def broadcast_tensor(t: torch.Tensor, ctx: DistContext) -> None:
    """Overwrite t on every rank with rank 0's values."""
    if ctx.enabled:
        dist.broadcast(t, src=0)


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
