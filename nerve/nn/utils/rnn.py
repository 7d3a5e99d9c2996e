"""Packed and padded sequences for the recurrent layers, as ``torch.nn.utils.rnn``.

A ``PackedSequence`` holds a batch of sequences of different lengths, sorted by decreasing length,
time step after time step: ``data`` stacks the rows of every sequence still running at step 0, then
at step 1, and so on; ``batch_sizes[t]`` counts them. Packing and unpacking are one gather each
(differentiable), from precomputed row indices.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ... import creation
from ...functions import cat
from ...tensor import Tensor


class PackedSequence(NamedTuple):
    """``data`` (sum of lengths, *), ``batch_sizes`` (int64 on the CPU, one per step), and the
    permutation that sorted the batch by length (``sorted_indices``) and its inverse."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args, **kwargs) -> "PackedSequence":
        """Move ``data`` (and the index tensors) as ``Tensor.to``; ``batch_sizes`` stays on the CPU."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self

        def move(t):
            return None if t is None else t.to(data.device)

        return PackedSequence(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cpu(self) -> "PackedSequence":
        return self.to("cpu")

    def cuda(self) -> "PackedSequence":
        return self.to("cuda")

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda


def _ints(x) -> list[int]:
    if isinstance(x, Tensor):
        x = x.tolist()
    return [int(v) for v in np.asarray(x).reshape(-1)]


def _batch_sizes(lengths: list[int]) -> list[int]:
    """For lengths sorted in decreasing order: how many sequences run at each step."""
    return [sum(1 for n in lengths if n > t) for t in range(lengths[0])]


def _packed_rows(batch_sizes: list[int]) -> np.ndarray:
    """The row of a flattened (L * N) padded batch that each packed row comes from."""
    n = batch_sizes[0]
    return np.concatenate([t * n + np.arange(b) for t, b in enumerate(batch_sizes)])


def _index(rows: np.ndarray, like: Tensor) -> Tensor:
    return creation.tensor(rows.astype(np.int64), device=like.device)


def pack_rows(padded: Tensor, batch_sizes: list[int]) -> Tensor:
    """Packed ``data`` from a time-major padded batch (L, N, *) already sorted by length."""
    flat = padded.reshape((-1,) + tuple(padded.shape[2:]))
    return flat[_index(_packed_rows(batch_sizes), flat)]


def unpack_rows(data: Tensor, batch_sizes: list[int], padding_value: float = 0.0) -> Tensor:
    """The time-major padded batch (L, N, *) of packed ``data``, padding filled with ``padding_value``."""
    L, N = len(batch_sizes), batch_sizes[0]
    src = np.full(L * N, data.shape[0], dtype=np.int64)  # row past the end: the padding row
    src[_packed_rows(batch_sizes)] = np.arange(data.shape[0])
    pad = creation.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    return cat([data, pad], 0)[_index(src, data)].reshape((L, N) + tuple(data.shape[1:]))


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    if permutation is None:
        return None
    perm = np.asarray(_ints(permutation))
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    return creation.tensor(inv, device=permutation.device)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch of sequences of the given lengths.

    Args:
        input: (L, N, *), or (N, L, *) with ``batch_first``.
        lengths: the length of each sequence (list or 1-D tensor on the CPU).
        enforce_sorted: require lengths in decreasing order; if False the batch is sorted here and
            the permutation kept, so the RNN's states come back in the input's order.
    """
    lengths = _ints(lengths)
    if not lengths or min(lengths) <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    batch_dim = 0 if batch_first else 1
    if len(lengths) != input.shape[batch_dim]:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                           f"(batch_size={input.shape[batch_dim]})")
    if max(lengths) > input.shape[1 - batch_dim]:
        raise RuntimeError(f"Expected the lengths to be at most the padded length {input.shape[1 - batch_dim]}, "
                           f"got {max(lengths)}")
    if enforce_sorted:
        if any(a < b for a, b in zip(lengths, lengths[1:])):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                               "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                               "pack_sequence to sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = None
    else:
        order = np.argsort(-np.asarray(lengths), kind="stable")
        sorted_indices = creation.tensor(order.astype(np.int64), device=input.device)
        input = input.index_select(batch_dim, sorted_indices)
        lengths = [lengths[i] for i in order]
    if batch_first:
        input = input.transpose(0, 1)
    bs = _batch_sizes(lengths)
    data = pack_rows(input[:len(bs)], bs)
    return PackedSequence(data, creation.tensor(bs, dtype=None), sorted_indices,
                          invert_permutation(sorted_indices))


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None):
    """Undo ``pack_padded_sequence``: returns ``(padded, lengths)``, in the original batch order.

    Args:
        total_length: pad to this many steps (at least the longest sequence).
    """
    bs = _ints(sequence.batch_sizes)
    padded = unpack_rows(sequence.data, bs, padding_value)
    if total_length is not None:
        if total_length < len(bs):
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {len(bs)}")
        if total_length > len(bs):
            extra = creation.full((total_length - len(bs),) + tuple(padded.shape[1:]), padding_value,
                                  dtype=padded.dtype, device=padded.device)
            padded = cat([padded, extra], 0)
    lengths = np.array([sum(1 for b in bs if b > i) for i in range(bs[0])], dtype=np.int64)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(1, sequence.unsorted_indices)
        lengths = lengths[np.asarray(_ints(sequence.unsorted_indices))]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, creation.tensor(lengths)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes (L_i, *) into (L_max, N, *) (or (N, L_max, *)), padding with ``padding_value``."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    L = max(s.shape[0] for s in sequences)
    rows, lengths = [], [s.shape[0] for s in sequences]
    total = sum(lengths)
    start = 0
    for n in lengths:  # for each sequence, its source rows in the concatenation, padding rows pointing past it
        idx = np.full(L, total, dtype=np.int64)
        span = np.arange(start, start + n)
        if padding_side == "right":
            idx[:n] = span
        else:
            idx[L - n:] = span
        rows.append(idx)
        start += n
    first = sequences[0]
    pad = creation.full((1,) + tuple(first.shape[1:]), padding_value, dtype=first.dtype, device=first.device)
    src = np.stack(rows, axis=0 if batch_first else 1).reshape(-1)
    out = cat(sequences + [pad], 0)[_index(src, first)]
    return out.reshape(((len(sequences), L) if batch_first else (L, len(sequences))) + tuple(first.shape[1:]))


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences of shapes (L_i, *)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """Split a padded batch back into its sequences."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :n] for i, n in enumerate(_ints(lengths))]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """Split a ``PackedSequence`` back into its sequences."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
