"""``Layer``, the symbolic ``KerasTensor`` and ``Node``, and ``InputLayer`` / ``Input``.

A layer creates its weights in ``build(input_shape)`` the first time it is called, then
``call()`` maps its inputs with nerve's functional ops. Called on a ``KerasTensor`` (the
functional API), a layer builds itself from the symbolic shape, runs ``call`` once on a
one-example batch of zeros to learn its output shape, and records a ``Node`` so that a
``keras.Model(inputs, outputs)`` can replay the graph.

Masks are Keras's: a layer's ``compute_mask`` attaches a boolean (batch, timesteps) mask to its
output tensor (``get_keras_mask`` reads it), the next layer gets it as ``call(..., mask=...)``
when its ``call`` takes one, and passes it on when it ``supports_masking``. Sequential and
functional models need nothing more: the masks travel with the tensors they replay.
"""

from __future__ import annotations

import collections
import functools
import inspect
import math
import warnings
import weakref

import numpy as np

import nerve
from nerve.autograd import zero_grads
from nerve.dtypes import to_dtype
from nerve.tensor import Tensor

from .. import backend
from ..variables import Variable

_training_stack = [False]
_call_depth = [0]  # how many Layer.__call__ are running: 0 outside any, 1 in the outermost
_adds_losses = [False]  # set by the first add_loss: only then do outermost calls clear losses
_symbolic_depth = [0]  # > 0 while a layer runs on dummy inputs to learn its output shapes
_F32 = np.dtype(np.float32)
_OPEN_SIZES = (40, 43)  # the dummy lengths of the dims an Input leaves open (see _symbolic_call)
_UNTRACKED = {"_layers", "_parent_model", "_input_layer", "_graph_input", "_auto_input"}


class training_mode:
    """Context manager that sets the ``training`` flag layers see when none is passed."""

    def __init__(self, training: bool):
        self.training = bool(training)

    def __enter__(self):
        _training_stack.append(self.training)

    def __exit__(self, *exc):
        _training_stack.pop()


def in_training() -> bool:
    return _training_stack[-1]


def in_symbolic_call() -> bool:
    """Whether layers are running on dummy inputs (shape inference), not on data."""
    return _symbolic_depth[0] > 0


class _symbolic:
    def __enter__(self):
        _symbolic_depth[0] += 1

    def __exit__(self, *exc):
        _symbolic_depth[0] -= 1


# -- Keras masks: a boolean (batch, timesteps) tensor that rides along with a layer's output --
# Keras sets ``tensor._keras_mask``; nerve's tensors have slots, so the masks live here, keyed
# by the tensor's id and dropped when the tensor dies (a weak reference's callback).
_masks: dict = {}


def get_keras_mask(x):
    """The mask a layer attached to ``x`` (Embedding(mask_zero=True), Masking, ...), or None."""
    if isinstance(x, KerasTensor):
        return getattr(x, "_keras_mask", None)
    entry = _masks.get(id(x))
    if entry is not None and entry[0]() is x:
        return entry[1]
    return None


def set_keras_mask(x, mask) -> None:
    """Attach ``mask`` to the tensor ``x`` (None removes it)."""
    if isinstance(x, KerasTensor):
        x._keras_mask = mask
        return
    if not isinstance(x, Tensor):
        return
    key = id(x)
    if mask is None:
        _masks.pop(key, None)
        return

    def drop(ref, key=key):
        entry = _masks.get(key)
        if entry is not None and entry[0] is ref:
            del _masks[key]

    _masks[key] = (weakref.ref(x, drop), mask)


def as_mask(mask):
    """A mask given as a tensor, an array or a list, as a boolean nerve tensor (None stays None)."""
    if mask is None or (isinstance(mask, Tensor) and mask.dtype is nerve.bool):
        return mask
    if isinstance(mask, Tensor):
        return mask != 0 if not mask.is_floating_point() else mask > 0.5
    arr = np.asarray(nerve.backend.to_numpy(mask) if nerve.backend.is_array(mask) else mask)
    arr = arr.astype(bool) if arr.dtype.kind in "biu" else arr > 0.5
    return Tensor._make(nerve.backend.move(arr, backend.device()), backend.device())


