"""Getting ``nerve train``'s examples into arrays, and images into what a trained model expects.

Every dataset ends up as uint8 arrays (N, H, W, C) plus int64 labels; normalisation (the
training set's mean and standard deviation per channel) is computed here and saved with the
model, so that ``nerve predict`` converts a new image exactly as the training images were.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from dataclasses import dataclass, field

import numpy as np

from .common import CLIError, one_line

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"


@dataclass
class Data:
    """Training and held-out examples (uint8, N x H x W x C), labels, and how images were prepared."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    preprocess: dict = field(default_factory=dict)  # color, size, resize, mean, std
    source: str = ""
    test_name: str = "test"  # "test" for the standard test sets, "validation" for a held-out split

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) as the core's layers take it."""
        n, h, w, c = self.x_train.shape
        return (c, h, w)


def normalise(x_uint8: np.ndarray, preprocess: dict) -> np.ndarray:
    """uint8 NHWC -> float32 NHWC, scaled to [0, 1] and standardised with the saved statistics."""
    mean = np.asarray(preprocess["mean"], dtype=np.float32)
    std = np.asarray(preprocess["std"], dtype=np.float32)
    return (x_uint8.astype(np.float32) * np.float32(1 / 255) - mean) / std


def _stats(x: np.ndarray) -> tuple[list[float], list[float]]:
    flat = x.reshape(-1, x.shape[-1]).astype(np.float32) / 255
    return [round(float(v), 4) for v in flat.mean(0)], [round(float(max(v, 1e-3)), 4) for v in flat.std(0)]


def load_dataset(name: str, *, data_dir: str, image_size: int | None, val_split: float, seed: int,
                 limit: int | None) -> Data:
    """Load ``mnist``, ``fashion-mnist`` or a folder of images (one subfolder per class)."""
    key = name.lower().replace("_", "-")
    if key in ("mnist", "fashion-mnist", "fashionmnist"):
        data = _load_idx_dataset("fashion-mnist" if key.startswith("fashion") else "mnist", data_dir)
    elif os.path.isdir(name):
        data = _load_folder(name, image_size=image_size, val_split=val_split, seed=seed)
    elif os.path.exists(name):
        raise CLIError(f"--dataset {name}: not a folder (give mnist, fashion-mnist, or a folder of images "
                       "with one subfolder per class)")
    elif os.sep in name or name.startswith("."):
        raise CLIError(f"--dataset {name}: no such folder")
    else:
        raise CLIError(f"unknown dataset {name!r}: use mnist, fashion-mnist, or a folder of images "
                       "with one subfolder per class")
    if limit:
        data.x_train, data.y_train = data.x_train[:limit], data.y_train[:limit]
        data.x_test, data.y_test = data.x_test[:limit], data.y_test[:limit]
    data.preprocess["mean"], data.preprocess["std"] = _stats(data.x_train)
    return data


def _load_idx_dataset(name: str, data_dir: str) -> Data:
    from nerve.vision import datasets

    cls = datasets.FashionMNIST if name == "fashion-mnist" else datasets.MNIST
    log = io.StringIO()  # the downloader's progress lines: shown on success, replaced by one line on failure
    try:
        with contextlib.redirect_stderr(log):
            train = cls(root=data_dir, train=True, download=True)
            test = cls(root=data_dir, train=False, download=True)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        raw = os.path.join(data_dir, "FashionMNIST" if name == "fashion-mnist" else "MNIST", "raw")
        if name == "fashion-mnist":
            hint = (f"Fashion-MNIST is not here and could not be downloaded ({_reason(e)}); without a network, "
                    f"install Debian's copy: sudo apt-get install dataset-fashion-mnist (it goes to {DEBIAN_FASHION}/), "
                    f"or put the four IDX files in {raw}/")
        else:
            hint = (f"MNIST is not here and could not be downloaded ({_reason(e)}); it is not packaged for Debian, "
                    f"so connect to the network or put the four IDX files in {raw}/ "
                    "(offline, --dataset fashion-mnist works from Debian's dataset-fashion-mnist package)")
        raise CLIError(hint) from None
    sys.stderr.write(log.getvalue())

    def arrays(ds):
        x = np.asarray(ds.data.numpy() if hasattr(ds.data, "numpy") else ds.data, dtype=np.uint8)
        y = np.asarray(ds.targets.numpy() if hasattr(ds.targets, "numpy") else ds.targets, dtype=np.int64)
        return x[..., None], y

    x_train, y_train = arrays(train)
    x_test, y_test = arrays(test)
    h, w = x_train.shape[1:3]
    pre = {"color": "L", "size": [int(h), int(w)], "resize": "stretch"}
    label = "Fashion-MNIST" if name == "fashion-mnist" else "MNIST"
    return Data(x_train, y_train, x_test, y_test, list(train.classes), pre, source=f"{label} in {train.root}")


