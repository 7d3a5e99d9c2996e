"""Getting dataset files: a local copy first, else the public mirrors, with checksums.

``fetch_file`` looks for the file in ``dest_dir``, then in known local copies (Debian's
``dataset-fashion-mnist`` package, torchvision-style roots, the Keras cache), and only then
downloads it, trying each mirror in turn. Downloads go to a temporary file that is renamed into
place once its checksum matches, so no partial or corrupt file is ever left behind. When
nothing works, one ``DownloadError`` says where it looked, what each mirror answered and how to
get the files.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable, Sequence

from ..._atomic import atomic_write

__all__ = ["DownloadError", "check_integrity", "download_url", "fetch_file", "file_digest", "get_file", "keras_cache_dir"]

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


class DownloadError(RuntimeError):
    """No local copy and no mirror gave a valid file."""


class _ChecksumMismatch(Exception):
    pass


def file_digest(path, algorithm: str = "md5", chunk: int = 1 << 20) -> str:
    """Hex digest of a file (``md5`` or ``sha256``)."""
    h = hashlib.new(algorithm, usedforsecurity=False) if algorithm == "md5" else hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_integrity(path, md5: str | None = None, sha256: str | None = None) -> bool:
    """True when ``path`` exists and matches the checksums given (any file matches none)."""
    if not os.path.isfile(path):
        return False
    if md5 is not None and file_digest(path, "md5") != md5.lower():
        return False
    if sha256 is not None and file_digest(path, "sha256") != sha256.lower():
        return False
    return True


def keras_cache_dir() -> str:
    """Keras's cache folder: ``$KERAS_HOME`` or ``~/.keras`` (``/tmp/.keras`` when not writable)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    if not os.access(home if os.path.isdir(home) else os.path.dirname(home) or ".", os.W_OK):
        home = os.path.join("/tmp", ".keras")
    return home


def _hashers(md5, sha256):
    hs = {}
    if md5 is not None:
        hs["md5"] = (hashlib.new("md5", usedforsecurity=False), md5.lower())
    if sha256 is not None:
        hs["sha256"] = (hashlib.sha256(), sha256.lower())
    return hs


def download_url(url: str, path, md5: str | None = None, sha256: str | None = None, timeout: float = 60) -> str:
    """Download ``url`` to ``path`` through a temporary file; checksum-checked before the rename.

    Raises:
        OSError / urllib errors on network failure, ValueError on a checksum mismatch; in every
        case nothing is left at ``path`` (nor any temporary file).
    """
    req = urllib.request.Request(url, headers={"User-Agent": "nerve"})
    hs = _hashers(md5, sha256)
    with atomic_write(path, "wb") as f:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            while block := r.read(1 << 20):
                f.write(block)
                for h, _ in hs.values():
                    h.update(block)
        for name, (h, want) in hs.items():
            got = h.hexdigest()
            if got != want:
                raise _ChecksumMismatch(f"{name} checksum mismatch: expected {want}, got {got}")
    return os.fspath(path)


def _valid(path, md5, sha256, validate) -> bool:
    if not os.path.isfile(path):
        return False
    if (md5 or sha256) and check_integrity(path, md5, sha256):
        return True
    if validate is not None:
        try:
            return bool(validate(path))
        except Exception:
            return False
    return not (md5 or sha256)


