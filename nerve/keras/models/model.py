"""``keras.Model``: layers plus training (``compile`` / ``fit`` / ``evaluate`` / ``predict``).

``keras.Model(inputs, outputs)`` makes a functional model (see ``functional.py``); subclassing
``keras.Model`` and writing ``call()`` makes a subclassed one; ``Sequential`` is in
``sequential.py``. ``fit`` runs, per batch, exactly the step a user writes by hand with
nerve.optim: ``optimizer.zero_grad()``, ``y = model(x)``, ``loss = loss_fn(y_true, y)``,
``loss.backward()``, ``optimizer.step()``; the rest is bookkeeping (metrics, callbacks, the
progress bar).
"""

from __future__ import annotations

import functools
import inspect
import warnings

import numpy as np

import nerve

from .. import backend
from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from ..layers import layer as _layer_module
from ..layers.layer import Layer, flatten, map_structure, training_mode
from ..utils.batches import pack_x_y_sample_weight as _pack
from ..utils.batches import unpack_x_y_sample_weight as _unpack_x_y_sample_weight
from . import data as data_module
from . import epoch_iterator as epoch_iterator_module
from . import per_output
from .compile_metrics import CompileMetrics
from .epoch_iterator import EpochIterator


def _verbose(verbose) -> int:
    return 1 if verbose == "auto" else int(verbose)


