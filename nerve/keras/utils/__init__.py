"""``keras.utils``: ``to_categorical``, ``set_random_seed``, ``image_dataset_from_directory``,
``PyDataset`` (``Sequence``), ``plot_history``, ``Progbar``, ``normalize``, ``pad_sequences``,
``get_file``."""

from __future__ import annotations

import random as _random

import numpy as np

from ..object_registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from .batches import pack_x_y_sample_weight, unpack_x_y_sample_weight
from .plotting import plot_history
from .progbar import Progbar
from .py_dataset import PyDataset, Sequence


def to_categorical(x, num_classes=None):
    """One-hot encode integer labels: shape (n,) -> (n, num_classes), float32."""
    import nerve

    if isinstance(x, nerve.Tensor):
        x = nerve.backend.to_numpy(x._data)
    x = np.asarray(x, dtype="int64")
    shape = x.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    x = x.reshape(-1)
    if num_classes is None:
        num_classes = int(x.max()) + 1
    out = np.zeros((x.shape[0], num_classes), dtype="float32")
    out[np.arange(x.shape[0]), x] = 1
    return out.reshape(shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """Scale ``x`` to unit ``order``-norm along ``axis``."""
    x = np.asarray(x, dtype="float32")
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    norm[norm == 0] = 1
    return x / norm


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Lists of token ids as one (n, maxlen) array, as Keras's: short ones padded with ``value``,
    long ones cut, at the start (``'pre'``, the default) or the end (``'post'``).

    Args:
        sequences: a list of lists (or arrays) of ids, or of feature vectors.
        maxlen: the length; the longest sequence's by default.
        dtype: the array's dtype.
        padding, truncating: ``'pre'`` or ``'post'``.
        value: the padding value.
    """
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')
    seqs = [np.asarray(s) for s in sequences]
    lengths = [len(s) for s in seqs]
    maxlen = max(lengths, default=0) if maxlen is None else int(maxlen)
    sample_shape = next((s.shape[1:] for s in seqs if len(s)), ())
    out = np.full((len(seqs), maxlen) + sample_shape, value, dtype=dtype)
    for i, s in enumerate(seqs):
        if not len(s) or not maxlen:
            continue
        s = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            out[i, :len(s)] = s
        else:
            out[i, -len(s):] = s
    return out


def set_random_seed(seed: int) -> None:
    """Seed Python's, NumPy's and nerve's generators (weights, shuffling, dropout)."""
    import nerve

    _random.seed(seed)
    np.random.seed(seed)
    nerve.manual_seed(seed)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, color_mode="rgb",
                                 batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 verbose=True):
    """Batches of (float32 NHWC images in 0-255, int32 labels) from one subfolder per class; NCHW
    with ``data_format='channels_first'`` (None: ``keras.config.image_data_format()``)."""
    from nerve.vision.datasets import image_dataset_from_directory as engine

    from .. import backend

    data_format = backend.standardize_data_format(data_format)

    return engine(directory, labels=labels, label_mode=label_mode, class_names=class_names, color_mode=color_mode,
                  batch_size=batch_size, image_size=image_size, shuffle=shuffle, seed=seed,
                  validation_split=validation_split, subset=subset, interpolation=interpolation,
                  follow_links=follow_links, crop_to_aspect_ratio=crop_to_aspect_ratio,
                  pad_to_aspect_ratio=pad_to_aspect_ratio, data_format=data_format, verbose=verbose)


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Download ``origin`` into the Keras cache (``~/.keras/datasets``) unless a valid copy is there, as
    ``keras.utils.get_file``: checksum-checked, written to a temporary file and renamed; ``extract``
    unpacks an archive and returns its folder."""
    from nerve.vision.datasets.download import get_file as engine

    return engine(fname, origin, untar=untar, md5_hash=md5_hash, file_hash=file_hash, cache_subdir=cache_subdir,
                  hash_algorithm=hash_algorithm, extract=extract, archive_format=archive_format, cache_dir=cache_dir,
                  force_download=force_download)


__all__ = ["Progbar", "PyDataset", "Sequence", "get_file", "image_dataset_from_directory", "normalize",
           "pad_sequences", "plot_history", "set_random_seed", "to_categorical"]
__all__ += ["pack_x_y_sample_weight", "unpack_x_y_sample_weight"]
__all__ += ["CustomObjectScope", "custom_object_scope", "deserialize_keras_object", "get_custom_objects",
            "get_registered_name", "get_registered_object", "register_keras_serializable", "serialize_keras_object"]


def serialize_keras_object(obj):
    """``keras.saving.serialize_keras_object`` (Keras also has it in ``keras.utils``)."""
    from ..saving import serialize_keras_object as engine

    return engine(obj)


def deserialize_keras_object(config, custom_objects=None, **kwargs):
    """``keras.saving.deserialize_keras_object``."""
    from ..saving import deserialize_keras_object as engine

    return engine(config, custom_objects=custom_objects, **kwargs)
