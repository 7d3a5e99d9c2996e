"""``nerve train``: train a classifier, report each epoch, checkpoint, and save what was learned.

A run folder holds::

    model.safetensors       the best model so far (highest test/validation accuracy): what
                            ``nerve predict`` reads; its metadata says how to rebuild and feed it
    checkpoint.safetensors  the last completed epoch: model, optimizer, epoch and history, for --resume
    history.json, .csv      loss and accuracy per epoch
    curves.png              the training curves (when matplotlib is installed)

Both model files are written atomically after every epoch, so Ctrl-C (or a crash) at any moment
leaves the best model so far and the last checkpoint whole.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from datetime import datetime

import numpy as np

from .common import CLIError, one_line

MODEL_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
FORMAT = "nerve.cli.model"
FORMAT_VERSION = 1

DEFAULTS = {
    "dataset": "fashion-mnist", "model": "mlp", "epochs": 5, "batch_size": 64, "optimizer": None, "lr": None,
    "momentum": 0.0, "device": None, "seed": 0, "api": "torch", "data_dir": "data", "image_size": None,
    "val_split": 0.2, "limit": None,
}
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 0.01, "adadelta": 1.0}
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


# ---------------------------------------------------------------- configuration


def _config(args) -> tuple[dict, dict | None]:
    """The run's settings (explicit arguments over a resumed run's over the defaults) and the checkpoint."""
    given = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k, None) is not None}
    checkpoint = None
    if args.resume:
        path = args.resume
        if os.path.isdir(path):
            path = os.path.join(path, CHECKPOINT_FILE)
        if not os.path.exists(path):
            raise CLIError(f"--resume {args.resume}: no such run folder or checkpoint file" if path == args.resume
                           else f"--resume {args.resume}: no checkpoint in that folder (expected {path})")
        checkpoint = _load_file(path, want_checkpoint=True)
        cfg = dict(checkpoint["config"])
        if "dataset" in given and os.path.isdir(given["dataset"]):
            given["dataset"] = os.path.abspath(given["dataset"])
        fixed = ("dataset", "model", "api", "optimizer", "image_size", "val_split", "limit", "seed")
        clash = [k for k in fixed if k in given and given[k] != cfg.get(k)]
        if clash:
            raise CLIError(f"--resume: cannot change {', '.join('--' + k.replace('_', '-') for k in clash)} "
                           "of a run; start a new run instead")
        cfg.update(given)
        cfg["out"] = os.path.dirname(os.path.abspath(path)) if args.out is None else args.out
    else:
        cfg = {**DEFAULTS, **given}
        if os.path.isdir(cfg["dataset"]):  # so that --resume works from any folder
            cfg["dataset"] = os.path.abspath(cfg["dataset"])
        cfg["out"] = args.out
    if cfg["optimizer"] is None:
        cfg["optimizer"] = "sgd" if cfg["model"] == "linear" else "adam"
    if cfg["lr"] is None:
        cfg["lr"] = DEFAULT_LR[cfg["optimizer"]]
    cfg["no_plot"] = bool(getattr(args, "no_plot", False))
    return cfg, checkpoint


def _device(spec: str | None):
    import nerve

    if spec in (None, "auto"):
        return nerve.device("cuda" if nerve.cuda.is_available() else "cpu")
    try:
        dev = nerve.device(spec)
    except Exception as e:
        raise CLIError(f"--device {spec}: {one_line(e)} (use cpu or cuda)") from None
    if dev.type == "cuda" and not nerve.cuda.is_available():
        raise CLIError(f"--device {spec}: no CUDA GPU is usable here (CuPy: pip install 'nerve[gpu]'); use --device cpu")
    return dev


def _new_run_dir(cfg: dict) -> str:
    name = os.path.basename(os.path.normpath(cfg["dataset"])) or "data"
    base = os.path.join("runs", f"{datetime.now():%Y%m%d-%H%M%S}-{name}-{cfg['model']}")
    path, i = base, 2
    while os.path.exists(path):
        path, i = f"{base}-{i}", i + 1
    return path


# ---------------------------------------------------------------- files


def _load_file(path: str, want_checkpoint: bool = False) -> dict:
    """Read a model or checkpoint written by ``nerve train``; a one-line error for anything else."""
    import nerve

    if not os.path.isfile(path):
        raise CLIError(f"{path}: no such file")
    try:
        obj = nerve.load(path)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        raise CLIError(f"{path}: not a model saved by nerve train ({one_line(e)})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or "meta" not in obj:
        raise CLIError(f"{path}: a nerve file, but not a model saved by nerve train")
    if want_checkpoint and "optimizer" not in obj:
        raise CLIError(f"{path}: a model file, not a training checkpoint (resume from {CHECKPOINT_FILE})")
    return obj


def load_model_file(path: str) -> dict:
    """The saved model (``format``, ``meta``, ``weights`` ...) from a run folder or a model file."""
    if os.path.isdir(path):
        path = os.path.join(path, MODEL_FILE)
    return _load_file(path)


def _save(path: str, obj: dict) -> None:
    import nerve

    try:
        nerve.save(obj, path)
    except OSError as e:
        raise CLIError(f"cannot write {path}: {one_line(e)}") from None


def _write_history(out: str, history: dict) -> None:
    from nerve._atomic import atomic_write

    rows = list(zip(*(history[k] for k in ("epoch", *HISTORY_KEYS, "seconds"))))
    with atomic_write(os.path.join(out, "history.json"), "w") as f:
        json.dump(history, f, indent=1)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["epoch", *HISTORY_KEYS, "seconds"])
    for r in rows:
        w.writerow([r[0], *(f"{v:.6f}" for v in r[1:5]), f"{r[5]:.2f}"])
    with atomic_write(os.path.join(out, "history.csv"), "w") as f:
        f.write(buf.getvalue())


def _plot(out: str, history: dict, title: str, val_label: str = "validation") -> str | None:
    """Write curves.png; None (and a note) when matplotlib is missing or there is nothing to plot."""
    if not history["epoch"]:
        return None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("note: matplotlib is not installed, so no plot was written (pip install matplotlib)")
        return None
    from nerve.keras.utils.plotting import plot_history

    curves = {k: [float("nan") if v is None else v for v in history[k]] for k in HISTORY_KEYS}
    return plot_history(curves, os.path.join(out, "curves.png"), title=title, val_label=val_label)


# ---------------------------------------------------------------- progress


def _interactive() -> bool:
    """A live progress bar only on a terminal; logs get one line per epoch."""
    return hasattr(sys.stdout, "isatty") and sys.stdout.isatty()


def _progbar(steps: int):
    from nerve.keras.utils.progbar import Progbar

    return Progbar(steps, stateful_metrics=["loss", "accuracy"], verbose=1 if _interactive() else 0)


def _epoch_line(epoch: int, epochs: int, logs: dict, seconds: float, test_name: str, best: bool) -> str:
    return (f"epoch {epoch}/{epochs}: train loss {logs['loss']:.4f} accuracy {logs['accuracy']:.2%} | "
            f"{test_name} loss {logs['val_loss']:.4f} accuracy {logs['val_accuracy']:.2%} | "
            f"{seconds:.1f}s" + ("  (best so far, saved)" if best else ""))


# ---------------------------------------------------------------- the two ways to train


class _Run:
    """State shared by both training loops: history, best accuracy, and the files they keep."""

    def __init__(self, cfg, data, meta, out, checkpoint):
        self.cfg, self.data, self.meta, self.out = cfg, data, meta, out
        self.history = {k: [] for k in ("epoch", *HISTORY_KEYS, "seconds")}
        self.best = {"epoch": 0, "val_accuracy": -1.0}
        self.start_epoch = 0
        if checkpoint is not None:
            self.history = {k: list(v) for k, v in checkpoint["history"].items()}
            self.best = dict(checkpoint["best"])
            self.start_epoch = int(checkpoint["epoch"])

    def end_epoch(self, epoch: int, logs: dict, seconds: float, weights, optimizer_state) -> None:
        """Record an epoch, print its line, write the best model and the checkpoint (both atomically)."""
        h = self.history
        h["epoch"].append(epoch)
        for k in HISTORY_KEYS:
            v = float(logs[k])
            h[k].append(v if math.isfinite(v) else None)
        h["seconds"].append(round(seconds, 3))
        is_best = logs["val_accuracy"] > self.best["val_accuracy"]
        print(_epoch_line(epoch, self.cfg["epochs"], logs, seconds, self.data.test_name, is_best), flush=True)
        model = {"format": FORMAT, "version": FORMAT_VERSION, "meta": self.meta, "weights": weights, "epoch": epoch,
                 "val_accuracy": float(logs["val_accuracy"])}
        if is_best:
            self.best = {"epoch": epoch, "val_accuracy": float(logs["val_accuracy"])}
            _save(os.path.join(self.out, MODEL_FILE), model)
        _save(os.path.join(self.out, CHECKPOINT_FILE),
              {**model, "config": self.cfg, "optimizer": optimizer_state, "history": self.history, "best": self.best})
        try:
            _write_history(self.out, self.history)
        except OSError as e:
            raise CLIError(f"cannot write the history in {self.out}: {one_line(e)}") from None


def _seed_epoch(cfg, epoch: int) -> None:
    """Shuffling and dropout of each epoch follow the seed and the epoch, so a resumed run repeats them."""
    import nerve

    nerve.manual_seed(cfg["seed"] * 100_003 + epoch)


def _make_optimizer(cfg, params):
    from nerve import optim

    name, lr, momentum = cfg["optimizer"], cfg["lr"], cfg["momentum"] or 0.0
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=momentum)
    return {"adam": optim.Adam, "adamw": optim.AdamW, "adagrad": optim.Adagrad, "adadelta": optim.Adadelta}[name](
        params, lr=lr)


def _train_torch(run: _Run, device, checkpoint) -> None:
    """The explicit PyTorch-style loop: forward, loss, zero_grad, backward, step."""
    import nerve
    from nerve import nn
    from nerve.utils.data import DataLoader, TensorDataset

    from .data import normalise
    from .models import build_torch

    cfg, data = run.cfg, run.data
    nerve.manual_seed(cfg["seed"])
    model = build_torch(cfg["model"], data.input_shape, len(data.classes)).to(device)
    optimizer = _make_optimizer(cfg, model.parameters())
    if checkpoint is not None:
        model.load_state_dict(checkpoint["weights"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        for group in optimizer.param_groups:  # --lr on resume takes effect
            group["lr"] = cfg["lr"]
    loss_fn = nn.CrossEntropyLoss()

    def tensors(x, y):
        return nerve.from_numpy(np.ascontiguousarray(normalise(x, data.preprocess).transpose(0, 3, 1, 2))), \
            nerve.from_numpy(y)

    train_loader = DataLoader(TensorDataset(*tensors(data.x_train, data.y_train)), batch_size=cfg["batch_size"],
                              shuffle=True)
    test_loader = DataLoader(TensorDataset(*tensors(data.x_test, data.y_test)), batch_size=1000)

    def evaluate():
        model.eval()
        total, correct, n = 0.0, 0, 0
        with nerve.no_grad():
            for X, y in test_loader:
                X, y = X.to(device), y.to(device)
                out = model(X)
                total += loss_fn(out, y).item() * len(y)
                correct += (out.argmax(1) == y).sum().item()
                n += len(y)
        return total / n, correct / n

    for epoch in range(run.start_epoch, cfg["epochs"]):
        _seed_epoch(cfg, epoch)
        t0 = time.perf_counter()
        model.train()
        bar = _progbar(len(train_loader))
        total, correct, n = 0.0, 0, 0
        for i, (X, y) in enumerate(train_loader):
            X, y = X.to(device), y.to(device)
            out = model(X)
            loss = loss_fn(out, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            correct += (out.argmax(1) == y).sum().item()
            n += len(y)
            bar.update(i + 1, [("loss", total / n), ("accuracy", correct / n)])
        val_loss, val_acc = evaluate()
        logs = {"loss": total / n, "accuracy": correct / n, "val_loss": val_loss, "val_accuracy": val_acc}
        run.end_epoch(epoch + 1, logs, time.perf_counter() - t0, model.state_dict(), optimizer.state_dict())


def _keras_optimizer(cfg):
    from nerve import keras

    name, lr, momentum = cfg["optimizer"], cfg["lr"], cfg["momentum"] or 0.0
    opts = keras.optimizers
    if name == "sgd":
        return opts.SGD(learning_rate=lr, momentum=momentum)
    if name == "rmsprop":
        return opts.RMSprop(learning_rate=lr, momentum=momentum)
    return {"adam": opts.Adam, "adamw": opts.AdamW, "adagrad": opts.Adagrad, "adadelta": opts.Adadelta}[name](
        learning_rate=lr)


def _train_keras(run: _Run, device, checkpoint) -> None:
    """The Keras way: compile, then fit with validation data; a callback keeps the run's files."""
    from nerve import keras

    from .data import normalise
    from .models import build_keras

    cfg, data = run.cfg, run.data
    keras.backend.set_device(device)
    keras.utils.set_random_seed(cfg["seed"])
    n, h, w, c = data.x_train.shape
    model = build_keras(cfg["model"], (h, w, c), len(data.classes))
    model.compile(optimizer=_keras_optimizer(cfg),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    if checkpoint is not None:
        model.set_weights([np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in checkpoint["weights"]])
        _keras_load_optimizer(model, checkpoint["optimizer"])
    x_train, x_test = normalise(data.x_train, data.preprocess), normalise(data.x_test, data.preprocess)

    class RunFiles(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            _seed_epoch(cfg, epoch)
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            run.end_epoch(epoch + 1, logs, time.perf_counter() - self.t0, model.get_weights(),
                          _keras_optimizer_state(model))

    model.fit(x_train, data.y_train, batch_size=cfg["batch_size"], epochs=cfg["epochs"],
              initial_epoch=run.start_epoch, validation_data=(x_test, data.y_test), shuffle=True,
              callbacks=[RunFiles()], verbose=1 if _interactive() else 0)


def _keras_optimizer_state(model) -> dict:
    """The Keras optimizer's state for the checkpoint: that of the nerve.optim optimizer it drives."""
    opt = model.optimizer
    inner = getattr(opt, "_opt", None)
    return {"iterations": int(getattr(opt, "iterations", 0)), "state": inner.state_dict() if inner is not None else None}


def _keras_load_optimizer(model, state: dict) -> None:
    opt = model.optimizer
    if state.get("state") is None or not hasattr(opt, "build"):
        return
    opt.build(model.trainable_variables)
    if getattr(opt, "_opt", None) is not None:
        opt._opt.load_state_dict(state["state"])
        opt.iterations = int(state.get("iterations", 0))
        opt.learning_rate = opt.learning_rate  # the run's --lr, not the saved group's


# ---------------------------------------------------------------- the command


def train_command(args) -> int:
    """``nerve train``: see the module docstring for what a run writes."""
    from nerve import __version__

    from .data import load_dataset

    cfg, checkpoint = _config(args)
    device = _device(cfg["device"])
    data = load_dataset(cfg["dataset"], data_dir=cfg["data_dir"], image_size=cfg["image_size"],
                        val_split=cfg["val_split"], seed=cfg["seed"], limit=cfg["limit"])
    if checkpoint is not None:
        saved = checkpoint["meta"]
        if list(saved["classes"]) != data.classes or list(saved["input_shape"]) != list(data.input_shape):
            raise CLIError("--resume: the dataset's classes or image size differ from the run's")
        data.preprocess = dict(saved["preprocess"])  # keep the statistics the model was trained with
    from .models import check_input

    problem = check_input(cfg["model"], data.input_shape)
    if problem:
        raise CLIError(f"--model {cfg['model']}: {problem} (use --image-size, or --model mlp)")
    if checkpoint is not None and checkpoint["epoch"] >= cfg["epochs"]:
        raise CLIError(f"--resume: the run has already completed {checkpoint['epoch']} of {cfg['epochs']} epochs; "
                       f"pass --epochs N with N above {checkpoint['epoch']} to train more")
    out = cfg["out"] or _new_run_dir(cfg)
    if checkpoint is None and os.path.exists(os.path.join(out, CHECKPOINT_FILE)):
        raise CLIError(f"--out {out} already holds a run: continue it with --resume {out}, or choose another --out")
    created = not os.path.exists(out)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise CLIError(f"--out {out}: {one_line(e)}") from None
    cfg["out"] = out
    meta = {
        "architecture": cfg["model"], "api": cfg["api"], "input_shape": list(data.input_shape),
        "classes": data.classes, "preprocess": data.preprocess, "dataset": cfg["dataset"],
        "nerve_version": __version__,
    }
    run = _Run(cfg, data, meta, out, checkpoint)
    n_train, n_test = len(data.x_train), len(data.x_test)
    print(f"data: {data.source}: {n_train} training and {n_test} {data.test_name} images, "
          f"{len(data.classes)} classes, input {'x'.join(map(str, data.input_shape))}")
    print(f"model: {cfg['model']} ({cfg['api']} API) on {device}, optimizer {cfg['optimizer']} lr {cfg['lr']:g}, "
          f"batch {cfg['batch_size']}, epochs {cfg['epochs']}")
    if checkpoint is not None:
        print(f"resuming {out} after epoch {run.start_epoch} (best {run.best['val_accuracy']:.2%} "
              f"at epoch {run.best['epoch']})")
    print(f"output: {out}", flush=True)
    t0 = time.perf_counter()
    status = 0
    try:
        if cfg["api"] == "keras":
            _train_keras(run, device, checkpoint)
        else:
            _train_torch(run, device, checkpoint)
    except KeyboardInterrupt:
        status = 130
        done = len(run.history["epoch"])
        print(f"\ninterrupted during epoch {done + 1}: stopping; completed epochs are kept", flush=True)
    seconds = time.perf_counter() - t0
    plot = None
    if not cfg["no_plot"] and run.history["epoch"]:
        try:
            name = os.path.basename(os.path.normpath(cfg["dataset"]))
            plot = _plot(out, run.history, f"nerve train --model {cfg['model']} --dataset {name} "
                         f"(best {data.test_name} accuracy {run.best['val_accuracy']:.2%})",
                         val_label=data.test_name)
        except KeyboardInterrupt:
            plot = None
    _report(run, plot, seconds, status)
    if created and not run.history["epoch"] and not os.listdir(out):
        os.rmdir(out)
    return status


def _report(run: _Run, plot: str | None, seconds: float, status: int) -> None:
    out = run.out
    if not run.history["epoch"]:
        print("no epoch was completed, so no model was saved")
        return
    b = run.best
    print(f"\ntrained in {seconds:.1f}s; best {run.data.test_name} accuracy {b['val_accuracy']:.2%} "
          f"(epoch {b['epoch']})")
    print(f"  model:       {os.path.join(out, MODEL_FILE)}")
    print(f"  checkpoint:  {os.path.join(out, CHECKPOINT_FILE)}" +
          (f"  (continue with: nerve train --resume {out})" if status else ""))
    print(f"  history:     {os.path.join(out, 'history.json')}, {os.path.join(out, 'history.csv')}")
    if plot:
        print(f"  curves:      {plot}")
    print(f"try it: nerve predict {out} IMAGE.png")
