"""Random number generation: ``manual_seed``, ``Generator``, and the samplers factories use."""

from __future__ import annotations

import os

import numpy as np


class Generator:
    """A seeded random stream; pass it as ``generator=`` to sample from it instead of the global one."""

    def __init__(self, device="cpu"):
        self.device = device
        self.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)

    def manual_seed(self, seed: int) -> "Generator":
        """Restart the stream from ``seed``; returns the generator."""
        seed = int(seed)
        if seed < 0:
            seed &= (1 << 64) - 1
        self._seed = seed
        self._np = None  # made on first use: importing numpy.random costs start-up time
        self._cupy = None
        return self

    @property
    def np(self):
        """The NumPy ``Generator`` behind this stream."""
        if self._np is None:
            self._np = np.random.Generator(np.random.PCG64(self._seed))
        return self._np

    def seed(self) -> int:
        s = int.from_bytes(os.urandom(8), "little") >> 1
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self):
        from .creation import tensor

        state = self.np.bit_generator.state
        blob = np.frombuffer(repr(state).encode(), dtype=np.uint8).copy()
        return tensor(blob)

    def set_state(self, state) -> "Generator":
        import ast

        text = bytes(np.asarray(state.numpy() if hasattr(state, "numpy") else state, dtype=np.uint8)).decode()
        self.np.bit_generator.state = ast.literal_eval(text)
        return self

    def cupy(self):
        """A CuPy generator seeded from this one (for tensors made on the GPU)."""
        if self._cupy is None:
            from .backend import cupy_module

            self._cupy = cupy_module().random.default_rng(int(self.np.integers(2**63)))
        return self._cupy


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the global generator so runs are reproducible; returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state) -> None:
    default_generator.set_state(state)


def _rng(generator, dev):
    g = generator if generator is not None else default_generator
    if dev.type == "cpu":
        return g.np
    return g.cupy()


def _uniform(shape, low, high, npdtype, dev, generator=None):
    rng = _rng(generator, dev)
    npdtype = np.dtype(npdtype)
    if npdtype.kind == "f" and npdtype.itemsize >= 4:
        u = rng.random(tuple(shape), dtype=npdtype)
    else:
        u = rng.random(tuple(shape)).astype(npdtype)
    if low != 0.0 or high != 1.0:
        u *= high - low
        u += low
    return u


def _normal(shape, mean, std, npdtype, dev, generator=None):
    rng = _rng(generator, dev)
    npdtype = np.dtype(npdtype)
    if npdtype.kind == "f" and npdtype.itemsize >= 4:
        z = rng.standard_normal(tuple(shape), dtype=npdtype)
    else:
        z = rng.standard_normal(tuple(shape)).astype(npdtype)
    if std != 1.0:
        z *= std
    if mean != 0.0:
        z += mean
    return z


def _integers(low, high, shape, dev, generator=None):
    # drawn on the host for every device: index-sized and the same stream everywhere
    from .backend import CPU, move

    rng = _rng(generator, CPU)
    return move(rng.integers(low, high, size=tuple(shape), dtype=np.int64), dev)


def _permutation(n, dev, generator=None):
    from .backend import CPU, move

    rng = _rng(generator, CPU)
    return move(rng.permutation(n).astype(np.int64, copy=False), dev)
