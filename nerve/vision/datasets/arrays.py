"""Reading the pickled NumPy arrays some standard datasets ship (CIFAR's batches, the ragged word
sequences of Keras's IMDB and Reuters ``.npz`` files) without running code from the file: the
unpickler rebuilds NumPy arrays, dtypes, lists, dicts, strings and numbers, and refuses anything
else, naming what the file asked for."""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np

__all__ = ["ArraysOnlyUnpickler", "load_npz"]

_ALLOWED = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


class ArraysOnlyUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that only rebuilds NumPy arrays and plain Python data."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: a dataset file holds only arrays and lists")


def _read_npy(fp):
    """One ``.npy`` member: numbers without any unpickling, object arrays through ArraysOnlyUnpickler."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version in ((2, 0), (3, 0)):  # 3.0 differs from 2.0 only in the header's text encoding
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    if not dtype.hasobject:
        fp.seek(0)
        return np.lib.format.read_array(fp, allow_pickle=False)
    array = ArraysOnlyUnpickler(fp).load()
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise ValueError(f"the object array's pickle does not hold the {tuple(shape)} array its header names")
    return array


def load_npz(path) -> dict:
    """Every array of an ``.npz`` archive, object arrays included, read without running code from it.

    Raises:
        ValueError: naming the file, when it is not a valid ``.npz`` archive or a member asks the
            unpickler for anything but NumPy arrays and plain data.
    """
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.endswith(".npy"):
                    with archive.open(member) as raw:
                        arrays[member[:-4]] = _read_npy(io.BytesIO(raw.read()))
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a valid .npz dataset file: {e}") from e
    return arrays
