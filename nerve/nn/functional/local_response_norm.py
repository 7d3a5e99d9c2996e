"""Local response normalisation (AlexNet), composed from differentiable tensor ops as PyTorch's."""

from __future__ import annotations

from ...tensor import Tensor
from .misc import pad


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """``x / (k + alpha * mean of x**2 over size neighbouring channels) ** beta``, as
    ``torch.nn.functional.local_response_norm``.

    Args:
        input: (N, C, *) with at least one spatial dim.
        size: how many neighbouring channels (the channel itself included) form the window;
            the window is centred, missing channels at the ends count as zeros.
        alpha, beta, k: the normalisation's constants.

    Returns:
        A tensor of the input's shape.
    """
    dim = input.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality                          input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    c = input.shape[1]
    sq = (input * input).transpose(1, -1)
    sq = pad(sq, (size // 2, (size - 1) // 2)).transpose(1, -1)
    total = sq.narrow(1, 0, c)
    for j in range(1, size):
        total = total + sq.narrow(1, j, c)
    div = (total / size * alpha + k) ** beta
    return input / div
