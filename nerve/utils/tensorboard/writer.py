"""``SummaryWriter``: training logs for TensorBoard, as ``torch.utils.tensorboard.SummaryWriter``.

Scalars, groups of scalars, histograms, images (one, a grid of many, or a matplotlib figure),
text, hyperparameters with their metrics, and a model's graph, written as TensorBoard's event
files (``_events``) with the same tags, folders and encodings as PyTorch's writer, so
``tensorboard --logdir runs`` shows a nerve run as it shows a PyTorch one. Needs no TensorFlow,
TensorBoard or protobuf; images need Pillow (a dependency of nerve) and figures matplotlib.
"""

from __future__ import annotations

import io
import os
import socket
import time
from datetime import datetime

import numpy as np

from . import _events as ev


def _numpy(x) -> np.ndarray:
    """A tensor (any device), array or number as a NumPy array (a number as shape (1,))."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        return np.asarray(x.detach().cpu().numpy())
    if isinstance(x, np.ndarray):
        return x
    if np.isscalar(x):
        return np.array([x])
    return np.asarray(x)


def _default_bins() -> list:
    """TensorFlow's histogram buckets: +-1e-12 growing by 10% up to 1e20, and 0 (as PyTorch's)."""
    v, pos, neg = 1e-12, [], []
    while v < 1e20:
        pos.append(v)
        neg.append(-v)
        v *= 1.1
    return neg[::-1] + [0] + pos


def _histogram(values: np.ndarray, bins, max_bins=None) -> bytes:
    """A ``HistogramProto`` of ``values``, trimmed to the buckets that hold values (plus the empty
    one to their left, since TensorBoard keeps only right edges), as PyTorch writes it."""
    if values.size == 0:
        raise ValueError("add_histogram: the input has no element")
    values = values.reshape(-1).astype(float)
    if not np.isfinite(values).all():
        raise ValueError("add_histogram: the values must be finite (got NaN or inf)")
    counts, limits = np.histogram(values, bins=bins)
    if max_bins is not None and len(counts) > max_bins:
        sub = len(counts) // max_bins
        rem = len(counts) % sub
        if rem:
            counts = np.pad(counts, (0, sub - rem))
        counts = counts.reshape(-1, sub).sum(axis=-1)
        new_limits = np.empty(counts.size + 1, limits.dtype)
        new_limits[:-1] = limits[:-1:sub]
        new_limits[-1] = limits[-1]
        limits = new_limits
    filled = np.cumsum(counts > 0)
    start, end = np.searchsorted(filled, [0, filled[-1] - 1], side="right")
    start, end = int(start), int(end) + 1
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start:end + 1]
    if counts.size == 0 or limits.size == 0:
        raise ValueError("add_histogram: no value falls within the bins")
    return ev.histogram_proto(values.min(), values.max(), len(values), values.sum(), values.dot(values),
                              limits.tolist(), counts.tolist())


def _grid(images: np.ndarray, ncols: int = 8) -> np.ndarray:
    """(N, 1 or 3, H, W) images side by side, ``ncols`` to a row: (3, H * rows, W * cols)."""
    if images.shape[1] == 1:
        images = np.concatenate([images] * 3, 1)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"add_images: expected images with 1 or 3 channels, got shape {images.shape}")
    n, _, h, w = images.shape
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    canvas = np.zeros((3, h * nrows, w * ncols), dtype=images.dtype)
    for i in range(n):
        y, x = divmod(i, ncols)
        canvas[:, y * h:(y + 1) * h, x * w:(x + 1) * w] = images[i]
    return canvas


def _to_hwc(img: np.ndarray, dataformats: str) -> np.ndarray:
    fmt = dataformats.upper()
    if len(set(fmt)) != len(fmt) or not set(fmt) <= set("NCHW") or len(fmt) < 2:
        raise ValueError(f"dataformats must use each of N, C, H, W at most once, got {dataformats!r}")
    if img.ndim != len(fmt):
        raise ValueError(f"an image of shape {img.shape} does not fit dataformats {dataformats!r} "
                         f"({len(fmt)} dimensions)")
    if len(fmt) == 4:
        return _grid(img.transpose([fmt.find(c) for c in "NCHW"])).transpose(1, 2, 0)
    if len(fmt) == 3:
        hwc = img.transpose([fmt.find(c) for c in "HWC"])
        return np.concatenate([hwc] * 3, 2) if hwc.shape[2] == 1 else hwc
    hw = img.transpose([fmt.find(c) for c in "HW"])
    return np.stack([hw] * 3, 2)


def _image(img: np.ndarray, dataformats: str) -> bytes:
    """A ``Summary.Image`` (PNG): uint8 as it is, anything else taken as [0, 1] and scaled by 255."""
    from PIL import Image

    hwc = _to_hwc(img, dataformats)
    scale = 1 if hwc.dtype == np.uint8 else 255
    hwc = (hwc.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
    h, w, c = hwc.shape
    if c not in (1, 3, 4):
        raise ValueError(f"an image needs 1, 3 or 4 channels, got {c}")
    buf = io.BytesIO()
    Image.fromarray(hwc[:, :, 0] if c == 1 else hwc).save(buf, format="PNG")
    return ev.image_proto(h, w, c, buf.getvalue())


def _figure_to_chw(figure, close: bool) -> np.ndarray:
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    w, h = figure.canvas.get_width_height()
    rgb = np.frombuffer(canvas.buffer_rgba(), dtype=np.uint8).reshape(h, w, 4)[:, :, :3]
    if close:
        plt.close(figure)
    return np.moveaxis(rgb, 2, 0)


def _struct_value(v) -> bytes:
    """A ``google.protobuf.Value``: number_value 2, string_value 3 (a bool is a number, as PyTorch's
    writer stores it)."""
    if isinstance(v, str):
        return ev.bytes_field(3, v)
    return ev.double_field(2, float(v))


def _hparams_summaries(hparam_dict: dict, metric_dict: dict, domains: dict | None) -> tuple:
    """The hparams plugin's experiment, session-start and session-end summaries, as PyTorch's
    ``add_hparams`` writes them (numbers, bools and tensors as float64, strings as strings)."""
    domains = domains or {}
    if not isinstance(domains, dict):
        raise TypeError("add_hparams: hparam_domain_discrete should be a dictionary")
    for k, v in domains.items():
        if k not in hparam_dict or not isinstance(v, list) or not all(isinstance(d, type(hparam_dict[k])) for d in v):
            raise TypeError(f"add_hparams: hparam_domain_discrete[{k!r}] should be a list of the type of "
                            f"hparam_dict[{k!r}]")
    infos, start = [], []
    for k, v in hparam_dict.items():
        if v is None:
            continue
        if hasattr(v, "detach"):
            v = float(_numpy(v).reshape(-1)[0])
        elif not isinstance(v, (int, float, str)):
            raise ValueError(f"add_hparams: the value of {k!r} should be an int, float, str, bool or tensor, "
                             f"got {type(v).__name__}")
        dtype = 1 if isinstance(v, str) else 3  # DATA_TYPE_STRING, DATA_TYPE_FLOAT64
        info = ev.bytes_field(1, k) + ev.varint_field(4, dtype)
        if k in domains:  # domain_discrete = 5: ListValue { repeated Value values = 1 }
            info += ev.bytes_field(5, b"".join(ev.bytes_field(1, _struct_value(d)) for d in domains[k]))
        infos.append(info)
        start.append(ev.bytes_field(1, ev.bytes_field(1, k) + ev.bytes_field(2, _struct_value(v))))
    metrics = [ev.bytes_field(1, ev.bytes_field(2, k)) for k in metric_dict]  # MetricInfo{name{tag}}
    experiment = b"".join(ev.bytes_field(4, i) for i in infos) + b"".join(ev.bytes_field(5, m) for m in metrics)

    def value(tag, field, content):  # HParamsPluginData { version = 1 (0); experiment 2 | start 3 | end 4 }
        return ev.summary(ev.summary_value(tag, plugin="hparams", plugin_content=ev.bytes_field(field, content)))

    return (value("_hparams_/experiment", 2, experiment),
            value("_hparams_/session_start_info", 3, b"".join(start)),
            value("_hparams_/session_end_info", 4, ev.varint_field(1, 1)))  # STATUS_SUCCESS


def _pr_counts(labels, predictions, n: int, weights) -> np.ndarray:
    """(6, n): true/false positives, true/false negatives, precision and recall at ``n`` thresholds
    (a prediction counts as positive at threshold i when it reaches i / (n - 1)), as PyTorch's."""
    buckets = np.int32(np.floor(predictions * (n - 1)))
    lab = labels.astype(np.float64)
    tp_b, _ = np.histogram(buckets, bins=n, range=(0, n - 1), weights=lab * weights)
    fp_b, _ = np.histogram(buckets, bins=n, range=(0, n - 1), weights=(1.0 - lab) * weights)
    tp, fp = np.cumsum(tp_b[::-1])[::-1], np.cumsum(fp_b[::-1])[::-1]
    tn, fn = fp[0] - fp, tp[0] - tp
    precision = tp / np.maximum(1e-7, tp + fp)
    recall = tp / np.maximum(1e-7, tp + fn)
    return np.stack((tp, fp, tn, fn, precision, recall))