class KerasTensor:
    """A symbolic tensor of the functional API: a shape (batch dim ``None``) and a dtype."""

    def __init__(self, shape, dtype="float32", name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = backend.standardize_dtype(dtype)
        self.name = name or backend.unique_name("keras_tensor")
        self._keras_history = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse=False, ragged=False, name={self.name}>"


def flatten(structure) -> list:
    """The leaves of a nested list / tuple / dict, in order (dicts by key)."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    return [structure]


def map_structure(fn, structure):
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(fn, s) for s in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    return fn(structure)


def pack_as(structure, flat: list):
    """Rebuild ``structure``'s nesting from the flat list of leaves."""
    it = iter(flat)
    return map_structure(lambda _: next(it), structure)


class Node:
    """One call of a layer in a functional graph: its input and output KerasTensors.

    Symbolic tensors among the other positional arguments (``layer(targets, logits)``) and the
    keyword arguments (``initial_state=[h, c]``, ``mask=m``) are inputs of the node too: the graph
    orders and replays them as the first one.
    """

    def __init__(self, layer, call_inputs, outputs, call_kwargs=None, call_args=()):
        self.layer = layer
        self.call_inputs = call_inputs
        self.call_args = tuple(call_args)  # positional arguments after the first (``layer(a, b)``)
        self.call_kwargs = call_kwargs or {}
        self.input_tensors = [t for t in flatten(call_inputs) + flatten(list(self.call_args)) + flatten(self.call_kwargs)
                              if isinstance(t, KerasTensor)]
        self.outputs = outputs
        self.output_tensors = flatten(outputs)
        layer._inbound_nodes.append(self)
        index = len(layer._inbound_nodes) - 1
        for i, t in enumerate(self.output_tensors):
            t._keras_history = (layer, index, i)

    @property
    def parent_nodes(self) -> list:
        out = []
        for t in self.input_tensors:
            layer, index, _ = t._keras_history
            out.append(layer._inbound_nodes[index])
        return out


def _jsonable(value):
    from .. import activations, constraints, initializers, regularizers

    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, initializers.Initializer):
        return initializers.serialize(value)
    if isinstance(value, regularizers.Regularizer):
        return regularizers.serialize(value)
    if isinstance(value, constraints.Constraint):
        return constraints.serialize(value)
    if isinstance(value, Layer):  # a layer given to a layer: Keras's serialized dict of it
        from ..saving import serialize_keras_object

        return serialize_keras_object(value)
    if callable(value):
        return activations.serialize(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot save the layer argument {value!r}")


class Layer:
    """Base class of Keras layers: lazily built weights, ``call()``, ``trainable``, configs.

    Args:
        trainable: whether fit updates this layer's weights.
        name: a unique name; ``dense``, ``dense_1``, ... by default.
        dtype: the weights' dtype (``float32``).
        input_shape: the shape of one example (no batch dim); lets a Sequential build at once.
    """

    _int_inputs = False  # Embedding takes integer ids; every other layer gets floats
    # Keras's masking: a layer that supports it passes its input's mask on to its output
    # (compute_mask's default), or computes a new one; one that does not drops it, with a warning.
    supports_masking = False
    activity_regularizer = None  # Keras's: a penalty on the outputs, added to ``losses`` on each call

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        params = inspect.signature(cls.call).parameters
        cls._call_has_training = "training" in params
        cls._call_has_mask = "mask" in params
        # a layer whose compute_mask is its own may make a mask from no mask (Embedding, Masking)
        cls._mask_source = cls.compute_mask is not Layer.compute_mask
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            # As Keras's: a layer built by hand (``layer.build(shape)``) is built, and its first call
            # uses those weights instead of building new ones.
            @functools.wraps(build)
            def build_then_mark(self, *args, **kw):
                build(self, *args, **kw)
                self.built = True
                if self.__dict__.get("_build_shape") is None and len(args) == 1 and not kw:
                    self._build_shape = args[0]  # for get_build_config, as _maybe_build records it

            build_then_mark._marks_built = True
            cls.build = build_then_mark
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        sig = inspect.signature(init)

        @functools.wraps(init)
        def wrapped(self, *args, **kw):
            if "_init_args" not in self.__dict__:
                # Remember the outermost constructor's arguments: they are the layer's config.
                object.__setattr__(self, "_init_args", None)
                try:
                    bound = sig.bind(self, *args, **kw)
                    params = dict(bound.arguments)
                    params.pop(next(iter(sig.parameters)))
                    for p in sig.parameters.values():
                        if p.kind is inspect.Parameter.VAR_KEYWORD and p.name in params:
                            params.update(params.pop(p.name))
                        elif p.kind is inspect.Parameter.VAR_POSITIONAL:
                            params.pop(p.name, None)
                    object.__setattr__(self, "_init_args", params)
                except TypeError:
                    pass
            init(self, *args, **kw)

        cls.__init__ = wrapped

    def __init__(self, *, trainable=True, name=None, dtype=None, input_shape=None, input_dim=None,
                 batch_input_shape=None, batch_size=None, autocast=True, activity_regularizer=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        if activity_regularizer is not None:
            from .. import regularizers

            self.activity_regularizer = regularizers.get(activity_regularizer)
        self.__dict__.setdefault("_layers", [])
        self.name = name or backend.unique_name(backend.snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.built = False
        self._trainable_variables: list = []
        self._non_trainable_variables: list = []
        self._inbound_nodes: list = []
        self._regularizers: list = []
        self._losses: list = []
        self.dtype = backend.standardize_dtype(dtype)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            self._batch_input_shape = (batch_size,) + tuple(input_shape)
        else:
            self._batch_input_shape = None
        self._build_shape = None

    # -- tracking of sublayers and variables (as Keras does on attribute assignment) --
    def __setattr__(self, name, value):
        if not name.startswith("__"):
            layers = self.__dict__.setdefault("_layers", [])
            items = value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if isinstance(item, Layer) and item is not self and all(item is not x for x in layers):
                    if name not in _UNTRACKED:
                        layers.append(item)
                elif isinstance(item, Variable) and "_trainable_variables" in self.__dict__:
                    self._track_variable(item)
        object.__setattr__(self, name, value)

    def _track_variable(self, var) -> None:
        """A ``keras.Variable`` set as an attribute is one of the layer's weights, as in Keras."""
        if any(var is v for v in self._trainable_variables + self._non_trainable_variables):
            return
        (self._trainable_variables if var.trainable else self._non_trainable_variables).append(var)
        if var.path == var.name:
            var.path = f"{self.name}/{var.name}"

    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, name=None,
                   regularizer=None, constraint=None, perm=None, **kwargs) -> Variable:
        """Create a weight of this layer (``glorot_uniform`` unless told; zeros for ints).

        ``perm`` (nerve's addition) stores the parameter as ``value.transpose(perm)``, the layout
        the core's op takes, while the Variable keeps speaking Keras's ``shape``.
        """
        dtype = backend.standardize_dtype(dtype or self.dtype)
        if initializer is None:
            initializer = "glorot_uniform" if backend.is_float_dtype(dtype) else "zeros"
        if shape is not None and any(d is None for d in shape):
            raise ValueError("Shapes used to initialize variables must be fully-defined (no `None` dimensions). "
                             f"Received: shape={tuple(shape)} for variable path='{self.name}/{name}'")
        shape = () if shape is None else tuple(int(d) for d in shape)
        var = Variable(initializer, shape, dtype, trainable=trainable and self._trainable,
                       name=name or backend.unique_name("variable"), perm=perm)
        var._trainable = trainable
        var.value.requires_grad = trainable and self._trainable and backend.is_float_dtype(dtype)
        var.path = f"{self.name}/{var.name}"
        if constraint is not None:
            from .. import constraints

            var.constraint = constraints.get(constraint)
        (self._trainable_variables if trainable else self._non_trainable_variables).append(var)
        if regularizer is not None:
            from .. import regularizers

            self._regularizers.append((var, regularizers.get(regularizer)))
        return var

    # -- weights --
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for v in self._trainable_variables:
            v.value.requires_grad = self._trainable
        for layer in self._layers:
            layer.trainable = value

    @property
    def layers(self) -> list:
        return list(self._layers)

    def _flatten_layers(self):
        seen, out = set(), []
        stack = list(self._layers)
        while stack:
            layer = stack.pop(0)
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
        return out

    @property
    def weights(self) -> list:
        out = self._trainable_variables + self._non_trainable_variables
        for layer in self._layers:
            out += layer.weights
        return _unique(out)

    variables = weights

    @property
    def trainable_weights(self) -> list:
        if not self._trainable:
            return []
        out = list(self._trainable_variables)
        for layer in self._layers:
            out += layer.trainable_weights
        return _unique(out)

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self) -> list:
        if not self._trainable:
            return self.weights
        out = list(self._non_trainable_variables)
        for layer in self._layers:
            out += layer.non_trainable_weights
        return _unique(out)

    non_trainable_variables = non_trainable_weights

    def parameters(self):
        """The weights as nerve parameters, for a hand-written nerve.optim loop (as a Keras layer on
        PyTorch, a ``torch.nn.Module``, lists them: non-trainable ones too, without gradients)."""
        return [v.value for v in self.weights]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the weights' gradients before a backward pass (``torch.nn.Module.zero_grad``)."""
        zero_grads(self.parameters(), set_to_none)

    @property
    def losses(self) -> list:
        """The scalar losses of the last call: ``add_loss``'s (this layer's, then its sublayers'),
        then the regularization penalties of the weights (nerve scalars)."""
        sublayers = _all_sublayers(self)
        out = [loss for layer in [self] + sublayers for loss in layer.__dict__.get("_losses", ())]
        return out + self._penalties()

    def _penalties(self) -> list:
        if not self._trainable:  # as Keras: the penalties of the trainable weights (a frozen layer has none)
            return []
        out = [reg(var.value) for var, reg in self._regularizers if var.trainable]
        for layer in self._layers:
            out += layer._penalties()
        return out

    def add_loss(self, loss) -> None:
        """Add a scalar loss tensor (or a list of them) from ``call()``, as Keras's ``add_loss``.

        ``layer.losses`` holds it until the outermost layer is called again, and ``fit`` adds it
        to the compiled loss (or minimizes it alone when ``compile`` was given no loss)."""
        if in_symbolic_call():
            return  # shape inference runs call() on dummy inputs: no loss of theirs is real
        losses = flatten(loss)
        for x in losses:
            if not isinstance(x, Tensor):
                raise ValueError("`add_loss()` can only be called from inside `build()` or `call()`, on a tensor "
                                 f"input. Received invalid value: {x}")
        self.__dict__.setdefault("_losses", []).extend(losses)
        _adds_losses[0] = True

    def _clear_losses(self) -> None:
        for layer in [self] + _all_sublayers(self):
            if layer.__dict__.get("_losses"):
                layer._losses.clear()

    def get_weights(self) -> list:
        """The weights as NumPy arrays, in Keras's layouts (a Conv2D kernel is (kh, kw, in, out))."""
        return [v.numpy() for v in self.weights]

    def set_weights(self, weights) -> None:
        """Load NumPy arrays (as ``get_weights`` returns them) into the weights, in place."""
        params = self.weights
        if len(params) != len(weights):
            raise ValueError(
                f"You called `set_weights(weights)` on layer '{self.name}' with a weight list of "
                f"length {len(weights)}, but the layer was expecting {len(params)} weights."
            )
        for var, w in zip(params, weights):
            w = np.asarray(w)
            if tuple(w.shape) != var.shape:
                raise ValueError(
                    f"Layer {self.name} weight shape {var.shape} is not compatible with provided "
                    f"weight shape {tuple(w.shape)}."
                )
        for var, w in zip(params, weights):
            var.assign(w)

    def count_params(self) -> int:
        """The number of scalars in the weights; the layer must be built."""
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the layer isn't "
                "built. You can build it manually via: `layer.build(input_shape)`."
            )
        return int(sum(math.prod(v.shape) for v in self.weights))

    # -- building and calling --
    def build(self, input_shape) -> None:
        """Create the weights for inputs of ``input_shape`` (batch dim included)."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        raise NotImplementedError(f"Layer {type(self).__name__} does not have a `call()` method implemented.")

    def _maybe_build(self, shapes) -> None:
        if not self.built:
            self._build_shape = shapes
            self.build(shapes)
            self.built = True

    def _convert(self, x):
        """Inputs as nerve tensors of the dtype this layer computes in (float32, or int ids)."""
        if isinstance(x, Tensor):
            t = x
        elif isinstance(x, Variable):
            return x.value
        else:
            arr = np.asarray(x)
            t = Tensor._make(nerve.backend.move(arr, backend.device()), backend.device())
        dt = t.dtype
        if self._int_inputs:
            return t if not dt.is_floating_point else t.long()
        if dt is not nerve.float32 and (not dt.is_floating_point or self.dtype == "float32"):
            return t.to(to_dtype(self.dtype))
        return t

    def __call__(self, *args, **kwargs):
        # As Keras, the outermost call starts with no losses: ``losses`` are those of the last pass.
        if _adds_losses[0] and _call_depth[0] == 0:
            self._clear_losses()
        _call_depth[0] += 1
        try:  # the call's body in place (no second frame: every layer of every step comes here)
            if args:
                inputs, args = args[0], args[1:]
            else:
                inputs = kwargs.pop("inputs")
            if type(inputs) is Tensor and self.built and not _masks and not self._mask_source and "mask" not in kwargs:
                # The hot path (every layer of every training step): one tensor in, weights built, no masks.
                dt = inputs._data.dtype
                if (dt is not _F32 and dt != _F32) or self._int_inputs:
                    inputs = self._convert(inputs)
                if self._call_has_training:
                    if kwargs.get("training") is None:
                        kwargs["training"] = _training_stack[-1]
                elif "training" in kwargs:
                    del kwargs["training"]
                if self.activity_regularizer is None:
                    return self.call(inputs, *args, **kwargs)
                return self._add_activity_losses(self.call(inputs, *args, **kwargs))
            leaves = flatten(inputs)
            if any(isinstance(t, KerasTensor) for t in leaves):
                return self._symbolic_call(inputs, args, kwargs)
            # the masks the inputs carry (read before converting: a cast makes a new tensor)
            masks = map_structure(get_keras_mask, inputs) if _masks else None
            inputs = map_structure(lambda t: self._convert(t) if t is not None else None, inputs)
            if not self.built:
                self._maybe_build(map_structure(lambda t: tuple(t.shape), inputs))
            if self._call_has_training and kwargs.get("training") is None:
                kwargs["training"] = _training_stack[-1]
            elif not self._call_has_training:
                kwargs.pop("training", None)
            outputs = self._call_with_masks(inputs, masks, args, kwargs)
            if self.activity_regularizer is not None:
                self._add_activity_losses(outputs)
            return outputs
        finally:
            _call_depth[0] -= 1

    def _add_activity_losses(self, outputs):
        """As Keras's ``__call__``: ``activity_regularizer(output)`` per output tensor, divided by its
        batch size, goes to ``losses`` (so ``fit`` adds it to the loss)."""
        for out in flatten(outputs):
            if isinstance(out, Tensor):
                loss = self.activity_regularizer(out)
                if out.ndim > 0 and out.shape[0]:
                    loss = loss / out.shape[0]
                self.add_loss(loss)
        return outputs

    def _call_with_masks(self, inputs, masks, args, kwargs):
        """``call`` with Keras's mask handling: the inputs' masks go to ``call(mask=...)`` when it
        takes one, and ``compute_mask`` attaches the output's mask."""
        explicit = kwargs.pop("mask", None)
        previous = explicit if explicit is not None else masks
        if previous is not None and all(m is None for m in flatten(previous)):
            previous = None
        if previous is not None:
            previous = map_structure(as_mask, previous)
        if self._call_has_mask:
            kwargs["mask"] = previous
        outputs = self.call(inputs, *args, **kwargs)
        if self.supports_masking or self._mask_source:
            self._set_mask_metadata(inputs, outputs, previous)
        if previous is not None and not self.supports_masking and not self.__dict__.get("_warned_mask"):
            self.__dict__["_warned_mask"] = True
            warnings.warn(
                f"Layer '{self.name}' (of type {type(self).__name__}) was passed an input with a mask attached to "
                "it. However, this layer does not support masking and will therefore destroy the mask "
                "information. Downstream layers will not see the mask.", stacklevel=3)
        return outputs

    def _set_mask_metadata(self, inputs, outputs, previous) -> None:
        flat = flatten(outputs)
        if all(get_keras_mask(t) is not None for t in flat):
            return  # call attached them itself (Masking)
        out_masks = self.compute_mask(inputs, previous)
        if out_masks is None:
            return
        for t, m in zip(flat, flatten(out_masks)):
            if m is not None and get_keras_mask(t) is None:
                set_keras_mask(t, m)

    def compute_mask(self, inputs, mask=None):
        """The output's mask: the input's, unchanged, by default (for layers that support masking)."""
        return mask if self.supports_masking else None

    def compute_output_shape(self, input_shape):
        """Output shape(s) for ``input_shape``: by default, ``call`` runs once on zeros."""
        def zeros(shape, dtype):
            dims = tuple(1 if d is None else d for d in shape)
            arr = np.zeros(dims, dtype=np.dtype(dtype))
            return Tensor._make(nerve.backend.move(arr, backend.device()), backend.device())

        first = next(iter(flatten_shapes(input_shape)), None)
        return self._dummy_shapes(map_shapes(lambda s: zeros(s, self.dtype), input_shape),
                                  first[0] if first else None)

    def _dummy_shapes(self, dummy, batch=None):
        kwargs = {"training": False} if self._call_has_training else {}
        with nerve.no_grad(), _symbolic():
            out = self.call(dummy, **kwargs)
        return map_structure(lambda t: (batch,) + tuple(t.shape[1:]), out)

    def _symbolic_call(self, inputs, args, kwargs):
        # A size the inputs leave open (None past the batch dim: ``Input((None,))`` for sequences of
        # any length) gets a dummy length; the call runs at two such lengths, and the output dims
        # that differ between the runs are open (None) too, as Keras's shape inference gives them.
        leaves = flatten(inputs) + flatten(list(args)) + flatten(kwargs)
        sizes = _OPEN_SIZES if any(isinstance(t, KerasTensor) and None in t.shape[1:] for t in leaves) else (1,)

        def dummy(kt, size):
            if not isinstance(kt, KerasTensor):
                return kt
            dims = tuple((size if i else 1) if d is None else d for i, d in enumerate(kt.shape))
            arr = np.zeros(dims, dtype=np.dtype(kt.dtype))
            return self._convert(Tensor._make(nerve.backend.move(arr, backend.device()), backend.device()))

        self._maybe_build(map_structure(lambda kt: kt.shape if isinstance(kt, KerasTensor) else kt, inputs))
        call_kwargs = dict(kwargs)
        if self._call_has_training:
            call_kwargs["training"] = False
        else:
            call_kwargs.pop("training", None)
        if not self._call_has_mask:
            call_kwargs.pop("mask", None)
        runs = []
        for size in sizes:
            with nerve.no_grad(), training_mode(False), _symbolic():
                runs.append(self.call(map_structure(lambda kt: dummy(kt, size), inputs),
                                      *map_structure(lambda kt: dummy(kt, size), list(args)),
                                      **map_structure(lambda kt: dummy(kt, size), call_kwargs)))
        out = runs[0]
        batch_unknown = any(isinstance(t, KerasTensor) and t.shape and t.shape[0] is None for t in leaves)
        specs = {}
        for t, other in zip(flatten(out), flatten(runs[-1])):
            shape = tuple(d if d == e else None for d, e in zip(t.shape, other.shape))
            if batch_unknown and shape:
                shape = (None,) + shape[1:]
            specs[id(t)] = KerasTensor(shape, backend.standardize_dtype(t.dtype))

        outputs = map_structure(lambda t: specs[id(t)], out)
        kwargs = {k: v for k, v in kwargs.items() if k != "training"}
        Node(self, inputs, outputs, kwargs, args)
        return outputs

    # -- the graph-facing properties --
    @property
    def input(self):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name} has never been called and thus has no defined input.")
        return self._inbound_nodes[0].call_inputs

    @property
    def output(self):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name} has never been called and thus has no defined output.")
        return self._inbound_nodes[0].outputs

    @property
    def output_shape(self):
        return map_structure(lambda t: t.shape, self.output)

    # -- configs (saving) --
    _config_skip = ()  # constructor arguments a subclass's get_config writes itself (wrapped layers)

    def get_config(self) -> dict:
        """The constructor arguments, JSON-ready, so ``from_config`` rebuilds the layer.

        As Keras's: a layer class of the user's own, made straight from ``Layer``, whose
        ``get_config`` calls this one gets only ``name`` and ``trainable`` (its override lists
        its arguments itself)."""
        if _user_writes_config(type(self)):
            return {"name": self.name, "trainable": self.trainable}
        config = {k: v for k, v in (self.__dict__.get("_init_args") or {}).items() if k not in self._config_skip}
        for k, v in config.items():
            if isinstance(v, str) and k.endswith("_constraint"):  # Keras's: the object's config, not its name
                from .. import constraints

                config[k] = constraints.get(v)
        config["name"] = self.name
        config["trainable"] = self.trainable
        if self._batch_input_shape is not None:
            config.pop("input_shape", None)
            config.pop("input_dim", None)
            config["batch_input_shape"] = list(self._batch_input_shape)
        return {k: _jsonable(v) for k, v in config.items()}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    # -- what a saved file holds beyond the config (Keras's hooks; a subclass may override them) --
    def save_own_variables(self, store) -> None:
        """Put this layer's own weights (not its sublayers') into ``store`` as ``"0"``, ``"1"``, ..."""
        for i, var in enumerate(self._trainable_variables + self._non_trainable_variables):
            store[str(i)] = var.numpy()

    def load_own_variables(self, store) -> None:
        """Assign this layer's own weights from ``store`` (as ``save_own_variables`` wrote it)."""
        own = self._trainable_variables + self._non_trainable_variables
        if len(store) != len(own):
            raise ValueError(f"Layer '{self.name}' expected {len(own)} variables, but received {len(store)} "
                             "variables during loading.")
        for i, var in enumerate(own):
            var.assign(store[str(i)])

    def get_build_config(self) -> dict | None:
        """What ``build_from_config`` needs to build the layer again on loading (its input shape)."""
        if self.built and self._build_shape is not None:
            return {"input_shape": self._build_shape}
        return None

    def build_from_config(self, config) -> None:
        """Build the layer from ``get_build_config``'s dict (before the weights are loaded)."""
        shape = (config or {}).get("input_shape")
        if shape is not None and not self.built:
            self._maybe_build(tuple(shape) if _is_shape(shape) else shape)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _user_writes_config(cls) -> bool:
    """Whether the user's own class, derived straight from ``Layer`` / ``Model``, overrides
    ``get_config`` (then the arguments captured from its constructor are not added to it)."""
    for klass in cls.__mro__:
        if klass.__module__.startswith("nerve."):
            return klass.__name__ in ("Layer", "Model") and any(
                "get_config" in k.__dict__ for k in cls.__mro__[:cls.__mro__.index(klass)])
    return False


