"""``VisionDataset``: the base of the image datasets (root, transform, target_transform), as torchvision's."""

from __future__ import annotations

import os

from ...utils.data.dataset import Dataset

__all__ = ["StandardTransform", "VisionDataset"]


def _format_transform_repr(transform, head: str) -> list[str]:
    lines = repr(transform).splitlines()
    return [f"{head}{lines[0]}"] + [" " * len(head) + line for line in lines[1:]]


class StandardTransform:
    """``transform`` on the input and ``target_transform`` on the target: ``(input, target) -> (input, target)``."""

    def __init__(self, transform=None, target_transform=None):
        self.transform = transform
        self.target_transform = target_transform

    def __call__(self, input, target):
        if self.transform is not None:
            input = self.transform(input)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return input, target

    def __repr__(self) -> str:
        body = [type(self).__name__]
        if self.transform is not None:
            body += _format_transform_repr(self.transform, "Transform: ")
        if self.target_transform is not None:
            body += _format_transform_repr(self.target_transform, "Target transform: ")
        return "\n".join(body)


class VisionDataset(Dataset):
    """A dataset under ``root`` with an image ``transform`` and a label ``target_transform``.

    As in torchvision, ``transforms`` (one callable on ``(input, target)``) is either passed, or made
    from ``transform`` and ``target_transform`` as a ``StandardTransform``.
    """

    _repr_indent = 4

    def __init__(self, root=None, transforms=None, transform=None, target_transform=None):
        self.root = os.path.expanduser(os.fspath(root)) if root is not None else None
        separate = transform is not None or target_transform is not None
        if transforms is not None and separate:
            raise ValueError("Only transforms or transform/target_transform can be passed as argument")
        self.transform = transform
        self.target_transform = target_transform
        self.transforms = StandardTransform(transform, target_transform) if separate else transforms

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        """torchvision's layout: the body indented by 4, the transforms' repr as it prints."""
        body = [f"Number of datapoints: {len(self)}"]
        if self.root is not None:
            body.append(f"Root location: {self.root}")
        body += self.extra_repr().splitlines()
        if self.transforms is not None:
            body.append(repr(self.transforms))
        return "\n".join([f"Dataset {type(self).__name__}"] + [" " * self._repr_indent + line for line in body])
