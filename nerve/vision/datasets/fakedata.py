"""``FakeData``: random images and labels, as ``torchvision.datasets.FakeData`` (DCGAN's ``--dataset fake``)."""

from __future__ import annotations

from ... import creation
from ...random import Generator
from ..transforms import ToPILImage
from .vision import VisionDataset

__all__ = ["FakeData"]


class FakeData(VisionDataset):
    """``size`` random images, each a PIL image made from a standard normal (C, H, W) tensor, with a label.

    Item ``i`` is drawn from a generator seeded with ``i + random_offset``, so it is the same on every
    read (and nerve's global generator is left as it was); the values differ from torchvision's.

    Args:
        size: number of images.
        image_size: (C, H, W) of each image.
        num_classes: labels are in [0, num_classes).
        transform, target_transform: applied to the PIL image and to the label.
        random_offset: added to the index to seed each item.
    """

    def __init__(self, size: int = 1000, image_size=(3, 224, 224), num_classes: int = 10, transform=None,
                 target_transform=None, random_offset: int = 0):
        super().__init__(transform=transform, target_transform=target_transform)
        self.size = size
        self.num_classes = num_classes
        self.image_size = image_size
        self.random_offset = random_offset

    def __getitem__(self, index: int):
        if index >= len(self):
            raise IndexError(f"{self.__class__.__name__} index out of range")
        g = Generator().manual_seed(index + self.random_offset)
        img = creation.randn(*self.image_size, generator=g)
        target = int(creation.randint(0, self.num_classes, (1,), generator=g)[0])
        img = ToPILImage()(img)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self) -> int:
        return self.size
