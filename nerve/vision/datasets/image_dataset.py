"""The engine behind Keras's ``image_dataset_from_directory``.

Follows Keras 3's documented behaviour: files indexed in sorted order (``.bmp .gif .jpeg .jpg
.png``), classes from sub-folder names, the file list shuffled once with ``seed`` before a
validation split takes its last fraction, images resized (TensorFlow's bilinear, no
antialiasing) to ``image_size`` and batched as float32 NHWC arrays in 0-255; labels int32
(``"int"``), float32 one-hot (``"categorical"``) or float32 (N, 1) (``"binary"``).

The result is a plain iterable of NumPy batches with ``class_names``, ``file_paths`` and
``len()`` (the number of batches); files decode on a small thread pool.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from ..io import load_image
from ..transforms.functional import _bilinear_planes

__all__ = ["ALLOWLIST_FORMATS", "EagerArray", "ImageDirectoryDataset", "image_dataset_from_directory", "index_directory",
           "load_and_resize", "paths_and_labels"]

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CHANNELS = {"rgb": 3, "rgba": 4, "grayscale": 1}
_PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_INTERPOLATIONS = {
    "bilinear": None, "nearest": None, "bicubic": Image.Resampling.BICUBIC, "area": Image.Resampling.BOX,
    "lanczos3": Image.Resampling.LANCZOS, "lanczos5": Image.Resampling.LANCZOS,
    "gaussian": Image.Resampling.BICUBIC, "mitchellcubic": Image.Resampling.BICUBIC,
}


class EagerArray(np.ndarray):
    """A NumPy array that also answers ``.numpy()``, as the eager tensors a tf.data dataset yields do
    (so ``images[i].numpy().astype("uint8")`` from Keras tutorials works)."""

    def numpy(self) -> np.ndarray:
        return self.view(np.ndarray)

    def copy(self, order="C") -> np.ndarray:
        # a copy is a plain array, so that tensors made from a batch hold plain NumPy arrays
        return np.ndarray.copy(self, order).view(np.ndarray)


def _eager(a: np.ndarray) -> EagerArray:
    return a.view(EagerArray)


def _iter_valid_files(directory, follow_links, formats):
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda x: x[0]):
        for fname in sorted(files):
            if fname.lower().endswith(formats):
                yield root, fname


def index_directory(directory, labels, formats=ALLOWLIST_FORMATS, class_names=None, shuffle=True, seed=None,
                    follow_links=False, verbose=True):
    """(file_paths, labels or None, class_names), as Keras's ``index_directory``.

    Inferred labels come from sub-folder names (sorted, or the order of ``class_names``);
    a shuffle uses ``np.random.RandomState(seed)`` on the paths and, re-seeded, on the labels.
    """
    directory = os.fspath(directory)
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError(
                    "The `class_names` passed did not match the names of the subdirectories of the target "
                    f"directory. Expected: {subdirs} (or a subset of it), but received: class_names={class_names}"
                )
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            if labels is None:
                raise ValueError("When `labels=None` (no labels), argument `class_names` cannot be specified.")
            raise ValueError("When argument `labels` is specified, argument `class_names` cannot be specified "
                             "(the `class_names` will be the sorted list of labels).")
    class_names = subdirs
    class_indices = {name: i for i, name in enumerate(class_names)}
    filenames, label_list = [], []
    for subdir in subdirs:
        dirpath = os.path.join(directory, subdir)
        dirname = os.path.basename(dirpath)
        for root, fname in _iter_valid_files(dirpath, follow_links, formats):
            filenames.append(os.path.join(dirname, os.path.relpath(os.path.join(root, fname), dirpath)))
            label_list.append(class_indices[subdir])
    if labels == "inferred":
        labels = np.asarray(label_list, dtype=np.int32)
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError(
                "Expected the lengths of `labels` to match the number of files in the target directory. "
                f"len(labels) is {len(labels)} while we found {len(filenames)} files in directory {directory}."
            )
        class_names = [str(label) for label in sorted(set(labels))]
        labels = np.asarray(labels)
    if verbose:
        if labels is None:
            print(f"Found {len(filenames)} files.")
        else:
            print(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    file_paths = [os.path.join(directory, f) for f in filenames]
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(file_paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, class_names


def _split(samples, labels, validation_split, subset, verbose=True):
    """Keras's ``get_training_or_validation_split``: validation is the last fraction."""
    if not validation_split:
        return samples, labels
    n_val = int(validation_split * len(samples))
    if subset == "training":
        if verbose:
            print(f"Using {len(samples) - n_val} files for training.")
        samples = samples[:-n_val]
        labels = labels[:-n_val] if labels is not None else None
    elif subset == "validation":
        if verbose:
            print(f"Using {n_val} files for validation.")
        samples = samples[-n_val:]
        labels = labels[-n_val:] if labels is not None else None
    else:
        raise ValueError(f'`subset` must be either "training" or "validation", received: {subset}')
    return samples, labels