class Model(Layer):
    """A model: a layer that also trains. ``keras.Model(inputs, outputs)`` builds a functional one.

    Subclass it and write ``call(self, inputs, training=None)`` for a subclassed model.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional

            return Layer.__new__(Functional)
        return Layer.__new__(cls)

    def __init__(self, *args, trainable=True, name=None, dtype=None, **kwargs):
        if args or "inputs" in kwargs:
            # A subclass calling super().__init__(inputs, outputs): a functional model with the
            # subclass's methods (Keras 3 allows it), so mix Functional in.
            from .functional import Functional

            cls = type(self)
            if not isinstance(self, Functional):
                self.__class__ = type(cls.__name__, (Functional, cls), {"__module__": cls.__module__})
            inputs = args[0] if args else kwargs.pop("inputs")
            outputs = args[1] if len(args) > 1 else kwargs.pop("outputs")
            name = name or backend.unique_name(backend.snake_case(cls.__name__))
            Functional.__init__(self, inputs, outputs, name=name, trainable=trainable, **kwargs)
            return
        super().__init__(trainable=trainable, name=name or backend.unique_name(backend.snake_case(type(self).__name__)),
                         dtype=dtype, **kwargs)
        self._reset_compile()

    def _reset_compile(self) -> None:
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._loss_fns = None
        self._loss_weights = None
        self._metric_specs = None
        self._weighted_metric_specs = None
        self._metrics = None
        self._compile_metrics = None
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._output_loss_trackers = []
        # Keras builds the compiled metrics and loss on one batch at the first fit / evaluate after
        # compile: a PyDataset or generator sees that batch being taken (see epoch_iterator.py)
        self._compiled_built = False

    # ----------------------------------------------------------------- structure
    def _convert(self, x):
        # A model hands its inputs to its first layers as they are (as tensors); each layer
        # casts what it needs (float32, or integer ids for Embedding).
        if isinstance(x, nerve.Tensor):
            return x if x.dtype is not nerve.float64 else x.float()
        return data_module.to_device(x, backend.device())

    @property
    def output_names(self) -> list:
        outputs = getattr(self, "outputs", None)
        if outputs:
            return [t._keras_history[0].name for t in outputs]
        return ["output"]

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None):
        """Print Keras 3's summary table (layers, output shapes, parameter counts and sizes)."""
        from .summary import summary_text

        text = summary_text(self, line_length, positions, show_trainable)
        if print_fn is None:
            print(text, end="")
        else:
            print_fn(text)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[layer.name for layer in self.layers]}.")

    def build(self, input_shape) -> None:
        """Create the weights of a subclassed model by calling it once on zeros of ``input_shape``."""
        if self.built:
            return
        def zeros(shape):
            return nerve.zeros(*(1 if d is None else d for d in shape), device=backend.device())

        dummy = map_structure(zeros, input_shape) if isinstance(input_shape, (list, dict)) else zeros(input_shape)
        with nerve.no_grad(), training_mode(False), _layer_module._symbolic():  # a stateful RNN keeps its states
            self.call(dummy)
        self.built = True

    def _build_from_data(self, x) -> None:
        if not self.built:
            with nerve.no_grad(), training_mode(False):
                self(data_module.to_device(x, backend.device()))
            self.built = True

    # ----------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Choose the optimizer, loss and metrics by name or object.

        Args:
            optimizer: ``'sgd'``, ``'adam'``, ``'adamw'``, ``'rmsprop'``, ``'adagrad'``, ``'adadelta'``
                (Keras's defaults) or a ``keras.optimizers`` object.
            loss: a name (``'categorical_crossentropy'``, ``'sparse_categorical_crossentropy'``,
                ``'binary_crossentropy'``, ``'mse'``, ``'mae'``), a Loss, a function, or one per
                output (list or dict by output name).
            loss_weights: weights of the outputs' losses.
            metrics: names (``'accuracy'``, ...) or Metric objects; one list per output, or a dict.
                They leave sample weights and class weights out, as Keras 3's.
            weighted_metrics: the same, computed with the sample weights (named ``weighted_NAME``
                where ``metrics`` already has that name).
        """
        for arg, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value and not isinstance(value, (list, tuple, dict)):
                raise ValueError(f"Expected `{arg}` argument to be a list, tuple, or dict. Received instead: "
                                 f"{arg}={value} of type {type(value)}")
        if loss is None:  # as Keras 3: compiling again without a loss keeps the earlier one (and its weights)
            loss, loss_weights = self.__dict__.get("_loss_spec"), self.__dict__.get("_loss_weights")
        if metrics is None and weighted_metrics is None:  # and without metrics, the earlier metrics
            metrics, weighted_metrics = self.__dict__.get("_metric_specs"), self.__dict__.get("_weighted_metric_specs")
        for m in flatten(metrics or []) + flatten(weighted_metrics or []):
            metrics_module.check(m)  # before any change: a compile that fails leaves the model as it was
        optimizer = optimizers_module.get(optimizer)
        self._reset_compile()
        self.optimizer = optimizer
        self.loss = loss
        self._loss_spec = loss
        self._loss_weights = loss_weights
        self._metric_specs = metrics
        self._weighted_metric_specs = weighted_metrics
        self._loss_fns = map_structure(losses_module.to_loss, loss) if isinstance(loss, (list, dict)) else losses_module.to_loss(loss)
        if metrics is not None or weighted_metrics is not None:
            self._compile_metrics = CompileMetrics(self)
        self.compiled = True

    def _assert_compiled(self) -> None:
        # compile() without a loss is fine: the layers may add theirs (add_loss), else the step says so
        if not self.compiled:
            raise ValueError("You must call `compile()` before using the model.")

    @property
    def metrics(self) -> list:
        """As Keras 3's: once compiled, the loss tracker (``loss``), the compiled metrics as one
        (``compile_metrics``, when ``compile`` was given metrics) and the per-output loss trackers;
        then the metrics the model holds in public attributes (``self.tracker = keras.metrics.Mean()``,
        or a list of them), which fit and evaluate reset too."""
        out = []
        if self.compiled:
            out.append(self._loss_tracker)
            if self._compile_metrics is not None:
                out.append(self._compile_metrics)
            out += self._output_loss_trackers
        metric = metrics_module.Metric
        for name, value in vars(self).items():
            if name[0] == "_":  # fit's own (above) and other internals
                continue
            if isinstance(value, (list, tuple)):  # (train_on_batch reads this every call: no work for the rest)
                out += [m for m in value if isinstance(m, metric) and all(m is not o for o in out)]
            elif isinstance(value, metric) and all(value is not o for o in out):
                out.append(value)
        return out

    @property
    def metrics_names(self) -> list:
        return [m.name for m in self.metrics]

    def _own_metrics(self) -> list:
        """The loss tracker, the compiled metrics one by one, the per-output loss trackers."""
        return [self._loss_tracker] + [m for _, m, _ in (self._metrics or [])] + self._output_loss_trackers

    def get_metrics_result(self) -> dict:
        """Each metric's current result by name, the compiled metrics' spread out, as Keras's."""
        out = {}
        for metric in self.metrics:
            result = metric.result()
            if isinstance(result, dict):
                out.update(result)
            else:
                out[metric.name] = result
        return out

    def reset_metrics(self) -> None:
        # those a subclass's ``metrics`` lists (its own trackers), and fit's own
        for m in self.metrics + self._own_metrics():
            m.reset_state()

    # ----------------------------------------------------------------- one step
    def _per_output(self, y_true, y_pred):
        """Pairs (name, y_true, y_pred) per output, matching lists or dicts of targets."""
        names = self.output_names
        if isinstance(y_pred, (list, tuple)):
            if y_true is None:  # no targets: the layers add the loss (add_loss)
                y_true = [None] * len(y_pred)
            if isinstance(y_true, dict):
                y_true = [y_true[n] for n in names]
            if not isinstance(y_true, (list, tuple)) or len(y_true) != len(y_pred):
                raise ValueError(f"The model has {len(y_pred)} outputs, so `y` must be a list of {len(y_pred)} "
                                 f"arrays (or a dict by output name {names}).")
            return [(names[i] if i < len(names) else f"output_{i}", y_true[i], y_pred[i]) for i in range(len(y_pred))]
        if isinstance(y_pred, dict):
            return [(k, y_true[k], y_pred[k]) for k in y_pred]
        return [(names[0] if names else "output", y_true, y_pred)]

    def _setup_metrics(self, pairs, y_pred=None) -> None:
        """``self._metrics``: (output index, metric, weighted) for ``metrics`` then ``weighted_metrics``,
        shared out over the outputs and named as Keras 3 does it (``per_output.py``; a weighted one
        whose name is taken becomes ``weighted_NAME``)."""
        multi = len(pairs) > 1
        names = [name for name, _, _ in pairs]
        if isinstance(y_pred, dict):  # Keras's order of the outputs: the model's, else the keys sorted
            names = list(self.output_names) if set(y_pred) == set(self.output_names) else sorted(y_pred)
        model_names = self.output_names if getattr(self, "outputs", None) else None
        out, taken = [], {}
        for weighted, specs in ((False, self._metric_specs), (True, self._weighted_metric_specs)):
            arg = "weighted_metrics" if weighted else "metrics"
            per = dict(zip(names, per_output.metric_specs(specs, names, y_pred, model_names, arg)))
            for i, (name, yt, yp) in enumerate(pairs):
                for spec in per.get(name) or []:
                    m = metrics_module.get(spec, yt, yp)
                    prefix = f"{name}_" if multi else ""
                    # a metric object compiled again keeps its own name (not the last prefixed one)
                    base = m.__dict__.setdefault("_base_name", m.name)
                    full = prefix + base
                    if full in taken:
                        full = prefix + ("weighted_" if weighted else "") + base
                        if full in taken:
                            # Keras's CompileMetrics.result: a suffixed name is not itself taken, so a
                            # later metric of that very name replaces it in the logs (as in Keras)
                            taken[full] += 1
                            full = f"{full}_{taken[full] - 1}"
                        else:
                            taken[full] = 1
                    else:
                        taken[full] = 1
                    m.name = full
                    out.append((i, m, weighted))
        self._metrics = out
        self.__dict__["_log_order"] = None
        # one tracker per output with a loss, where two or more have one (Keras logs no
        # per-output loss for loss=[None, ...] with one loss left)
        fns = self._loss_fns
        with_loss = [n for i, (n, _, _) in enumerate(pairs)
                     if (fns.get(n) if isinstance(fns, dict) else fns[i] if isinstance(fns, (list, tuple)) else fns)
                     is not None]
        self._output_loss_trackers = [metrics_module.Mean(name=f"{n}_loss") for n in with_loss] \
            if multi and len(with_loss) > 1 else []

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The loss to train on: the compiled loss (summed over outputs, weighted) plus ``self.losses``
        (what layers added with ``add_loss``, and weight regularization), a scalar tensor.

        A custom ``train_step`` calls it as Keras 3's: ``self.compute_loss(y=y, y_pred=y_pred)``.
        """
        total, parts = self._compute_loss(x, y, y_pred, sample_weight, training)
        self.__dict__["_loss_parts"] = parts  # the outputs' losses, for fit's trackers (_step_loss)
        return total

    def _compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """``compute_loss``'s total and the outputs' losses before weighting (for their trackers)."""
        fns = self._loss_fns
        if isinstance(y_pred, nerve.Tensor) and isinstance(fns, losses_module.Loss) and self._loss_weights is None:
            total = fns(y, y_pred, sample_weight) if sample_weight is not None else fns(y, y_pred)
            parts = [total]
            if self._has_regularizers or _layer_module._adds_losses[0]:
                total = self._add_model_losses(total)
            return total, parts
        if isinstance(fns, dict) and not isinstance(y_pred, dict) and getattr(self, "outputs", None) \
                and set(fns) != set(self.output_names):
            raise ValueError(f"Expected keys {self.output_names} in loss dict, but found loss.keys()={list(fns)}")
        pairs = self._per_output(y, y_pred) if fns is not None else []
        total, parts = None, []
        for i, (name, yt, yp) in enumerate(pairs):
            if isinstance(fns, dict):
                fn = fns.get(name)
            elif isinstance(fns, (list, tuple)):
                fn = fns[i]
            else:
                fn = fns
            if fn is None:
                continue
            sw = per_output.output_weight(sample_weight, i, name)
            value = fn(yt, yp, sw) if sw is not None else fn(yt, yp)
            parts.append(value)
            w = self._loss_weights
            if w is not None:
                value = value * (w[name] if isinstance(w, dict) else w[i])
            total = value if total is None else total + value
        if fns is None or self._has_regularizers or _layer_module._adds_losses[0]:
            total = self._add_model_losses(total)
        return total, parts

    def _add_model_losses(self, total):
        """``total`` plus the layers' losses (``add_loss``, regularization), each summed, as Keras's."""
        for penalty in self.losses:
            if not isinstance(penalty, nerve.Tensor):
                penalty = nerve.tensor(np.asarray(penalty, dtype="float32"), device=backend.device())
            penalty = penalty.sum() if penalty.ndim else penalty
            total = penalty if total is None else total + penalty
        if total is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        return total

    @property
    def _has_regularizers(self) -> bool:
        # fit sets _reg_flag once (walking every layer each step would cost); else walk.
        # add_loss in some call() may add losses at any step: then always look.
        flag = self.__dict__.get("_reg_flag")
        if _layer_module._adds_losses[0]:
            return True
        return flag if flag is not None else any(layer._regularizers for layer in self._all_layers())

    def _all_layers(self):
        out, stack, seen = [], [self], set()
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(layer._layers)
        return out

    def _update_metrics(self, y, y_pred, loss_value, parts, n, sample_weight=None) -> dict | None:
        metrics = self._metrics
        # Keras's metrics leave out what the output's mask masks (the padded steps of a sequence)
        masked = bool(_layer_module._masks)
        if metrics is not None and type(y_pred) is nerve.Tensor:
            # one output (every step after the first): no pairs to build
            tracker = self._loss_tracker
            tracker.total += loss_value * n
            tracker.count += n
            sw = _masked_weight(y_pred, sample_weight) if masked else sample_weight
            plain = _masked_weight(y_pred, None) if masked else None
            for _, m, weighted in metrics:
                m.update_state(y, y_pred, sw if weighted else plain)
            return None if self.__dict__.get("_defer_logs") else self._logs()
        if self._metrics is None:
            self._setup_metrics(self._per_output(y, y_pred), y_pred)
        self._loss_tracker.add_scalar(loss_value, n)
        for tracker, part in zip(self._output_loss_trackers, parts):
            tracker.add_scalar(part.item(), n)
        self._update_compiled_metrics(y, y_pred, sample_weight)
        return None if self.__dict__.get("_defer_logs") else self._logs()

    def _update_compiled_metrics(self, y, y_pred, sample_weight=None) -> None:
        """Update the compiled metrics on a batch (set up on the first): ``metrics`` without the
        sample weights, ``weighted_metrics`` with them, both without what a mask masks."""
        masked = bool(_layer_module._masks)
        pairs = [(None, y, y_pred)] if self._metrics is not None and isinstance(y_pred, nerve.Tensor) \
            else self._per_output(y, y_pred)
        if self._metrics is None:
            self._setup_metrics(pairs, y_pred)
        for i, m, weighted in self._metrics:
            name, yt, yp = pairs[i]
            sw = per_output.output_weight(sample_weight, i, name) if weighted else None
            m.update_state(yt, yp, _masked_weight(yp, sw) if masked else sw)

    def _logs(self) -> dict:
        # Keras's logs list the metrics by name: accuracy, loss, ... (History keeps that order).
        ms = self.__dict__.get("_log_order")
        if ms is None or len(ms) != 1 + len(self._metrics or []) + len(self._output_loss_trackers):
            ms = sorted(self._own_metrics(), key=lambda m: m.name)
            self.__dict__["_log_order"] = ms
        return {m.name: _log_value(m.result()) for m in ms}

    def train_step(self, data) -> dict:
        """One training step on a batch ``data = (x, y, sample_weight)``; returns the running logs.

        Override it (as in Keras 3) to customise training; ``fit`` calls it once per batch.
        (Inside ``fit``, when no callback reads a step's logs, this one returns None and fit
        reads the metrics once at the end of the epoch.)
        """
        x, y, sample_weight = _unpack(data)
        opt = self.optimizer
        opt.zero_grad()
        y_pred = self(x, training=True)
        loss, parts = self._step_loss(x, y, y_pred, sample_weight, True)
        if loss.requires_grad:
            opt.scale_loss(loss).backward()
            opt.step()
        else:  # nothing to train (an add_loss model with no weights): Keras warns and goes on
            warnings.warn("The model does not have any trainable weights.", stacklevel=2)
        # metrics count on the arrays of y_pred: no graph is built, no no_grad() needed. On a GPU
        # the loss stays a device scalar (no sync per step) until the logs are read.
        value = loss.item() if loss._device.type == "cpu" else loss._data.astype("float64")
        with nerve.no_grad():  # a metric of one's own may compute with y_pred's tensors: no graph
            return self._update_metrics(y, y_pred, value, parts, _batch_len(x), sample_weight)

    def test_step(self, data) -> dict:
        """Loss and metrics on a batch ``data = (x, y, sample_weight)``, no training."""
        x, y, sample_weight = _unpack(data)
        with nerve.no_grad():
            y_pred = self(x, training=False)
            loss, parts = self._step_loss(x, y, y_pred, sample_weight, False)
            return self._update_metrics(y, y_pred, loss.item(), parts, _batch_len(x), sample_weight)

    def _step_loss(self, x, y, y_pred, sample_weight, training):
        """The default steps' loss: a subclass's own ``compute_loss`` when it has one (``training``
        passed only where its signature takes it, as Keras), and the outputs' parts."""
        cls = type(self)
        if cls.compute_loss is Model.compute_loss:
            return self._compute_loss(x, y, y_pred, sample_weight, training)
        # the outputs' losses, where it calls Model.compute_loss (as Keras's trackers see them there)
        self.__dict__["_loss_parts"] = []
        if _takes_training(cls.compute_loss):
            total = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        else:
            total = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        return total, self.__dict__.pop("_loss_parts")

    def _custom_logs(self, logs):
        """Keras's epoch logs after a ``train_step`` / ``test_step`` of the user's: the metrics'
        results when the step's logs have just their keys (``compile_metrics`` flattened into its
        metrics' names), else the last step's logs."""
        results = {}
        for m in self.metrics:
            value = m.result()
            if isinstance(value, dict):
                results.update(value)
            else:
                results[m.name] = value
        return _pythonify_logs(results if isinstance(logs, dict) and set(logs) == set(results) else logs)

    # ----------------------------------------------------------------- fit / evaluate / predict
    def _first_x(self, data):
        """The first batch's ``x``, to build the model; a PyDataset or generator is started as Keras
        starts it (one batch taken only on the first fit / evaluate after compile)."""
        if isinstance(data, EpochIterator):
            return data.start(peek=not self.built or not self.__dict__.get("_compiled_built"))
        return data.first_x()

    def _prepare_train(self, first_x) -> None:
        self._assert_compiled()
        if not self.built:
            self._build_from_data(first_x)
        self._compiled_built = True
        self.__dict__["_reg_flag"] = None
        self.__dict__["_reg_flag"] = self._has_regularizers
        self.optimizer.build(self.trainable_weights)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns a ``History`` (loss, metrics, val_ ones per epoch).

        Args:
            x, y: NumPy arrays or nerve tensors (lists / dicts of them for several inputs or
                outputs), or ``x`` a dataset / DataLoader yielding ``(x, y)`` batches, a
                ``keras.utils.PyDataset``, or a Python generator of ``(x, y)`` tuples (each epoch
                takes its next ``steps_per_epoch`` batches).
            batch_size: examples per step (32); ignored for data already in batches.
            epochs: the epoch to stop at (counting from 0, so with ``initial_epoch`` it is an end).
            verbose: ``'auto'`` / 1 progress bar, 2 one line per epoch, 0 silent.
            callbacks: ``keras.callbacks`` objects.
            validation_split: fraction of the arrays, taken from the END before shuffling, to
                validate on.
            validation_data: ``(x_val, y_val)`` or a dataset.
            shuffle: reshuffle the arrays (or a PyDataset's batch order) each epoch.
            class_weight: ``{class: weight}`` applied to the examples' losses (arrays or a PyDataset).
            initial_epoch: epoch to start from (for resuming).
            steps_per_epoch: stop each epoch after this many batches (a PyDataset's or generator's
                next epoch goes on from there, as in Keras).
            validation_steps: batches of the validation data per validation.
        """
        self._assert_compiled()
        if class_weight is not None and data_module._is_arrays(x):
            per_output.check_sample_weight(y, sample_weight, class_weight)
            if sample_weight is not None:
                raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
        if validation_split and validation_data is None:
            if not data_module._is_arrays(x):
                raise ValueError("Argument `validation_split` is only supported for tensors or NumPy arrays."
                                 f"Found incompatible type in the input: {[type(x)]}")
            (x, y, sample_weight), validation_data = data_module.train_validation_split(
                (x, y, sample_weight), validation_split)
        if class_weight is not None and data_module._is_arrays(x):
            # (after the split, as Keras: the class weights weigh the training examples only)
            sample_weight = _class_weights(class_weight, y, sample_weight)
            class_weight = None
        train = data_module.make(x, y, sample_weight, batch_size, shuffle, steps_per_epoch, class_weight=class_weight)
        val = None

        def make_val():
            if isinstance(validation_data, (list, tuple)) and validation_data \
                    and data_module._is_arrays(validation_data[0]):
                if len(validation_data) in (2, 3):
                    vx, vy, vsw = _unpack_x_y_sample_weight(validation_data)
                    return data_module.make(vx, vy, vsw, validation_batch_size or batch_size, False,
                                            validation_steps)
                _unpack_x_y_sample_weight(validation_data)  # more than 3: Keras's error
            return data_module.make(validation_data, steps=validation_steps)

        # a generator is looked at when first validated on, as Keras; arrays are checked now
        if validation_data is not None and not _is_lazy(validation_data):
            val = make_val()
        self._prepare_train(self._first_x(train))
        self._check_input_shapes(train)
        cbs = callbacks_module.CallbackList(callbacks, model=self, add_history=True,
                                            add_progbar=_verbose(verbose) != 0, verbose=verbose, epochs=epochs,
                                            steps=train.steps)
        self.stop_training = False
        dev = backend.device()
        one_hot = self._one_hot_hint(train)
        # Nobody reads a step's logs (no per-batch callback, train_step not overridden): the
        # metrics only accumulate per step, and the logs are read once at the end of the epoch.
        custom = type(self).train_step is not Model.train_step
        defer = not custom and not cbs.wants_train_batch_logs()
        # the callbacks that act on each step (none, without a progress bar): found once
        begin_hooks, end_hooks = cbs._train_hooks("begin"), cbs._train_hooks("end")
        cbs.on_train_begin()
        logs, training_logs = {}, None
        try:
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                cbs.on_epoch_begin(epoch)
                if one_hot is not None:
                    self._loss_fns.one_hot_known = one_hot
                self.__dict__["_defer_logs"] = defer
                step = -1
                with training_mode(True):
                    for step, (xb, yb, swb) in enumerate(train):
                        if begin_hooks:
                            cbs.on_train_batch_begin(step)
                        xb = data_module.to_device(xb, dev)
                        yb = data_module.to_device(yb, dev)
                        logs = self.train_step(_pack(xb, yb, swb))
                        if custom:
                            raw, logs = logs, _pythonify_logs(logs)
                        if end_hooks:
                            cbs.on_train_batch_end(step, logs)
                        if self.stop_training:
                            break
                self.__dict__["_defer_logs"] = False
                if defer and step >= 0:
                    logs = self._logs()
                elif custom and step >= 0:
                    logs = self._custom_logs(raw)
                epoch_logs = dict(logs)
                if one_hot is not None:
                    self._loss_fns.one_hot_known = None
                if validation_data is not None and _should_validate(epoch, validation_freq):
                    if val is None:
                        val = make_val()
                    if isinstance(val, (EpochIterator, data_module._Passes)):
                        val.reset()  # Keras's evaluate starts each validation with a reset
                    val_logs = self._run_test(val, cbs)
                    epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
                    # Keras's callbacks get the keys sorted as one list ('val_loss' before 'weighted_...')
                    epoch_logs = dict(sorted(epoch_logs.items()))
                cbs.on_epoch_end(epoch, epoch_logs)
                training_logs = epoch_logs  # what on_train_end gets, as Keras: the last epoch's
                if self.stop_training:
                    break
        finally:
            self.__dict__["_defer_logs"] = False
            if one_hot is not None:
                self._loss_fns.one_hot_known = None
            for data in (train, val):
                if isinstance(data, EpochIterator):
                    data.close()
        if epochs > 0 and hasattr(self.optimizer, "finalize_variable_values"):
            self.optimizer.finalize_variable_values(self.trainable_weights)  # (use_ema: the averages)
        cbs.on_train_end(training_logs)
        return cbs.history

    def _one_hot_hint(self, train):
        """Whether the whole target array is one-hot (checked once, not per batch), or None."""
        fn = self._loss_fns
        if not isinstance(fn, losses_module.CategoricalCrossentropy) or not isinstance(train, data_module.ArrayData):
            return None
        y = train.y
        if not (isinstance(y, np.ndarray) or nerve.backend.is_array(y)) or y.ndim != 2:
            return None
        return losses_module._is_one_hot(y)

    def _check_input_shapes(self, data) -> None:
        spec = getattr(self, "_input_spec_shapes", None)
        if spec is None or not isinstance(data, data_module.ArrayData):
            return
        given = self._flat_inputs(data.x) if hasattr(self, "_flat_inputs") else flatten(data.x)
        for i, (want, arr) in enumerate(zip(spec, given)):
            # the arrays' first axis is the number of examples, not the batch size (a stateful RNN fixes that)
            self._check_shape(i, (None,) + tuple(want[1:]) if want else want, tuple(arr.shape))

    def _check_shape(self, i, want, got) -> None:
        if want is None:
            return
        ok = len(want) == len(got) and all(w is None or w == g for w, g in zip(want, got))
        if not ok:
            raise ValueError(
                f'Input {i} of layer "{self.name}" is incompatible with the layer: expected '
                f"shape={tuple(want)}, found shape={tuple(got)}"
            )

    def _run_test(self, data, cbs) -> dict:
        self.reset_metrics()
        cbs.on_test_begin()
        dev = backend.device()
        logs = raw = {}
        custom = type(self).test_step is not Model.test_step
        for step, (xb, yb, swb) in enumerate(data):
            cbs.on_test_batch_begin(step)
            xb, yb = data_module.to_device(xb, dev), data_module.to_device(yb, dev)
            logs = self.test_step(_pack(xb, yb, swb))
            if custom:
                raw, logs = logs, _pythonify_logs(logs)
            cbs.on_test_batch_end(step, logs)
        if custom and raw:
            logs = self._custom_logs(raw)
        cbs.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        """Loss and metrics over the data: a list (loss first), a scalar, or a dict with ``return_dict``."""
        self._assert_compiled()
        data = data_module.make(x, y, sample_weight, batch_size, False, steps)
        first_x = self._first_x(data)
        if not self.built:
            self._build_from_data(first_x)
        self._compiled_built = True
        self._check_input_shapes(data)
        verbose = _verbose(verbose)
        cbs = callbacks_module.CallbackList(callbacks, model=self, add_progbar=verbose != 0, verbose=verbose,
                                            epochs=1, steps=data.steps)
        try:
            logs = self._run_test(data, cbs)
        finally:
            if isinstance(data, EpochIterator):
                data.close()
        if not logs:
            raise ValueError("Expected at least one batch of data to evaluate on.")
        return logs if return_dict else self._ordered(logs)

    def _ordered(self, logs):
        # Keras's order: the loss, the compiled metrics, the outputs' losses (in output order), the
        # rest sorted; with several outputs the metrics' names carry the outputs' (Keras's list of
        # names does not), so they come sorted after the losses
        if self._output_loss_trackers:
            names = [m.name for m in [self._loss_tracker] + self._output_loss_trackers]
        else:
            # (Keras lists a compiled metric by its own name: a weighted metric renamed weighted_NAME in
            # the logs is listed as NAME, so NAME's value comes twice and weighted_NAME's with the rest)
            names = [n for m in self.metrics
                     for n in ([s.__dict__.get("_base_name", s.name) for s in m.metrics]
                               if isinstance(m, CompileMetrics) else [m.name])]
        out = [logs[n] for n in names if n in logs] + [logs[k] for k in sorted(logs) if k not in names]
        return out[0] if len(out) == 1 else out

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for ``x`` as NumPy arrays, computed batch by batch (inference mode)."""
        data = data_module.make(x, None, None, batch_size, False, steps)
        verbose = _verbose(verbose)
        cbs = callbacks_module.CallbackList(callbacks, model=self, add_progbar=verbose != 0, verbose=verbose,
                                            epochs=1, steps=data.steps)
        dev = backend.device()
        lazy = isinstance(data, EpochIterator)  # a PyDataset or generator: built on its first batch, in the loop
        if not self.built and not lazy:
            self._build_from_data(data.first_x())
        self._check_input_shapes(data)
        outs = []
        cbs.on_predict_begin()
        try:
            with nerve.no_grad(), training_mode(False):
                for step, (xb, _, _) in enumerate(data):
                    cbs.on_predict_batch_begin(step)
                    xb = data_module.to_device(xb, dev)
                    if not self.built:
                        self._build_from_data(xb)
                    y = self(xb, training=False)
                    outs.append(map_structure(_host, y))
                    cbs.on_predict_batch_end(step, {"outputs": y})
        finally:
            if lazy:
                data.close()
        cbs.on_predict_end()
        if not outs:
            raise ValueError("Expected at least one batch of data to predict on.")
        first = outs[0]
        if isinstance(first, (list, tuple)):
            return [np.concatenate([o[i] for o in outs]) for i in range(len(first))]
        if isinstance(first, dict):
            return {k: np.concatenate([o[k] for o in outs]) for k in first}
        return np.concatenate(outs)

    def _one_batch(self, x, y, sample_weight):
        dev = backend.device()
        xb = data_module.to_device(map_structure(data_module._raw, x), dev)
        yb = None if y is None else data_module.to_device(map_structure(data_module._raw, y), dev)
        return xb, yb, sample_weight

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on this batch; returns the loss and metrics on it."""
        self._prepare_train(x)
        xb, yb, sw = self._one_batch(x, y, sample_weight)
        self.reset_metrics()
        with training_mode(True):
            logs = self.train_step(_pack(xb, yb, sw))
        if type(self).train_step is not Model.train_step:
            logs = _pythonify_logs(logs)
        return logs if return_dict else self._ordered(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss and metrics on this batch, without training."""
        self._assert_compiled()
        if not self.built:
            self._build_from_data(x)
        self._compiled_built = True
        xb, yb, sw = self._one_batch(x, y, sample_weight)
        self.reset_metrics()
        logs = self.test_step(_pack(xb, yb, sw))
        if type(self).test_step is not Model.test_step:
            logs = _pythonify_logs(logs)
        return logs if return_dict else self._ordered(logs)

    def predict_on_batch(self, x):
        """The outputs for this one batch, as NumPy."""
        xb, _, _ = self._one_batch(x, None, None)
        with nerve.no_grad(), training_mode(False):
            y = self(xb, training=False)
        return map_structure(_host, y)

    # ----------------------------------------------------------------- saving
    def save(self, filepath, overwrite=True, zipped=None, **kwargs) -> None:
        """Save architecture, weights and compile settings to ``model.keras``: Keras 3's zip with h5py
        installed (Keras's ``load_model`` reads it), else nerve's own safe file."""
        from .. import saving

        saving.save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True) -> None:
        """Save the weights: Keras 3's ``.weights.h5`` with h5py installed, else nerve's safetensors
        under that name (``load_weights`` reads both)."""
        from .. import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs) -> None:
        from .. import saving

        saving.load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def to_json(self, **kwargs) -> str:
        """The architecture as a JSON string (``keras.models.model_from_json`` reads it back);
        ``kwargs`` go to ``json.dumps``."""
        import json

        from ..saving import serialize_keras_object

        return json.dumps(serialize_keras_object(self), **kwargs)

    def get_compile_config(self) -> dict | None:
        if not self.compiled:
            return None
        loss = self._loss_fns
        return {
            "optimizer": optimizers_module.serialize(self.optimizer),
            "loss": map_structure(losses_module.serialize, loss) if loss is not None else None,
            "loss_weights": self._loss_weights,
            "metrics": map_structure(_metric_config, self._metric_specs) if self._metric_specs else None,
            "weighted_metrics": map_structure(_metric_config, self._weighted_metric_specs)
            if self._weighted_metric_specs else None,
        }

    def compile_from_config(self, config) -> None:
        loss = config.get("loss")
        self.compile(
            optimizer=optimizers_module.get(config["optimizer"]),
            loss=map_structure(losses_module.to_loss, loss) if isinstance(loss, list) else
            ({k: losses_module.to_loss(v) for k, v in loss.items()} if isinstance(loss, dict) and "class_name" not in loss
             else losses_module.to_loss(loss)),
            loss_weights=config.get("loss_weights"),
            metrics=_metrics_from_config(config.get("metrics")),
            weighted_metrics=_metrics_from_config(config.get("weighted_metrics")),
        )

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A model from its config: a functional model's (layers and their wiring) or, for a
        subclassed model, ``cls(**config)``."""
        from .functional import Functional

        if issubclass(Functional, cls) and "input_layers" in config and "layers" in config:
            from ..saving import deserialize

            return deserialize("Functional", config, custom_objects)
        return cls(**config)

    def get_config(self) -> dict:
        config = dict(self.__dict__.get("_init_args") or {})
        config.update(name=self.name, trainable=self.trainable)
        return config


def _metric_config(spec):
    if isinstance(spec, str):
        return spec
    if isinstance(spec, metrics_module.Metric):
        return {"class_name": type(spec).__name__, "config": spec.get_config()}
    raise TypeError(f"cannot save the custom metric {spec!r}")


def _metrics_from_config(specs):
    """``compile``'s metrics as ``_metric_config`` saved them: each ``{class_name, config}`` a Metric
    again (a list per output and a dict by output name kept as they were)."""
    if isinstance(specs, dict) and "class_name" in specs and "config" in specs:
        return metrics_module.get(specs)
    if isinstance(specs, dict):
        return {k: _metrics_from_config(v) for k, v in specs.items()}
    if isinstance(specs, (list, tuple)):
        return [_metrics_from_config(v) for v in specs]
    return specs


def _masked_weight(y_pred, sample_weight):
    """The metrics' sample weights with the mask on ``y_pred`` (Keras's apply_mask, reduction 'sum')."""
    mask = _layer_module.get_keras_mask(y_pred) if isinstance(y_pred, nerve.Tensor) else None
    if mask is None:
        return sample_weight
    m = mask.to(y_pred.dtype)
    if sample_weight is None:
        return m
    from ..losses import _as_tensor, _same_rank

    m, w = _same_rank(m, _as_tensor(sample_weight, m).to(m.dtype))
    return w * m


@functools.lru_cache(maxsize=64)  # bounded: it holds the functions (classes made in a loop)
def _takes_training(compute_loss) -> bool:
    """Whether a ``compute_loss`` takes ``training`` (read once per function: a signature costs ~10 us)."""
    return "training" in inspect.signature(compute_loss).parameters


def _pythonify_logs(logs):
    """Logs as Keras's callbacks and History get them: nested dicts (``compile_metrics``) flattened
    into the keys' sorted order, tensors and NumPy scalars as Python floats."""
    if not isinstance(logs, dict):
        return logs
    out = {}
    for key, value in sorted(logs.items()):
        if isinstance(value, dict):
            out.update(_pythonify_logs(value))
        else:
            out[key] = _log_value(value)
    return out