def _is_shape(value) -> bool:
    """Whether ``value`` is one shape (a tuple / list of ints and Nones), not a structure of shapes."""
    return isinstance(value, (tuple, list)) and all(d is None or isinstance(d, (int, np.integer)) for d in value)


def map_shapes(fn, structure):
    """``fn`` applied to each shape of a nested structure of shapes."""
    if _is_shape(structure):
        return fn(tuple(structure))
    if isinstance(structure, dict):
        return {k: map_shapes(fn, v) for k, v in structure.items()}
    return type(structure)(map_shapes(fn, s) for s in structure)


def flatten_shapes(structure) -> list:
    """The shapes in a nested structure of shapes (a shape is a tuple of ints and Nones)."""
    if _is_shape(structure):
        return [tuple(structure)]
    if isinstance(structure, dict):
        return [s for k in sorted(structure) for s in flatten_shapes(structure[k])]
    return [s for item in structure for s in flatten_shapes(item)]


def _all_sublayers(layer) -> list:
    """The layers inside ``layer``, at any depth, each once (``layer`` left out), in the order of
    Keras's ``_flatten_layers`` (so ``losses`` lists as Keras's): a layer, then what its sublayers
    hold (the last sublayer's first), then the next."""
    seen, out = {id(layer)}, []
    queue = collections.deque(layer._layers)
    while queue:
        sub = queue.popleft()
        if id(sub) not in seen:
            seen.add(id(sub))
            out.append(sub)
            queue.extendleft(sub._layers)
    return out


def _unique(items: list) -> list:
    seen, out = set(), []
    for v in items:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


Layer._call_has_training = False
Layer._call_has_mask = False
Layer._mask_source = False


class InputLayer(Layer):
    """The entry of a functional model: holds the symbolic input tensor ``output``."""

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None,
                 sparse=None, input_tensor=None, optional=False, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if batch_shape is None:
            if shape is None:
                raise ValueError("You must pass a `shape` argument.")
            try:
                shape = tuple(shape)
            except TypeError:  # Input(shape=(784)): an int, not a tuple
                raise ValueError(f"Cannot convert '{shape}' to a shape.") from None
            batch_shape = (batch_size,) + shape
        self.batch_shape = tuple(batch_shape)
        self.built = True
        kt = KerasTensor(self.batch_shape, self.dtype, name=name)
        Node(self, [], kt)
        self._output_tensor = kt

    def get_config(self) -> dict:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "name": self.name}

    def call(self, inputs):
        return inputs


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None,
          optional=False):
    """A symbolic input of one example's ``shape`` (batch dim left out): ``keras.Input((28, 28))``."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name)
    return layer._output_tensor
