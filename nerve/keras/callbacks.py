"""Keras's callbacks: ``History``, ``EarlyStopping``, ``ModelCheckpoint``, ``LearningRateScheduler``, ``TensorBoard``,
``ReduceLROnPlateau``, ``CSVLogger``, ``TerminateOnNaN``, ``ProgbarLogger``, ``LambdaCallback``.

``fit`` calls them at the same points and with the same ``logs`` dicts as Keras 3 does.
"""

from __future__ import annotations

import csv
import math
import os
import warnings

import numpy as np

from .utils.progbar import Progbar


class Callback:
    """Base class: override the ``on_*`` hooks; ``self.model`` and ``self.params`` are set by fit."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...

    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...


class CallbackList(Callback):
    """Calls each callback's hook in turn (fit, evaluate and predict talk to one of these)."""

    def __init__(self, callbacks=None, model=None, add_history=False, add_progbar=False, **params):
        super().__init__()
        self.callbacks = list(callbacks or [])
        if add_history and not any(isinstance(c, History) for c in self.callbacks):
            self.callbacks.append(History())
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        # As Keras: the history and the progress bar come last, so they see what the others add.
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    @property
    def history(self):
        return next((c for c in self.callbacks if isinstance(c, History)), None)

    def set_model(self, model):
        self.model = model
        for c in self.callbacks:
            c.set_model(model)

    def set_params(self, params):
        self.params = params
        for c in self.callbacks:
            c.set_params(params)

    def _each(self, name, *args):
        # as Keras, a hook given no logs gets an empty dict
        if args[-1] is None:
            args = args[:-1] + ({},)
        for c in self.callbacks:
            getattr(c, name)(*args)

    def on_train_begin(self, logs=None): self._each("on_train_begin", logs)
    def on_train_end(self, logs=None): self._each("on_train_end", logs)
    def on_epoch_begin(self, epoch, logs=None): self._each("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._each("on_epoch_end", epoch, logs)

    def _batch_hooks(self, names):
        # Only the hooks a callback overrides are called: most do nothing per batch.
        out = []
        for c in self.callbacks:
            for name in names:
                if getattr(type(c), name, None) is not getattr(Callback, name) or name in vars(c):
                    out.append(getattr(c, name))
        return out

    def _train_hooks(self, when: str) -> list:
        """The overridden ``on_train_batch_<when>`` / ``on_batch_<when>`` hooks, found once."""
        key = f"_{when}_hooks"
        hooks = self.__dict__.get(key)
        if hooks is None:
            hooks = self._batch_hooks((f"on_train_batch_{when}", f"on_batch_{when}"))
            setattr(self, key, hooks)
        return hooks

    def wants_train_batch_logs(self) -> bool:
        """Whether some callback reads the logs after each training step."""
        return any(getattr(getattr(hook, "__self__", None), "reads_batch_logs", True)
                   for hook in self._train_hooks("end"))

    def on_train_batch_begin(self, batch, logs=None):
        for hook in self._train_hooks("begin"):
            hook(batch, {} if logs is None else logs)

    def on_train_batch_end(self, batch, logs=None):
        for hook in self._train_hooks("end"):
            hook(batch, {} if logs is None else logs)

    def on_test_begin(self, logs=None): self._each("on_test_begin", logs)
    def on_test_end(self, logs=None): self._each("on_test_end", logs)
    def on_test_batch_begin(self, batch, logs=None): self._each("on_test_batch_begin", batch, logs)
    def on_test_batch_end(self, batch, logs=None): self._each("on_test_batch_end", batch, logs)
    def on_predict_begin(self, logs=None): self._each("on_predict_begin", logs)
    def on_predict_end(self, logs=None): self._each("on_predict_end", logs)
    def on_predict_batch_begin(self, batch, logs=None): self._each("on_predict_batch_begin", batch, logs)
    def on_predict_batch_end(self, batch, logs=None): self._each("on_predict_batch_end", batch, logs)


class History(Callback):
    """Records each epoch's logs: ``history.history['loss']``, ``['val_accuracy']``, ..."""

    def __init__(self):
        super().__init__()
        self.history: dict = {}
        self.epoch: list = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints the progress bar (``verbose=1``) or one line per epoch (``verbose=2``)."""

    def __init__(self, count_mode=None):
        super().__init__()
        self.progbar = None
        self.seen = 0
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _new_bar(self, target=None):
        self.seen = 0
        self.progbar = Progbar(target=target, verbose=self.verbose, unit_name="step")

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._new_bar(self.target)
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)

    @property
    def reads_batch_logs(self) -> bool:
        # verbose=2 prints one line per epoch from the epoch's logs: a step's logs never show
        return self.verbose == 1

    def on_train_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)
        elif self.seen == 1:
            self.progbar.update(1, None, finalize=False)  # starts the per-step timing after step 1, as Keras

    def on_epoch_end(self, epoch, logs=None):
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.seen
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._new_bar(self.params.get("test_steps", self.params.get("steps")))

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self.seen = batch + 1
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self.progbar.target = self.progbar.target or self.seen
            self.progbar.update(self.progbar.target, list((logs or {}).items()), finalize=True)

    def on_predict_begin(self, logs=None):
        self._new_bar(self.params.get("steps"))

    def on_predict_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        self.progbar.update(self.seen, finalize=False)

    def on_predict_end(self, logs=None):
        self.progbar.target = self.progbar.target or self.seen
        self.progbar.update(self.progbar.target, finalize=True)


class _MonitorCallback(Callback):
    """What EarlyStopping, ModelCheckpoint and ReduceLROnPlateau share, as Keras's MonitorCallback:
    ``mode='auto'`` takes the direction from the compiled metric named by ``monitor`` (``'loss'``
    and ``'val_loss'`` go down), looked up at the end of the first epoch, once the metrics are built."""

    def _init_monitor(self, monitor, mode) -> None:
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=3)
            mode = "auto"
        self.monitor, self.mode = monitor, mode
        self._max = None if mode == "auto" else mode == "max"

    def _set_monitor_op(self) -> None:
        if self._max is not None:
            return
        from .models.compile_metrics import CompileMetrics  # (the models import this module)

        name = self.monitor.removeprefix("val_")
        found = False if name == "loss" else None
        for outer in getattr(self.model, "metrics", ()):
            for m in getattr(outer, "metrics", ()) if isinstance(outer, CompileMetrics) else ():
                # (by the metric's own name, as Keras: not the log key of a weighted metric renamed
                # weighted_NAME, nor an output's OUTPUT_NAME, which Keras cannot tell the direction of)
                if m.__dict__.get("_base_name", m.name) == name and m._direction is not None:
                    found = m._direction == "up"
        if found is None:
            raise ValueError(
                f"{type(self).__name__} callback received monitor={self.monitor}, but Keras isn't able to "
                "automatically determine whether that metric should be maximized or minimized. Pass "
                "`mode='max'` in order to monitor based on the highest metric value, or pass `mode='min'` "
                "in order to use the lowest value.")
        self._max = found


class EarlyStopping(_MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: the logged value to watch (``'val_loss'``).
        min_delta: smaller changes do not count as improvement.
        patience: epochs without improvement before stopping.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (max for accuracies).
        baseline: training stops unless the value beats this.
        restore_best_weights: put back the weights of the best epoch at the end.
        start_from_epoch: epochs to wait before watching.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self._init_monitor(monitor, mode)
        self.patience, self.verbose = patience, verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.min_delta = abs(min_delta)

    def _better(self, value, reference):
        if reference is None:
            return True
        delta = abs(self.min_delta)
        return value - delta > reference if self._max else value + delta < reference

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_epoch_end(self, epoch, logs=None):
        self._set_monitor_op()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs or {})}", stacklevel=2)
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        if epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self._better(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_MonitorCallback):
    """Save the model (or its weights) after each epoch, or only when ``monitor`` improves.

    Args:
        filepath: may hold ``{epoch:02d}`` and logged values such as ``{val_loss:.2f}``; must end
            in ``.keras`` (whole model) or ``.weights.h5`` (``save_weights_only=True``).
        monitor, mode: what "best" means (``'val_loss'``, auto).
        save_best_only: save only when the monitored value improves.
        save_weights_only: save only the weights.
        save_freq: ``'epoch'``, or save every this many batches.
        initial_value_threshold: a value the first save must beat.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self._init_monitor(monitor, mode)
        self.verbose = verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        if save_freq != "epoch" and not isinstance(save_freq, int):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. Expected save_freq are 'epoch' or integer values")
        self.save_freq = save_freq
        if save_weights_only and not self.filepath.endswith(".weights.h5"):
            raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided "
                             f"must end in `.weights.h5` (Keras weights format). Received: filepath={self.filepath}")
        if not save_weights_only and not self.filepath.endswith(".keras"):
            raise ValueError("The filepath provided must end in `.keras` (Keras model format). "
                             f"Received: filepath={self.filepath}")
        self.best = initial_value_threshold
        self._current_epoch = 0
        self._batches_seen = 0
        self._last_batch = None

    def _path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}') from e

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # every save_freq batches (counted across epochs), as Keras
        if self.save_freq == "epoch":
            return
        new_epoch = self._last_batch is None or batch <= self._last_batch
        self._batches_seen += batch + 1 if new_epoch else batch - self._last_batch
        self._last_batch = batch
        if self._batches_seen >= self.save_freq:
            self._batches_seen = 0
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save(self, epoch, logs, path) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        self._set_monitor_op()
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self.best is None or (current > self.best if self._max else current < self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        path = self._path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        folder = os.path.dirname(path)
        if folder and not os.path.exists(folder):
            os.makedirs(folder)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {path}")


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to ``schedule(epoch, lr)`` (or ``schedule(epoch)``)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.model.optimizer.learning_rate)
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, int, np.floating, np.integer)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {lr}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(_MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self._init_monitor(monitor, mode)
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr

    def on_train_begin(self, logs=None):
        self.best = None
        self.cooldown_counter, self.wait = 0, 0

    def _improved(self, current):
        if self.best is None:
            return True
        return current > self.best + self.min_delta if self._max else current < self.best - self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        self._set_monitor_op()
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(self.model.optimizer.learning_rate)
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (``epoch`` first, then sorted keys)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys = None
        self._file = None
        self._writer = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._append_header = not exists
        self.keys = None
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            # as Keras: columns for the validation values even when the first epoch has none
            # (validation_freq > 1, or no validation at all), written "NA"
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += ["val_" + k for k in self.keys]
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys, delimiter=self.sep)
            if self._append_header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, logs.get(k, "NA")) for k in self.keys)
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and (math.isnan(loss) or math.isinf(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        for name, fn in dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                             on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                             on_train_batch_end=on_train_batch_end, **kwargs).items():
            if fn is not None:
                setattr(self, name, fn)


class TensorBoard(Callback):
    """Log metrics (and optionally weight histograms and images) for TensorBoard, as Keras's
    ``TensorBoard`` callback lays them out: ``<log_dir>/train`` gets ``epoch_<metric>`` (with
    ``epoch_learning_rate``) at each epoch's index, ``<log_dir>/validation`` the validation metrics
    under the same names, and ``evaluation_<metric>_vs_iterations`` at the optimizer's step count.

    Args:
        log_dir: the folder for the two runs.
        histogram_freq: every this many epochs, a histogram of each weight (0: none).
        write_graph: write the model's configuration (TensorBoard's Keras graph view).
        write_images: with ``histogram_freq``, also each weight as an image.
        write_steps_per_second: log ``epoch_steps_per_second``.
        update_freq: ``'epoch'``; ``'batch'`` or an integer N also logs ``batch_<metric>`` every N
            training batches.
        profile_batch: 0 (profiling needs TensorFlow's profiler).
        embeddings_freq: 0 (the embedding projector needs TensorFlow).

    Written by ``nerve.utils.tensorboard`` (no TensorFlow needed); Keras writes scalars and
    histograms through ``tf.summary`` with the same tags and steps.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        if profile_batch:
            raise ValueError(
                "Profiling is not available in nerve (it needs TensorFlow's profiler). "
                f"Received: profile_batch={profile_batch} (must be 0)"
            )
        if embeddings_freq:
            raise ValueError(
                "The embedding projector is not available in nerve (it needs TensorFlow). "
                f"Received: embeddings_freq={embeddings_freq} (must be 0)"
            )
        if update_freq != "epoch" and update_freq != "batch" and not (isinstance(update_freq, int) and update_freq > 0):
            raise ValueError(f"update_freq must be 'epoch', 'batch' or a positive integer, got {update_freq!r}")
        self.log_dir = str(log_dir)
        self.histogram_freq, self.write_graph, self.write_images = histogram_freq, write_graph, write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers: dict = {}
        self._global_train_batch = 0

    def _writer(self, which: str):
        w = self._writers.get(which)
        if w is None:
            from nerve.utils.tensorboard import SummaryWriter

            w = self._writers[which] = SummaryWriter(os.path.join(self.log_dir, which))
        return w

    def set_model(self, model) -> None:
        super().set_model(model)
        self._close()
        self._graph_written = not self.write_graph

    def _scalar(self, which: str, tag: str, value, step: int) -> None:
        self._writer(which).add_scalar(tag, float(value), int(step), new_style=True)  # as tf.summary writes them

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        if not self._graph_written:
            self._graph_written = True
            try:
                config = self.model.to_json()
            except Exception:  # a subclassed model without a config: no graph, as Keras
                config = None
            if config is not None:  # tag "keras", plugin "graph_keras_model": TensorBoard's Keras graph view
                from nerve.utils.tensorboard import _events as ev

                value = ev.summary_value("keras", tensor=ev.tensor_proto(ev.DT_STRING, strings=[config.encode()]),
                                         plugin="graph_keras_model", plugin_content=b"1")
                self._writer("train")._add(ev.summary(value), 0)

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            import time

            self._batch_start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        if self.write_steps_per_second:
            import time

            self._scalar("train", "batch_steps_per_second", 1.0 / max(time.time() - self._batch_start, 1e-9),
                         self._global_train_batch)
        for name, value in (logs or {}).items():
            self._scalar("train", f"batch_{name}", value, self._global_train_batch)

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            import time

            self._epoch_start, self._epoch_iterations = time.time(), self._iterations()

    def _iterations(self) -> int:
        opt = getattr(self.model, "optimizer", None)
        return int(getattr(opt, "iterations", 0) or 0)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        opt = getattr(self.model, "optimizer", None)
        if opt is not None and hasattr(opt, "learning_rate"):
            train["learning_rate"] = float(opt.learning_rate)
        if self.write_steps_per_second:
            import time

            train["steps_per_second"] = (self._iterations() - self._epoch_iterations) / max(
                time.time() - self._epoch_start, 1e-9)
        for name, value in train.items():
            self._scalar("train", f"epoch_{name}", value, epoch)
        for name, value in val.items():
            self._scalar("validation", f"epoch_{name}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        for w in self._writers.values():
            w.flush()

    def on_test_end(self, logs=None):
        opt = getattr(self.model, "optimizer", None)
        if opt is not None and hasattr(opt, "iterations"):
            for name, value in (logs or {}).items():
                self._scalar("validation", f"evaluation_{name}_vs_iterations", value, self._iterations())

    def _log_weights(self, epoch: int) -> None:
        w = self._writer("train")
        for layer in self.model.layers:
            for weight in layer.weights:
                name = weight.path.replace(":", "_")
                value = np.asarray(weight.numpy())
                w.add_histogram(f"{name}/histogram", value, epoch)
                if self.write_images:
                    img = _weight_image(value)
                    if img is not None:
                        w.add_image(f"{name}/image", img, epoch, dataformats="NHWC")

    def on_train_end(self, logs=None):
        self._close()

    def _close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}


def _weight_image(w: np.ndarray):
    """A weight as Keras draws it: a bias as a column, a kernel wide side across, a 3-D kernel one
    image per output channel; None for what it does not draw."""
    w = np.squeeze(w)
    if w.ndim == 1:
        w = w.reshape(1, w.shape[0], 1, 1)
    elif w.ndim == 2:
        if w.shape[0] > w.shape[1]:
            w = w.T
        w = w.reshape(1, w.shape[0], w.shape[1], 1)
    elif w.ndim == 3:
        w = np.transpose(w, (2, 0, 1))[..., None]
    return w if w.ndim == 4 and w.shape[-1] in (1, 3, 4) else None