def _log_value(value):
    """A metric's result as the logs hold it: a Python float (Keras's pythonify_logs), or, where it
    is not one number (a result per threshold or per class), a NumPy array."""
    if type(value) is float:
        return value
    from ..variables import Variable

    if isinstance(value, Variable):
        value = value.value
    try:
        return float(value)  # a one-element tensor copies its number from the device
    except (TypeError, ValueError, RuntimeError):
        # several numbers (per threshold, per class): a NumPy array, as Keras's logs hold them
        return value.numpy() if isinstance(value, nerve.Tensor) else value


def _host(t) -> np.ndarray:
    """A NumPy array of a tensor's values, copied from the GPU when it lives there."""
    return nerve.backend.to_numpy(t._data)


def _should_validate(epoch: int, validation_freq) -> bool:
    """Whether to validate after ``epoch`` (from 0): every ``validation_freq`` epochs, or after the
    epochs (from 1) listed in it, as Keras."""
    if isinstance(validation_freq, int):
        return (epoch + 1) % validation_freq == 0
    if isinstance(validation_freq, list):
        return epoch + 1 in validation_freq
    raise ValueError("Expected `validation_freq` to be a list or int. Received: "
                     f"validation_freq={validation_freq} of the type {type(validation_freq)}.")


def _is_lazy(data) -> bool:
    """Validation data that Keras first looks at when it first validates: a generator."""
    return epoch_iterator_module.is_one_shot(data)


