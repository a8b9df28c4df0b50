"""The switch between the generator's fast CPU formulations and the reference ones.

Every fast path computes the same maths as the reference it replaces (only the
order of floating-point sums differs):
- the StyleGAN2 convs at 32^2 and above (backbone, super-resolution) run channels-last;
- batch-1 modulated convs whose activations outweigh their kernel scale the weights
  instead of the activations, and fold
  bias, noise, activation and clamp into the conv's output in place when no
  gradient is recorded (layers.py);
- tri-planes are sampled from a channels-last copy, which grid_sample reads about
  twice as fast on CPU (decoder.py);
- the renderer composites coarse and fine samples with per-sample weights instead
  of sorting and gathering every feature channel (renderer.py).
`reference_mode()` turns them off: the equivalence test and the before/after
benchmark run both formulations in one process.
"""
from __future__ import annotations

import contextlib
import weakref

import torch

_enabled = True


def enabled() -> bool:
    return _enabled


@contextlib.contextmanager
def reference_mode():
    """Run the reference formulations inside this block (not thread-safe: tests and benchmarks only)."""
    global _enabled
    old, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = old


# Below this many pixels a conv's weights outweigh its activations and the NCHW weight
# (rebuilt every call by the equalised-lr scaling) would cost a layout copy per call.
CHANNELS_LAST_MIN_PIXELS = 32 * 32


def conv_layout(x: torch.Tensor) -> torch.Tensor:
    """The layout a conv runs in on the fast path: channels-last (oneDNN's native CPU
    layout, about twice as fast for the 3x3 convs and bilinear upsampling at 64^2 and
    above) for large maps, plain NCHW for small ones."""
    if not _enabled:
        return x
    if x.shape[-1] * x.shape[-2] >= CHANNELS_LAST_MIN_PIXELS:
        return x.contiguous(memory_format=torch.channels_last)
    return x.contiguous()


class ChannelsLastCache:
    """A channels-last copy of the last tensor seen, reused while that tensor is unchanged.

    The renderer samples the same planes several times per image (coarse and fine
    passes, ray chunks); copying them once per image instead of once per call
    keeps the copy negligible. Tensors that record gradients are never cached, so
    no autograd graph outlives its backward pass.
    """

    def __init__(self):
        self._key = None
        self._value = None

    # A cached copy is never worth saving or copying (EMA copies, pickles): start empty.
    def __deepcopy__(self, memo):
        return ChannelsLastCache()

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.__init__()

    def __call__(self, planes: torch.Tensor) -> torch.Tensor:
        """Tri-planes [B, 3, C, H, W] -> [B*3, C, H, W] in channels-last layout."""
        if planes.requires_grad and torch.is_grad_enabled():
            return self._convert(planes)
        key = self._key
        if key is not None and key[0]() is planes and key[1] == planes._version:
            return self._value
        value = self._convert(planes)
        self._key, self._value = (weakref.ref(planes), planes._version), value
        return value

    @staticmethod
    def _convert(planes: torch.Tensor) -> torch.Tensor:
        b, k, c, h, w = planes.shape
        return planes.reshape(b * k, c, h, w).contiguous(memory_format=torch.channels_last)