def _nearest(arr: np.ndarray, out_hw) -> np.ndarray:
    ih, iw = arr.shape[:2]
    oh, ow = out_hw
    ys = np.minimum(np.floor((np.arange(oh) + 0.5) * (ih / oh)).astype(np.int64), ih - 1)
    xs = np.minimum(np.floor((np.arange(ow) + 0.5) * (iw / ow)).astype(np.int64), iw - 1)
    return arr[ys][:, xs]


def _resize(arr: np.ndarray, size, interpolation: str) -> np.ndarray:
    """HWC float32 resize as ``tf.image.resize`` (bilinear / nearest exactly; others through Pillow)."""
    if arr.shape[:2] == tuple(size):
        return arr.astype(np.float32, copy=False)
    if interpolation == "bilinear":
        return _bilinear_planes(arr.astype(np.float32), (0, 1), size)
    if interpolation == "nearest":
        return _nearest(arr, size).astype(np.float32)
    resample = _INTERPOLATIONS[interpolation]
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(arr[:, :, c], dtype=np.float32), mode="F")
                         .resize((size[1], size[0]), resample)) for c in range(arr.shape[2])]
    return np.stack(planes, axis=-1)


def load_and_resize(path, image_size, num_channels, interpolation="bilinear", crop_to_aspect_ratio=False,
                    pad_to_aspect_ratio=False) -> np.ndarray:
    """One image file as a float32 (h, w, num_channels) array in 0-255, as Keras's ``load_image``."""
    img = np.asarray(load_image(path, _PIL_MODES[num_channels]))
    if img.ndim == 2:
        img = img[:, :, None]
    th, tw = image_size
    h, w = img.shape[:2]
    if crop_to_aspect_ratio:
        ch = min(h, int(float(w * th) / tw))
        cw = min(w, int(float(h * tw) / th))
        top, left = (h - ch) // 2, (w - cw) // 2
        img = img[top:top + ch, left:left + cw]
    elif pad_to_aspect_ratio:
        ph = max(h, int(float(w * th) / tw))
        pw = max(w, int(float(h * tw) / th))
        top, left = int(float(ph - h) / 2), int(float(pw - w) / 2)
        padded = np.zeros((ph, pw, img.shape[2]), dtype=img.dtype)
        padded[top:top + h, left:left + w] = img
        img = padded
    return _resize(img, (th, tw), interpolation)