def fetch_file(filename: str, dest_dir, *, md5: str | None = None, sha256: str | None = None,
               mirrors: Sequence[str] = (), local_dirs: Sequence[str] = (),
               validate: Callable[[str], bool] | None = None, dataset: str = "",
               hint: str = "", timeout: float = 60, copy_local: bool = True) -> str:
    """The path of a valid ``filename``: already in ``dest_dir``, copied from a local copy, or downloaded.

    Args:
        filename: the file's name (on the mirrors too).
        dest_dir: where it should end up.
        md5, sha256: checksums of the published file.
        mirrors: base URLs, tried in order.
        local_dirs: folders that may hold a copy (checked before any download).
        validate: accepts a local file whose checksum differs (e.g. recompressed by a distribution)
            when it returns True for it, by checking its content instead.
        dataset: the dataset's name, for messages.
        hint: how to get the files by hand, appended to the error.
        copy_local: copy a local copy into ``dest_dir``; False returns the local copy's own path.

    Raises:
        DownloadError: nothing valid anywhere; says where it looked and what each mirror answered.
    """
    dest = os.path.join(os.fspath(dest_dir), filename)
    if _valid(dest, md5, sha256, validate):
        return dest
    looked = []
    for d in local_dirs:
        cand = os.path.join(os.path.expanduser(os.fspath(d)), filename)
        looked.append(os.path.expanduser(os.fspath(d)))
        if os.path.abspath(cand) == os.path.abspath(dest):
            continue
        if _valid(cand, md5, sha256, validate):
            if not copy_local:
                return cand
            with open(cand, "rb") as src, atomic_write(dest, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            return dest
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + filename
        print(f"Downloading {url} to {dest}", file=sys.stderr)
        try:
            return download_url(url, dest, md5, sha256, timeout)
        except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError, _ChecksumMismatch) as e:
            errors.append(f"  {url}: {e}")
            print(f"Failed to download (trying next): {e}", file=sys.stderr)
    name = f"{dataset}: " if dataset else ""
    lines = [f"{name}could not get {filename}: no local copy, and no mirror gave a valid file.",
             "Looked for a local copy in:"]
    lines += [f"  {p}" for p in [os.path.dirname(dest)] + looked]
    if os.path.exists(dest):
        lines.append(f"({dest} exists but fails its checksum or content check; it was left as it was.)")
    lines.append("Tried to download it from:" if errors else "No download mirrors are known for it.")
    lines += errors
    how = hint or (f"download {filename} from one of the mirrors above" if mirrors else f"get {filename}")
    lines.append(f"To get the files: {how}, and put them in {os.path.dirname(dest)}.")
    raise DownloadError("\n".join(lines))


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Keras's ``keras.utils.get_file``: download ``origin`` into the Keras cache unless a valid copy is there.

    Args:
        fname: the file's name in the cache (default: the last part of ``origin``); a name, not a path.
        origin: the URL.
        md5_hash, file_hash: the expected checksum (``file_hash``: sha256 or md5, by length or ``hash_algorithm``).
        cache_subdir: folder under the cache (``datasets``); an absolute path is used as it is.
        extract, untar: unpack the archive (``untar``: as tar; ``archive_format=None``: not at all,
            with Keras's warning) and return the folder it was unpacked into, named as
            Keras 3 names it: ``NAME_extracted`` for an ``fname`` with a dot (``NAME`` the part
            before the first dot), else ``fname`` itself, with the archive kept as ``fname_archive``.
        cache_dir: the cache (default ``$KERAS_HOME`` or ``~/.keras``).
        force_download: download even when a valid copy is cached.

    Returns:
        the path of the file (or of the unpacked folder).
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    given = fname is not None and os.fspath(fname) != ""
    if not given:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'. "
                             "Please specify the `fname` argument.")
    fname = os.fspath(fname)
    if given and os.sep in fname:
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify the file's parent "
                         f"directory, use the `cache_dir` argument. Received: fname={fname}")
    folder = os.path.join(os.path.expanduser(cache_dir) if cache_dir else keras_cache_dir(), cache_subdir)
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    algo = hash_algorithm
    if file_hash is not None and algo == "auto":
        algo = "sha256" if len(file_hash) == 64 else "md5"
    md5 = file_hash if (file_hash and algo == "md5") else None
    sha = file_hash if (file_hash and algo == "sha256") else None
    unpack = extract or untar
    target_name, out = fname, None
    if unpack:
        if given and "." in fname:
            out = os.path.join(folder, fname[:fname.find(".")] + "_extracted")
        else:
            target_name = fname + "_archive"
            out = os.path.join(folder, fname)
    path = os.path.join(folder, target_name)
    if force_download and os.path.exists(path):
        os.unlink(path)
    # ``origin`` itself is downloaded, query string and all (``...?raw=true``, signed links)
    if not (os.path.isfile(path) and check_integrity(path, md5, sha)):
        print(f"Downloading data from {origin}", file=sys.stderr)
        try:
            download_url(origin, path, md5, sha)
        except (OSError, ValueError, _ChecksumMismatch, http.client.HTTPException) as e:
            raise DownloadError(f"could not download {origin} to {path}: {e}") from e
    if unpack:
        fmt = "tar" if untar else archive_format
        if fmt is None:  # as Keras: asked to extract with no format, it extracts nothing and says so
            import warnings

            warnings.warn("Could not extract archive.", stacklevel=2)
            return out
        if force_download or not os.path.isdir(out):
            _unpack(path, out, fmt)
        return out
    return path


def _unpack(archive: str, out: str, archive_format="auto") -> None:
    """Unpack ``archive`` into the folder ``out`` as a whole: into a temporary folder beside it,
    then renamed, so an unpacking that fails leaves no half-filled ``out``."""
    import tarfile
    import zipfile

    formats = ["tar", "zip"] if archive_format in ("auto", None) else \
        [archive_format] if isinstance(archive_format, str) else list(archive_format)
    is_format = {"tar": tarfile.is_tarfile, "zip": zipfile.is_zipfile}
    fmt = next((f for f in formats if f in is_format and is_format[f](archive)), None)
    if fmt is None:
        raise ValueError(f"{archive}: could not unpack it: not a {' or '.join(formats)} archive")
    parent = os.path.dirname(out) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".unpack-", dir=parent)
    try:
        try:
            if fmt == "tar":  # no member may land outside the folder, be a device file or keep setuid bits
                with tarfile.open(archive) as tar:
                    tar.extractall(tmp, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
            else:
                shutil.unpack_archive(archive, tmp, "zip")
        except (tarfile.TarError, shutil.ReadError, ValueError, OSError, EOFError) as e:
            raise ValueError(f"{archive}: could not unpack it: {e}") from e
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