def _reason(e: BaseException) -> str:
    """A short reason from a download error: the first network error it mentions, else its start."""
    text = one_line(e)
    m = re.search(r"<urlopen error ([^>]*)>", text)
    if m:
        return "no network: " + m.group(1) if "Name or service" in m.group(1) or "resolution" in m.group(1) else m.group(1)
    return text if len(text) < 160 else text[:157] + "..."


def image_files(folder: str) -> list[str]:
    """Image files under ``folder`` (recursively), sorted."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        out += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS)]
    return out


def _folder_color(paths: list[str]) -> str:
    """'L' when the sampled images are all grayscale, else 'RGB'."""
    from PIL import Image

    for p in paths[:: max(1, len(paths) // 50)]:
        try:
            with Image.open(p) as im:
                if im.mode not in ("L", "LA", "1", "I", "I;16", "F"):
                    return "RGB"
        except Exception as e:
            raise CLIError(f"cannot read image {p}: {one_line(e)}") from None
    return "L"


def image_transform(preprocess: dict):
    """The transform that turns a PIL image into a uint8 H x W x C array as the model was trained on."""
    from nerve.vision import transforms

    h, w = preprocess["size"]
    color = preprocess["color"]
    steps = [_Convert(color)]
    if preprocess.get("resize") == "stretch":
        steps.append(transforms.Resize((h, w)))
    else:
        steps += [transforms.Resize(min(h, w)), transforms.CenterCrop((h, w))]
    steps.append(_ToUint8((h, w)))
    return transforms.Compose(steps)


class _Convert:
    """PIL image -> the given mode (picklable, for loader worker processes)."""

    def __init__(self, mode: str):
        self.mode = mode

    def __call__(self, im):
        if im.mode in ("RGBA", "LA", "P") and self.mode in ("L", "RGB"):
            im = im.convert("RGBA")  # transparent pixels become white, as most viewers show them
            from PIL import Image

            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        return im.convert(self.mode)


class _ToUint8:
    """PIL image -> uint8 array (H, W, C)."""

    def __init__(self, size):
        self.size = tuple(size)

    def __call__(self, im):
        return np.asarray(im, dtype=np.uint8).reshape(*self.size, -1)


def _load_folder(folder: str, *, image_size: int | None, val_split: float, seed: int) -> Data:
    from nerve.utils.data import DataLoader
    from nerve.vision import datasets

    subdirs = [d for d in sorted(os.listdir(folder)) if os.path.isdir(os.path.join(folder, d))]
    if not subdirs:
        raise CLIError(f"{folder}: no class subfolders (put the images of each class in a subfolder named after it)")
    paths = image_files(folder)
    if not paths:
        raise CLIError(f"{folder}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    color = _folder_color(paths)
    size = image_size or (28 if color == "L" else 32)
    pre = {"color": color, "size": [size, size], "resize": "shorter-side+center-crop"}
    try:
        ds = datasets.ImageFolder(folder, transform=image_transform(pre))
    except KeyboardInterrupt:
        raise
    except Exception as e:
        raise CLIError(f"{folder}: {one_line(e)}") from None
    if len(ds.classes) < 2:
        raise CLIError(f"{folder}: found only the class {ds.classes!r}; a classifier needs at least two subfolders")
    xs, ys = [], []
    try:
        for x, y in DataLoader(ds, batch_size=256, num_workers=2, collate_fn=_stack):
            xs.append(x)
            ys.append(y)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        raise CLIError(f"{folder}: {one_line(e)}") from None
    x, y = np.concatenate(xs), np.concatenate(ys)
    n_val = max(1, int(round(len(x) * val_split)))
    if len(x) - n_val < 1:
        raise CLIError(f"{folder}: only {len(x)} images, too few to hold out a validation split")
    perm = np.random.default_rng(seed).permutation(len(x))
    val, tr = perm[:n_val], perm[n_val:]
    return Data(x[tr], y[tr], x[val], y[val], list(ds.classes), pre,
                source=f"images in {folder}",
                test_name="validation")


def _stack(batch):
    return np.stack([b[0] for b in batch]), np.asarray([b[1] for b in batch], dtype=np.int64)