def _unpack(data):
    if type(data) is tuple and len(data) == 2:  # what fit passes
        return data[0], data[1], None
    if isinstance(data, (list, tuple)):
        if len(data) == 1:
            return data[0], None, None
        if len(data) == 3:
            return data[0], data[1], data[2]
        if len(data) == 2:
            return data[0], data[1], None
    return data, None, None


def _class_weights(class_weight, y, sample_weight):
    """Per-example weights from ``{class: weight}`` (integer or one-hot labels, one output)."""
    if y is None or isinstance(y, (list, tuple, dict)) or not data_module.is_array(y):
        raise ValueError("`class_weight` is only supported for a single output given as an array `y`.")
    labels = _host(y) if isinstance(y, nerve.Tensor) else np.asarray(nerve.backend.to_numpy(data_module._raw(y)))
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1).astype("int64")
    table = np.ones(int(max(max(class_weight), labels.max())) + 1, dtype="float32")
    for k, v in class_weight.items():
        table[int(k)] = v
    weights = table[labels]
    return weights if sample_weight is None else weights * np.asarray(sample_weight, dtype="float32")


def _batch_len(x) -> int:
    if type(x) is nerve.Tensor:
        return x._data.shape[0]
    leaf = x if isinstance(x, nerve.Tensor) else flatten(x)[0]
    return int(leaf.shape[0])