class ImageDirectoryDataset:
    """Batches of (images, labels) from image files: what ``image_dataset_from_directory`` returns.

    Iterating gives ``(images, labels)`` (or ``images`` alone when there are no labels): images
    float32 (B, h, w, C) in 0-255 (``channels_first``: (B, C, h, w)), labels int32 (B,),
    float32 one-hot (B, K) or float32 (B, 1). ``len()`` is the number of batches.
    """

    def __init__(self, file_paths, labels, class_names, label_mode, num_channels, batch_size, image_size,
                 shuffle, seed, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, data_format):
        self.file_paths = list(file_paths)
        self.class_names = class_names
        self.label_mode = label_mode
        self.batch_size = batch_size
        self.image_size = tuple(image_size)
        self.num_channels = num_channels
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.data_format = data_format
        self.shuffle_files = shuffle
        self._rng = np.random.default_rng(seed)
        self._labels = self._encode(labels)

    def _encode(self, labels):
        if labels is None or self.label_mode is None:
            return None
        labels = np.asarray(labels)
        if self.label_mode == "int":
            return labels.astype(np.int32)
        if self.label_mode == "binary":
            return labels.astype(np.float32).reshape(-1, 1)
        eye = np.eye(len(self.class_names), dtype=np.float32)
        return eye[labels.astype(np.int64)]

    def __len__(self) -> int:
        n = len(self.file_paths)
        return n if self.batch_size is None else -(-n // self.batch_size)

    def _load(self, path) -> np.ndarray:
        img = load_and_resize(path, self.image_size, self.num_channels, self.interpolation,
                              self.crop_to_aspect_ratio, self.pad_to_aspect_ratio)
        return img.transpose(2, 0, 1) if self.data_format == "channels_first" else img

    def __iter__(self):
        n = len(self.file_paths)
        order = self._rng.permutation(n) if self.shuffle_files else np.arange(n)
        step = self.batch_size or 1
        workers = min(4, os.cpu_count() or 1)
        with ThreadPoolExecutor(workers, thread_name_prefix="nerve-images") as pool:
            for start in range(0, n, step):
                idx = order[start:start + step]
                images = np.stack(list(pool.map(self._load, [self.file_paths[i] for i in idx])))
                labels = self._labels[idx] if self._labels is not None else None
                if self.batch_size is None:
                    images = images[0]
                    labels = labels[0] if labels is not None else None
                images = _eager(images)
                yield images if labels is None else (images, _eager(np.asarray(labels)))

    def take(self, count: int):
        """The first ``count`` batches (all when ``count`` is -1), as ``tf.data.Dataset.take``."""
        return _Take(self, count)

    def map(self, fn):
        """Apply ``fn`` to each element (to ``*element`` when it is a tuple), as ``tf.data.Dataset.map``."""
        return _Map(self, fn)

    def shuffle(self, buffer_size: int, seed=None, reshuffle_each_iteration: bool = True):
        """Shuffle elements through a buffer of ``buffer_size``, as ``tf.data.Dataset.shuffle``."""
        return _Shuffle(self, buffer_size, seed, reshuffle_each_iteration)

    def prefetch(self, buffer_size=None):
        """Accepted for compatibility with tf.data pipelines; returns the dataset itself."""
        return self

    def cache(self, filename: str = ""):
        """Accepted for compatibility with tf.data pipelines; returns the dataset itself."""
        return self

    def __repr__(self) -> str:
        return (f"<ImageDirectoryDataset files={len(self.file_paths)} batches={len(self)} "
                f"image_size={self.image_size} class_names={self.class_names}>")


class _Take:
    def __init__(self, ds, count):
        self.ds, self.count = ds, count
        self.class_names = getattr(ds, "class_names", None)

    def __iter__(self):
        for k, x in enumerate(self.ds):
            if self.count != -1 and k >= self.count:
                return
            yield x

    def __len__(self) -> int:
        return len(self.ds) if self.count == -1 else min(self.count, len(self.ds))

    take = ImageDirectoryDataset.take
    map = ImageDirectoryDataset.map
    shuffle = ImageDirectoryDataset.shuffle
    prefetch = ImageDirectoryDataset.prefetch
    cache = ImageDirectoryDataset.cache


class _Map(_Take):
    def __init__(self, ds, fn):
        self.ds, self.fn = ds, fn
        self.class_names = getattr(ds, "class_names", None)

    def __iter__(self):
        for x in self.ds:
            yield self.fn(*x) if isinstance(x, tuple) else self.fn(x)

    def __len__(self) -> int:
        return len(self.ds)


class _Shuffle(_Take):
    def __init__(self, ds, buffer_size, seed, reshuffle):
        self.ds, self.buffer_size = ds, max(1, int(buffer_size))
        self.class_names = getattr(ds, "class_names", None)
        self.seed, self.reshuffle = seed, reshuffle
        self._rng = np.random.default_rng(seed)

    def __iter__(self):
        rng = self._rng if self.reshuffle else np.random.default_rng(self.seed)
        buf = []
        for x in self.ds:
            if len(buf) < self.buffer_size:
                buf.append(x)
                continue
            k = int(rng.integers(len(buf)))
            yield buf[k]
            buf[k] = x
        while buf:
            yield buf.pop(int(rng.integers(len(buf))))

    def __len__(self) -> int:
        return len(self.ds)


def paths_and_labels(file_paths, labels, class_names, label_mode, color_mode="rgb", batch_size=32,
                     image_size=(256, 256), shuffle=False, seed=None, interpolation="bilinear",
                     crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format="channels_last"):
    """An ``ImageDirectoryDataset`` over given files and labels."""
    return ImageDirectoryDataset(file_paths, labels, class_names, label_mode, _CHANNELS[color_mode], batch_size,
                                 image_size, shuffle, seed, interpolation, crop_to_aspect_ratio,
                                 pad_to_aspect_ratio, data_format)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 verbose=True):
    """Images in ``directory`` (one sub-folder per class) as batches, as ``keras.utils.image_dataset_from_directory``.

    Args:
        directory: the folder; with ``labels="inferred"`` its sub-folders are the classes.
        labels: ``"inferred"``, None (images only), or a list of int labels in sorted file order.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` or None.
        class_names: the classes' order (with inferred labels).
        color_mode: ``"rgb"``, ``"grayscale"`` or ``"rgba"``.
        batch_size: images per batch (None: single images).
        image_size: (height, width) every image is resized to.
        shuffle: shuffle the files (once, with ``seed``, before any split) and each epoch.
        seed: the shuffle's seed; required with ``validation_split`` and ``shuffle``.
        validation_split: fraction held out for validation (the last part of the file list).
        subset: ``"training"``, ``"validation"`` or ``"both"`` (returns [train, validation]).
        interpolation: ``"bilinear"``, ``"nearest"``, ``"bicubic"``, ``"area"``, ``"lanczos3"``, ...
        follow_links: follow symbolic links to sub-folders.
        crop_to_aspect_ratio: centre-crop to the target aspect ratio before resizing.
        pad_to_aspect_ratio: zero-pad to the target aspect ratio before resizing.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        verbose: print how many files and classes were found.

    Returns:
        an ``ImageDirectoryDataset`` (or two, for ``subset="both"``).
    """
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(
                "`labels` argument should be a list/tuple of integer labels, of the same size as the number of "
                "image files in the target directory. If you wish to infer the labels from the subdirectory names "
                'in the target directory, pass `labels="inferred"`. If you wish to get a dataset that only '
                f"contains images (no labels), pass `labels=None`. Received: labels={labels}"
            )
        if class_names:
            raise ValueError('You can only pass `class_names` if `labels="inferred"`. '
                             f"Received: labels={labels}, and class_names={class_names}")
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError('`label_mode` argument must be one of "int", "categorical", "binary", or None. '
                         f"Received: label_mode={label_mode}")
    if labels is None or label_mode is None:
        labels = None
        label_mode = None
    if color_mode not in _CHANNELS:
        raise ValueError('`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
                         f"Received: color_mode={color_mode}")
    interpolation = interpolation.lower() if isinstance(interpolation, str) else interpolation
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"Value not recognized for `interpolation`: {interpolation}. "
                         f"Expected one of {list(_INTERPOLATIONS)}.")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `crop_to_aspect_ratio`, `pad_to_aspect_ratio` can be set to `True`.")
    if data_format is None:
        data_format = "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"The `data_format` argument must be one of 'channels_first', 'channels_last'. "
                         f"Received: data_format={data_format}")
    if not (isinstance(image_size, (tuple, list)) and len(image_size) == 2):
        raise ValueError(f"`image_size` should be a tuple of 2 integers (height, width). Received: {image_size}")
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'`subset` must be either "training", "validation" or "both", received: {subset}')
    if validation_split and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must provide a `seed` argument, "
                         "to make sure that there is no overlap between the training and validation subset.")
    if seed is None:
        seed = np.random.randint(1e6)
    paths, labels, class_names = index_directory(directory, labels, ALLOWLIST_FORMATS, class_names, shuffle=shuffle,
                                                 seed=seed, follow_links=follow_links, verbose=verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 class_names. '
                         f"Received: class_names={class_names}")
    common = dict(color_mode=color_mode, batch_size=batch_size, image_size=image_size, shuffle=shuffle,
                  interpolation=interpolation, crop_to_aspect_ratio=crop_to_aspect_ratio,
                  pad_to_aspect_ratio=pad_to_aspect_ratio, data_format=data_format)
    if subset == "both":
        train_paths, train_labels = _split(paths, labels, validation_split, "training", verbose)
        val_paths, val_labels = _split(paths, labels, validation_split, "validation", verbose)
        if not train_paths:
            raise ValueError(f"No training images found in directory {directory}. Allowed formats: {ALLOWLIST_FORMATS}")
        if not val_paths:
            raise ValueError(f"No validation images found in directory {directory}. "
                             f"Allowed formats: {ALLOWLIST_FORMATS}")
        train = paths_and_labels(train_paths, train_labels, class_names, label_mode, seed=seed, **common)
        common["shuffle"] = False
        val = paths_and_labels(val_paths, val_labels, class_names, label_mode, seed=seed, **common)
        return [train, val]
    paths, labels = _split(paths, labels, validation_split, subset, verbose)
    if not paths:
        raise ValueError(f"No images found in directory {directory}. Allowed formats: {ALLOWLIST_FORMATS}")
    return paths_and_labels(paths, labels, class_names, label_mode, seed=seed, **common)