def _escape_tag(tag: str) -> str:
    """A tag as a folder name: ``%``, ``/`` and ``\\`` percent-encoded (as PyTorch's writer)."""
    return tag.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")


def _pbtxt(text: str) -> str:
    """A string inside a protobuf text-format literal."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _sprite(imgs: np.ndarray) -> bytes:
    """The images as one square PNG, a grid of ceil(sqrt(N)) columns (the projector's sprite)."""
    from PIL import Image

    ncols = int(np.ceil(imgs.shape[0] ** 0.5))
    grid = _grid(imgs, ncols=ncols).transpose(1, 2, 0)  # HWC
    side = max(grid.shape[:2])  # (PyTorch's writer fails on images taller than wide: it takes the width)
    square = np.zeros((side, side, 3))
    square[:grid.shape[0], :grid.shape[1]] = grid
    buf = io.BytesIO()
    Image.fromarray(np.uint8((square * 255).clip(0, 255))).save(buf, format="PNG")
    return buf.getvalue()


class SummaryWriter:
    """Write TensorBoard logs to ``log_dir`` (as ``torch.utils.tensorboard.SummaryWriter``).

    Args:
        log_dir: the folder; by default ``runs/<Mon>DD_HH-MM-SS_<host><comment>``.
        comment: appended to the default folder name.
        purge_step: a restarted run's first step: TensorBoard hides the events logged at this
            step or later by the run that crashed.
        max_queue: events held before they are written.
        flush_secs: seconds after which held events are written.
        filename_suffix: appended to the event file's name.
    """

    def __init__(self, log_dir=None, comment: str = "", purge_step=None, max_queue: int = 10,
                 flush_secs: float = 120, filename_suffix: str = ""):
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", stamp + "_" + socket.gethostname() + comment)
        self.log_dir = os.fspath(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.file_writer = self.all_writers = None
        self.default_bins = _default_bins()
        self._get_file_writer()

    def _get_file_writer(self) -> ev.EventFileWriter:
        if self.file_writer is None:
            self.file_writer = ev.EventFileWriter(self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
            self.all_writers = {self.log_dir: self.file_writer}
            if self.purge_step is not None:
                step = self.purge_step
                self.file_writer.add_event(ev.event(time.time(), step, file_version="brain.Event:2"))
                self.file_writer.add_event(ev.event(time.time(), step, session_start=True))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self) -> str:
        return self.log_dir

    def _add(self, summary_bytes: bytes, global_step=None, walltime=None, writer=None) -> None:
        (writer or self._get_file_writer()).add_event(
            ev.event(time.time() if walltime is None else float(walltime),
                     None if global_step is None else int(global_step), summary_bytes=summary_bytes))

    # ------------------------------------------------------------ what can be logged

    def add_scalar(self, tag: str, scalar_value, global_step=None, walltime=None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """Log one number (a Python number, a one-element tensor or array) under ``tag``."""
        v = _numpy(scalar_value).squeeze()
        if v.ndim != 0:
            raise ValueError(f"add_scalar({tag!r}): expected one value, got {v.size} values of shape {v.shape}")
        v = float(v)
        if new_style:
            tensor = (ev.tensor_proto(ev.DT_DOUBLE, doubles=[v]) if double_precision
                      else ev.tensor_proto(ev.DT_FLOAT, floats=[v]))
            value = ev.summary_value(tag, tensor=tensor, plugin="scalars")
        else:
            value = ev.summary_value(tag, simple_value=v)
        self._add(ev.summary(value), global_step, walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict, global_step=None, walltime=None) -> None:
        """Log several numbers on one chart: each goes to its own run, ``<log_dir>/<main_tag>_<key>``."""
        walltime = time.time() if walltime is None else walltime
        for tag, value in tag_scalar_dict.items():
            folder = os.path.join(self.log_dir, main_tag.replace("/", "_") + "_" + tag)
            self._get_file_writer()
            fw = self.all_writers.get(folder)
            if fw is None:
                fw = self.all_writers[folder] = ev.EventFileWriter(folder, self.max_queue, self.flush_secs,
                                                                   self.filename_suffix)
            v = _numpy(value).squeeze()
            if v.ndim != 0:
                raise ValueError(f"add_scalars({main_tag!r}): {tag!r} must be one value, got shape {v.shape}")
            self._add(ev.summary(ev.summary_value(main_tag, simple_value=float(v))), global_step, walltime, fw)

    def add_histogram(self, tag: str, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None) -> None:
        """Log the distribution of ``values`` (a tensor or array); ``bins`` as ``np.histogram``'s,
        or ``'tensorflow'`` for TensorFlow's exponential buckets."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._add(ev.summary(ev.summary_value(tag, histo=_histogram(_numpy(values), bins, max_bins))),
                  global_step, walltime)

    def add_histogram_raw(self, tag: str, min, max, num, sum, sum_squares, bucket_limits, bucket_counts,  # noqa: A002
                          global_step=None, walltime=None) -> None:
        """Log a histogram already counted: ``bucket_counts[i]`` values up to ``bucket_limits[i]``."""
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError(f"add_histogram_raw: {len(bucket_limits)} bucket limits for "
                             f"{len(bucket_counts)} counts; they must be as many")
        histo = ev.histogram_proto(min, max, num, sum, sum_squares, list(map(float, bucket_limits)),
                                   list(map(float, bucket_counts)))
        self._add(ev.summary(ev.summary_value(tag, histo=histo)), global_step, walltime)

    def add_image(self, tag: str, img_tensor, global_step=None, walltime=None, dataformats: str = "CHW") -> None:
        """Log an image: uint8 in [0, 255], or floats in [0, 1]; 1, 3 or 4 channels (``dataformats``
        names the axes: ``'CHW'``, ``'HWC'``, ``'HW'``)."""
        self._add(ev.summary(ev.summary_value(tag, image=_image(_numpy(img_tensor), dataformats))),
                  global_step, walltime)

    def add_images(self, tag: str, img_tensor, global_step=None, walltime=None, dataformats: str = "NCHW") -> None:
        """Log a batch of images as one grid, eight to a row."""
        self._add(ev.summary(ev.summary_value(tag, image=_image(_numpy(img_tensor), dataformats))),
                  global_step, walltime)

    def add_figure(self, tag: str, figure, global_step=None, close: bool = True, walltime=None) -> None:
        """Log a matplotlib figure (or a list of them, as one grid) as an image."""
        if isinstance(figure, list):
            img = np.stack([_figure_to_chw(f, close) for f in figure])
            self.add_images(tag, img, global_step, walltime, dataformats="NCHW")
        else:
            self.add_image(tag, _figure_to_chw(figure, close), global_step, walltime, dataformats="CHW")

    def add_text(self, tag: str, text_string: str, global_step=None, walltime=None) -> None:
        """Log a string (TensorBoard renders it as Markdown) under ``<tag>/text_summary``."""
        tensor = ev.tensor_proto(ev.DT_STRING, (1,), strings=[text_string.encode("utf-8")])
        self._add(ev.summary(ev.summary_value(tag + "/text_summary", tensor=tensor, plugin="text")),
                  global_step, walltime)

    def add_hparams(self, hparam_dict: dict, metric_dict: dict, hparam_domain_discrete=None, run_name=None,
                    global_step=None) -> None:
        """Log a run's hyperparameters and final metrics for TensorBoard's HPARAMS tab, in a run of
        their own (``<log_dir>/<run_name>``, the current time by default)."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        summaries = _hparams_summaries(hparam_dict, metric_dict, hparam_domain_discrete)
        folder = os.path.join(self.log_dir, run_name or str(time.time()))
        with SummaryWriter(log_dir=folder) as w:
            for s in summaries:
                w._add(s, global_step)
            for k, v in metric_dict.items():
                w.add_scalar(k, v, global_step)

    def add_graph(self, model, input_to_model=None, verbose: bool = False, use_strict_trace: bool = True) -> None:
        """Log the model's graph: one node per layer called in a forward pass on ``input_to_model``
        (a tensor or a tuple of them), linked by the tensors they pass, named by module path."""
        from ._graph import graph_def

        if input_to_model is None:
            raise ValueError("add_graph: nerve traces the model by running it: pass input_to_model")
        gd = graph_def(model, input_to_model)
        if verbose:
            print(gd[1])
        self._get_file_writer().add_event(ev.event(time.time(), graph_def=gd[0]))

    def add_pr_curve(self, tag: str, labels, predictions, global_step=None, num_thresholds: int = 127,
                     weights=None, walltime=None) -> None:
        """Log a precision-recall curve of binary ``labels`` against ``predictions`` in [0, 1], at
        ``num_thresholds`` (at most 127) evenly spaced thresholds."""
        labels, predictions = _numpy(labels), _numpy(predictions)
        if labels.shape != predictions.shape:
            raise ValueError(f"add_pr_curve: labels of shape {labels.shape} and predictions of shape "
                             f"{predictions.shape} must have the same shape")
        n = min(int(num_thresholds), 127)
        self._pr_curve(tag, _pr_counts(labels, predictions, n, 1.0 if weights is None else _numpy(weights)),
                       n, global_step, walltime)

    def add_pr_curve_raw(self, tag: str, true_positive_counts, false_positive_counts, true_negative_counts,
                         false_negative_counts, precision, recall, global_step=None, num_thresholds: int = 127,
                         weights=None, walltime=None) -> None:
        """Log a precision-recall curve from counts already made, one per threshold."""
        data = np.stack([_numpy(a).astype(np.float64) for a in (true_positive_counts, false_positive_counts,
                                                                 true_negative_counts, false_negative_counts,
                                                                 precision, recall)])
        self._pr_curve(tag, data, min(int(num_thresholds), 127), global_step, walltime)

    def _pr_curve(self, tag, data, n, global_step, walltime) -> None:
        tensor = ev.tensor_proto(ev.DT_FLOAT, data.shape, floats=data.reshape(-1).tolist())
        value = ev.summary_value(tag, tensor=tensor, plugin="pr_curves", plugin_content=ev.varint_field(2, n))
        self._add(ev.summary(value), global_step, walltime)

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None, tag: str = "default",
                      metadata_header=None) -> None:
        """Save points for TensorBoard's embedding projector: ``mat`` (N, D), with a label per point
        (``metadata``: N values, or N rows under ``metadata_header``) and an image per point
        (``label_img``: (N, C, H, W) in [0, 1]), in ``<log_dir>/<step>/<tag>/``, listed in
        ``projector_config.pbtxt``."""
        from ..._atomic import atomic_write

        mat = _numpy(mat)
        if mat.ndim != 2:
            raise ValueError(f"add_embedding: mat must be 2-D (points, features), got shape {mat.shape}")
        step = 0 if global_step is None else int(global_step)
        sub = f"{str(step).zfill(5)}/{_escape_tag(tag)}"
        folder = os.path.join(self._get_file_writer().log_dir, sub)
        if os.path.isfile(folder):
            raise NotADirectoryError(f"add_embedding: {folder} exists and is a file")
        os.makedirs(folder, exist_ok=True)
        # EmbeddingInfo's fields in the text format's order (by number): tensor_name 1, metadata_path 2,
        # sprite 5, tensor_path 8
        info = f'  tensor_name: "{_pbtxt(tag)}:{str(step).zfill(5)}"\n'
        if metadata is not None:
            metadata = list(metadata)
            if len(metadata) != mat.shape[0]:
                raise ValueError(f"add_embedding: {len(metadata)} metadata rows for {mat.shape[0]} points")
            if metadata_header:
                if len(metadata_header) != len(metadata[0]):
                    raise ValueError(f"add_embedding: a header of {len(metadata_header)} columns for rows of "
                                     f"{len(metadata[0])}")
                rows = ["\t".join(str(e) for e in r) for r in [metadata_header] + metadata]
            else:
                rows = [str(m) for m in metadata]
            with atomic_write(os.path.join(folder, "metadata.tsv")) as f:
                f.write(("\n".join(rows) + "\n").encode())
            info += f'  metadata_path: "{_pbtxt(sub)}/metadata.tsv"\n'
        if label_img is not None:
            imgs = _numpy(label_img)
            if imgs.ndim != 4 or imgs.shape[0] != mat.shape[0]:
                raise ValueError(f"add_embedding: label_img must be (N, C, H, W) with N={mat.shape[0]}, "
                                 f"got shape {imgs.shape}")
            with atomic_write(os.path.join(folder, "sprite.png")) as f:
                f.write(_sprite(imgs))
            info += (f'  sprite {{\n    image_path: "{_pbtxt(sub)}/sprite.png"\n'
                     f"    single_image_dim: {imgs.shape[3]}\n    single_image_dim: {imgs.shape[2]}\n  }}\n")
        with atomic_write(os.path.join(folder, "tensors.tsv")) as f:
            f.write("".join("\t".join(str(v.item()) for v in row) + "\n" for row in mat).encode())
        info += f'  tensor_path: "{_pbtxt(sub)}/tensors.tsv"\n'
        self._projector = getattr(self, "_projector", "") + "embeddings {\n" + info + "}\n"
        with atomic_write(os.path.join(self._get_file_writer().log_dir, "projector_config.pbtxt")) as f:
            f.write(self._projector.encode())

    # ------------------------------------------------------------ the files

    def flush(self) -> None:
        """Write everything held to disk."""
        for w in (self.all_writers or {}).values():
            w.flush()

    def close(self) -> None:
        """Write everything held and close the files (a later ``add_*`` opens a new file)."""
        for w in (self.all_writers or {}).values():
            w.close()
        self.file_writer = self.all_writers = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
