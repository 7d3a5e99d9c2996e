"""The autograd engine: grad mode, the ``Function`` base class, and ``backward``.

A ``Function`` is one op: ``forward`` and ``backward`` on raw arrays, side by side.
Running it records, on the output tensor, an edge to each input: the input's own
``grad_fn``, or the input itself when it is a leaf that requires grad. ``backward``
walks those edges in reverse topological order, iteratively, so graphs thousands
of ops deep work. Broadcasting is undone here, once, for every op.

With ``create_graph=True`` a second walk, ``run_backward_graph``, calls each op's ``backward_t``
(its backward on tensors, recorded) instead, so gradients can be differentiated again; the
first-order walk stays as it is (docs/HIGHER_ORDER.md).
"""

from __future__ import annotations

import functools
import heapq
import inspect
import itertools
import weakref
from typing import Any

import numpy as _np

from .backend import is_array

_enabled = True
_new = object.__new__
_ndarray = _np.ndarray
# Every recorded op gets the next number. An op's inputs are always older than it, so running
# backward in decreasing order of these numbers visits each op after all the ops that use its
# output (PyTorch's engine orders its ready queue the same way).
_next_seq = itertools.count().__next__
_heappush, _heappop = heapq.heappush, heapq.heappop

# ---------------------------------------------------------------- in-place writes to saved arrays
# PyTorch gives every storage a version counter and raises in backward when a tensor an op saved
# was changed in place after the op ran. nerve's in-place ops that record a graph work out of
# place (the saved arrays stay as they were), so only writes made outside the graph can change
# what backward reads: in-place ops under no_grad, copy_/fill_, nn.init, load_state_dict,
# optimizer steps (writes through ``.data`` are left out, as PyTorch leaves them out of its
# counters). Those writes are noted here, by storage (the array that owns the memory, as PyTorch's counter
# is shared by a tensor and its views): ``{id(storage): [sequence number of the last write,
# weak reference to the storage]}``. An op numbered after the last write has nothing to check,
# so a training loop (forward, backward, then the step's writes) pays one comparison per op in
# backward; an older op has the arrays its backward reads looked up here.
_written: dict = {}
_last_write = -1  # sequence number of the newest write noted


def _entry(table: dict, a):
    """``table``'s entry for array ``a`` (``[value, weak reference to a]``), or None."""
    e = table.get(id(a))
    return e if e is not None and e[1]() is a else None


def _remember(table: dict, a, value) -> None:
    """``table[id(a)] = [value, weak reference to a]``, dropped when ``a`` is freed (unless a new
    entry took the id by then); nothing for an array type without weak references."""
    key = id(a)

    def forget(ref, key=key):
        e = table.get(key)
        if e is not None and e[1] is ref:
            del table[key]

    try:
        table[key] = [value, weakref.ref(a, forget)]
    except TypeError:
        pass


# Arrays that stand for a storage of their own although they view another array: each tensor
# ``from_numpy`` makes (PyTorch gives each its own version counter, even of one NumPy array).
_own: dict = {}


def own_storage(a) -> None:
    """Make array ``a`` (a view made for one tensor) a storage of its own for the checks."""
    _remember(_own, a, True)


def _storage(a):
    """The array that owns ``a``'s memory for the checks: ``a`` itself, or the last array in its
    ``base`` chain, or the first one there that ``own_storage`` marked."""
    while True:
        if _own and _entry(_own, a) is not None:
            return a
        b = a.base
        if b is None or not is_array(b):
            return a
        a = b


DATA_ALIAS = (None, "data", None)  # the ``_view`` of a tensor that ``.data`` made


def note_tensor_write(t) -> None:
    """Record that tensor ``t`` was just changed in place outside the graph; not when ``t`` is a
    ``.data`` alias (or a view of one), whose writes PyTorch leaves untracked."""
    v = getattr(t, "_view", None)
    while v is not None:
        if v is DATA_ALIAS:
            return
        v = getattr(v[0], "_view", None)
    note_write(t._data)


def note_write(a) -> None:
    """Record that array ``a`` was just changed in place outside the graph."""
    global _last_write
    if a.base is not None:
        a = _storage(a)
    seq = _next_seq()
    e = _entry(_written, a)
    if e is not None:
        e[0] = seq
    else:
        _remember(_written, a, seq)
    _last_write = seq


def _check_saved(fn) -> None:
    """Raise as PyTorch does when an array that ``fn``'s backward reads was changed in place
    after ``fn`` ran (``fn`` is older than the last write noted)."""
    seq = fn.seq
    for a in fn.saved_arrays():
        if not is_array(a):
            continue
        e = _entry(_written, _storage(a))
        if e is not None and e[0] > seq:
            where = ""
            stack = getattr(fn, "_stack", None)
            if stack:
                where = "\nThe op was recorded at:\n" + "".join(stack)
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: a {a.dtype} array of shape {tuple(a.shape)} that {fn.node_name} saved for its "
                "backward was changed in place after that op ran (an in-place op under no_grad, or an "
                "optimizer step before this backward). Change it after backward(), "
                "or use a clone of it in the forward pass." + where
                + ("" if where else " Hint: nerve.autograd.set_detect_anomaly(True) shows where the op was recorded.")
            )


_NOT_SAVED = frozenset(("parents", "in_meta", "device", "seq", "_stack", "_hooks", "_retain", "_attrs"))


# NumPy 2 keeps its floating-point error state in a context variable; ``np.errstate`` is three
# Python calls around setting it (2.2 us a backward). Setting the variable directly, with the
# quiet state made once per state it replaces, does the same in a few hundred ns. Any other
# NumPy falls back to ``np.errstate``.
try:
    from numpy._core._ufunc_config import _extobj_contextvar, _make_extobj

    _make_extobj(divide="ignore", invalid="ignore", over="ignore")
except Exception:  # pragma: no cover - NumPy 1.x, or a NumPy whose internals moved
    _extobj_contextvar = None
_QUIET: dict = {}  # error state in force -> the same with divide, invalid and over ignored


def _quiet_errors():
    """Ignore NumPy's divide, invalid and overflow warnings until ``_restore_errors(token)``."""
    if _extobj_contextvar is None:
        quiet = _np.errstate(divide="ignore", invalid="ignore", over="ignore")
        quiet.__enter__()
        return quiet
    cur = _extobj_contextvar.get()
    quiet = _QUIET.get(cur)
    if quiet is None:
        if len(_QUIET) > 16:
            _QUIET.clear()
        quiet = _QUIET[cur] = _make_extobj(divide="ignore", invalid="ignore", over="ignore")
    return _extobj_contextvar.set(quiet)


def _restore_errors(token) -> None:
    if _extobj_contextvar is None:
        token.__exit__(None, None, None)
    else:
        _extobj_contextvar.reset(token)


class quiet_errors:
    """``with quiet_errors():`` as ``np.errstate(divide="ignore", invalid="ignore", over="ignore")``,
    through the context variable as backward does (inf and nan silently, as in torch)."""

    __slots__ = ("_token",)

    def __enter__(self):
        self._token = _quiet_errors()
        return self

    def __exit__(self, *exc) -> None:
        _restore_errors(self._token)


def is_grad_enabled() -> bool:
    """True when ops record the graph for backward."""
    return _enabled


class set_grad_enabled:
    """Turn gradient recording on or off; works as a call, a context manager, or a decorator."""

    def __init__(self, mode: bool):
        global _enabled
        self.prev = _enabled
        self.mode = bool(mode)
        _enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _enabled
        _enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class _GradMode:
    __slots__ = ("prev",)
    mode = False

    def __new__(cls, fn=None):
        self = _new(cls)  # (not super(): ``with no_grad():`` runs in every update loop)
        if fn is not None:  # used bare, as ``@no_grad`` (PyTorch 2 allows it): decorate at once
            if not callable(fn):
                raise TypeError(f"{cls.__name__}() takes no arguments other than a function to decorate, got {fn!r}")
            return self(fn)
        return self

    def __enter__(self):
        global _enabled
        self.prev = _enabled
        _enabled = self.mode
        return self

    def __exit__(self, *exc):
        global _enabled
        _enabled = self.prev
        return False

    def __call__(self, fn):
        mode_cls = type(self)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with mode_cls():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator that stops recording (for evaluation and in-place updates)."""

    __slots__ = ()
    mode = False


class enable_grad(_GradMode):
    """Context manager and decorator that turns recording back on inside ``no_grad``."""

    __slots__ = ()
    mode = True


class inference_mode(_GradMode):
    """``torch.inference_mode(mode=True)``: recording off, as ``no_grad`` (nerve has no separate
    inference tensors); ``inference_mode(False)`` turns it on, as PyTorch's does (inside ``no_grad``
    too). A context manager and a decorator, bare (``@inference_mode``) or called."""

    __slots__ = ("on", "prev_inference")
    mode = False

    def __new__(cls, mode=True):
        if callable(mode):  # bare ``@inference_mode``: decorate at once
            return cls(True)(mode)
        self = _new(cls)
        self.on = bool(mode)
        return self

    def __enter__(self):
        global _enabled, _inference
        self.prev, self.prev_inference = _enabled, _inference
        _enabled, _inference = not self.on, self.on
        return self

    def __exit__(self, *exc):
        global _enabled, _inference
        _enabled, _inference = self.prev, self.prev_inference
        return False

    def __call__(self, fn):
        on = self.on

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(on):
                return fn(*args, **kwargs)

        return wrapper

_inference = False  # inside inference_mode(True)


def is_inference_mode_enabled() -> bool:
    """Whether an ``inference_mode()`` block is open (and not turned off by ``inference_mode(False)``)."""
    return _inference


_anomaly = False  # anomaly mode: ops keep the stack that made them; backward checks for NaN


class set_detect_anomaly:
    """Turn anomaly detection on or off, as a call or a context manager (``torch.autograd``'s).

    While it is on, every recorded op keeps the Python stack that created it, and backward
    checks each op's gradients: a NaN raises an error naming the op and showing where its
    forward ran. It slows everything down; use it to find where a NaN comes from.
    """

    def __init__(self, mode: bool = True, check_nan: bool = True):
        global _anomaly
        self.prev = _anomaly
        _anomaly = bool(mode) and bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _anomaly
        _anomaly = self.prev
        return False


class detect_anomaly:
    """Context manager and decorator with anomaly detection on (see ``set_detect_anomaly``)."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def __enter__(self):
        global _anomaly
        self.prev = _anomaly
        _anomaly = bool(self.check_nan)
        return self

    def __exit__(self, *exc):
        global _anomaly
        _anomaly = self.prev
        return False

    def __call__(self, fn):
        check_nan = self.check_nan

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(check_nan):
                return fn(*args, **kwargs)

        return wrapper


def is_anomaly_enabled() -> bool:
    return _anomaly


def is_anomaly_check_nan_enabled() -> bool:
    return _anomaly


def _stack() -> list:
    """The Python stack of the code that ran an op (anomaly mode), without the engine's frames."""
    import traceback

    stack = traceback.format_stack()
    while len(stack) > 1 and "nerve/autograd.py" in stack[-1].replace("\\", "/"):
        stack.pop()
    return stack


def _check_nan(fn, grads, xp) -> None:
    for i, gi in enumerate(grads):
        if gi is not None and gi.dtype.kind == "f" and bool(xp.isnan(gi).any()):
            stack = getattr(fn, "_stack", None)
            where = "".join(stack) if stack else "(not recorded: the op ran before anomaly mode was on)\n"
            raise RuntimeError(f"Function '{fn.node_name}' returned nan values in its {i}th output.\n\n"
                               f"The forward call that made it:\n{where}")


class Function:
    """One differentiable op.

    Subclasses write ``forward(self, xp, *arrays)`` and ``backward(self, xp, grad)``,
    where ``xp`` is the array module (NumPy or CuPy). ``backward`` returns one
    gradient per input (a tuple when there are several; ``None`` for inputs
    without one), each of the output's broadcast shape or the input's own shape.
    Attributes passed to ``apply`` as keywords (axis, shape, ...) are set on the
    op before ``forward`` runs; whatever backward needs is kept on the op itself.
    ``backward_t(self, g)``, the same rule on tensors, makes the op twice differentiable.

    PyTorch's form works too, for scripts that extend autograd as its tutorials do: static
    ``forward(ctx, *tensors)`` and ``backward(ctx, grad)`` on tensors, with
    ``ctx.save_for_backward(...)`` / ``ctx.saved_tensors``, called through ``apply``.
    """

    _is_fn = True
    _ctx_style = False  # PyTorch's static forward(ctx, ...) / backward(ctx, ...)
    parents: tuple = ()
    _hooks = None  # gradient hooks of the output (Tensor.register_hook on a non-leaf)
    _retain = None  # weak reference to the output when it called retain_grad()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._ctx_style = isinstance(inspect.getattr_static(cls, "forward"), staticmethod)

    @classmethod
    def apply(cls, *inputs, **attrs):
        """Run the op on tensors (and plain Python numbers) and record it for backward."""
        if cls._ctx_style:
            return _apply_ctx(cls, inputs, attrs)
        fn = cls()
        if attrs:
            fn.__dict__.update(attrs)
            fn._attrs = attrs  # (options, not saved inputs: see saved_arrays)
        return fn.run(inputs)

    # PyTorch's name for this op's graph node, where it is not the class's name + "Backward0"
    torch_name: str | None = None

    @property
    def name(self) -> str:
        """The op's name as error messages and exporters use it (``matmul``, ``add``)."""
        return type(self).__name__.lower()

    @property
    def node_name(self) -> str:
        """The node's name as PyTorch prints it in ``grad_fn=<...>`` (``MulBackward0``, ``MmBackward0``)."""
        return self.torch_name or type(self).__name__.removesuffix("Fn") + "Backward0"

    def forward(self, xp, *arrays):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, xp, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, inputs):
        n = len(inputs)
        x = inputs[0] if n else None
        y = inputs[1] if n == 2 else None
        if (n == 1 or n == 2) and isinstance(x, Tensor) and (
                y is None or isinstance(y, Tensor) and y._device is x._device):
            # one tensor, or two on one device (nearly every op a training step runs): the general
            # loop below, unrolled (0.94 -> 0.67 us for an op that does nothing)
            dev = x._device
            a = x._data
            try:
                out = self.forward(dev._xp or dev.xp, a) if y is None else self.forward(dev._xp or dev.xp, a, y._data)
            except ValueError as e:  # shapes that do not fit: RuntimeError, as PyTorch raises
                raise RuntimeError(self.describe_error(inputs, e)) from None
            except IndexError as e:  # an index out of range stays an IndexError, as in PyTorch
                raise IndexError(self.describe_error(inputs, e)) from None
            rx = x.requires_grad
            if y is None:
                record = rx and _enabled
                if record:
                    self.parents = [x.grad_fn or x]
                    self.in_meta = [(a.shape, a.dtype)]
            else:
                ry = y.requires_grad
                record = (rx or ry) and _enabled
                if record:
                    b = y._data
                    self.parents = [(x.grad_fn or x) if rx else None, (y.grad_fn or y) if ry else None]
                    self.in_meta = [(a.shape, a.dtype) if rx else None, (b.shape, b.dtype) if ry else None]
        else:
            dev = None
            arrays = []
            # the graph's edges are gathered in the same pass (kept only when the op records)
            parents = []
            meta = []
            record = False
            for x in inputs:
                if isinstance(x, Tensor):
                    d = x._device
                    if d is not dev:
                        if dev is not None:
                            raise RuntimeError(
                                f"{self.name}: expected all tensors on the same device, got "
                                + " and ".join(str(t._device) for t in inputs if isinstance(t, Tensor))
                                + "; move them with .to(device)"
                            )
                        dev = d
                    a = x._data
                    arrays.append(a)
                    if x.requires_grad:
                        record = True
                        parents.append(x.grad_fn or x)
                        meta.append((a.shape, a.dtype))
                        continue
                else:
                    arrays.append(x)
                parents.append(None)
                meta.append(None)
            try:
                out = self.forward(dev._xp or dev.xp, *arrays)
            except ValueError as e:
                raise RuntimeError(self.describe_error(inputs, e)) from None
            except IndexError as e:
                raise IndexError(self.describe_error(inputs, e)) from None
            record = record and _enabled
            if record:
                self.parents = parents
                self.in_meta = meta
        if out.__class__ is not _ndarray and isinstance(out, _np.generic):
            out = _np.asarray(out)  # NumPy hands back a scalar for a 0-d result: keep an array
        t = _new(Tensor)
        t._data = out
        t._device = dev
        t._grad = t.grad_fn = t._hooks = t._view = None
        if record:
            self.device = dev
            self.seq = _next_seq()
            t.requires_grad = True
            t.grad_fn = self
            if _anomaly:
                self._stack = _stack()
        else:
            t.requires_grad = False
        return t

    def saved_arrays(self) -> list:
        """The arrays this op's backward reads, for the check of in-place changes made after the
        op ran: every array it keeps, by default. An op whose inputs are each needed only for the
        other inputs' gradients (a product) names just those, as PyTorch saves them. The options
        ``apply`` was given are left out (a batch norm's running statistics, which its backward
        does not read and which are updated after it runs); so are tuples' and lists' other items."""
        out = []
        given = self.__dict__.get("_attrs", ())
        for k, v in self.__dict__.items():
            if k in _NOT_SAVED or k in given:
                continue
            if type(v) is tuple or type(v) is list:
                out.extend(x for x in v if is_array(x))
            elif is_array(v):
                out.append(v)
        return out

    def backward_t(self, g):
        """The backward on tensors, recorded as a graph of its own (``create_graph=True``).

        ``g`` is a Tensor; return one Tensor (or None) per input, as ``backward`` does with arrays,
        written with tensor ops on ``self.saved(i, array)`` (input i) and ``self.output(array)``
        so that the new graph leads back into this one. An op without it cannot be differentiated
        twice: this default raises rather than give second derivatives that silently miss it.
        """
        raise RuntimeError(
            f"create_graph=True: double backward of {self.name} ({self.node_name}) is not implemented in "
            "nerve; compute that part without create_graph, or write it with ops that support it "
            "(see docs/HIGHER_ORDER.md)"
        )

    def saved(self, i: int, value):
        """Input ``i`` of this op as a tensor holding ``value`` (the array forward saw) for
        ``backward_t``: the leaf itself, a tensor whose ``grad_fn`` is the node that made the input,
        or a constant where the input needs no gradient. A Python number stays a number."""
        if not hasattr(value, "shape"):
            return value
        p = self.parents[i]
        if p is None:
            return Tensor._make(value, self.device)
        if not p._is_fn:
            return p
        t = Tensor._make(value, self.device)
        t.requires_grad = True
        t.grad_fn = p
        return t

    def output(self, value):
        """This op's output as a tensor holding ``value``, whose ``grad_fn`` is this op (for a
        ``backward_t`` written with the output, as exp's or tanh's)."""
        t = Tensor._make(value, self.device)
        t.requires_grad = True
        t.grad_fn = self
        return t

    def const(self, value):
        """``value`` (an array) as a tensor outside the graph, on this op's device."""
        return Tensor._make(value, self.device)

    def derived(self, cls, value, parents=None, in_meta=None, **attrs):
        """A tensor holding ``value`` as if op ``cls`` had made it from this op's inputs (or from
        ``parents``): a node of ``cls`` with ``attrs`` as its saved state, its forward not run. So a
        ``backward_t`` can use an intermediate that forward kept (softmax's probabilities inside
        cross_entropy) with its derivative, without recomputing it."""
        fn = cls()
        fn.__dict__.update(attrs)
        fn.parents = list(self.parents if parents is None else parents)
        fn.in_meta = list(self.in_meta if in_meta is None else in_meta)
        fn.device = self.device
        fn.seq = _next_seq()
        t = Tensor._make(value, self.device)
        t.requires_grad = True
        t.grad_fn = fn
        return t

    @property
    def next_functions(self) -> tuple:
        """PyTorch's edges out of this node, one ``(node, input_nr)`` per input: the node that made
        the input, an ``AccumulateGrad`` for a leaf that requires grad, ``(None, 0)`` for the rest."""
        if self.parents is None:
            raise RuntimeError(
                f"next_functions of {self.node_name}: its graph was freed by backward(); nerve drops a node's "
                "edges there (PyTorch keeps them): walk the graph before backward, or call backward(retain_graph=True)"
            )
        return tuple(map(_edge, self.torch_edges()))

    def torch_edges(self) -> list:
        """This node's inputs as PyTorch's graph has them: ``parents`` (Functions, leaves, None), and
        ``GraphNode``s where nerve's one op stands for several of PyTorch's (linear)."""
        return self.parents

    def describe_error(self, inputs, err) -> str:
        shapes = " and ".join(str(tuple(x.shape)) for x in inputs if isinstance(x, Tensor))
        msg = str(err)
        if "broadcast" in msg:
            return f"{self.name}: shapes {shapes} cannot be broadcast together"
        return f"{self.name}: {msg} (input shapes {shapes})"

    def __repr__(self) -> str:
        return f"<{self.node_name} object at {id(self):#x}>"


class AccumulateGrad:
    """The node PyTorch's graph has for a leaf that requires grad: ``variable`` is the leaf. Made on
    demand by ``next_functions`` (nerve's graph points at the leaf itself), the same object for
    the same leaf while one is alive, as PyTorch's."""

    __slots__ = ("variable", "__weakref__")
    _is_fn = True
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"


_accumulators: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # id(leaf) -> its AccumulateGrad


class GraphNode:
    """A node of PyTorch's graph that nerve fuses into another op (the transpose and matrix product
    inside linear), shown in ``next_functions`` so that a walk along the graph meets PyTorch's nodes."""

    _is_fn = True

    def __init__(self, node_name: str, edges: list):
        self.node_name, self.edges = node_name, edges

    @property
    def next_functions(self) -> tuple:
        return tuple(map(_edge, self.edges))

    def __repr__(self) -> str:
        return f"<{self.node_name} object at {id(self):#x}>"


def _edge(p) -> tuple:
    """``(node, input_nr)`` for a node's input ``p``: a Function, a leaf, a GraphNode or None."""
    if p is None:
        return None, 0
    if not p._is_fn:  # a leaf
        node = _accumulators.get(id(p))
        if node is None:  # while it lives it holds the leaf, so no other tensor can have that id
            node = _accumulators[id(p)] = AccumulateGrad(p)
        return node, 0
    if p.__class__ is _OutputNode:  # output i of a several-output Function: PyTorch's edge is (node, i)
        return p.node, p.index
    return p, 0


class FunctionCtx:
    """The ``ctx`` of a PyTorch-style ``Function``: what ``forward`` keeps for ``backward``."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.saved_tensors = ()
        self.materialize_grads = True
        self._non_diff: set = set()

    def save_for_backward(self, *tensors) -> None:
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        """These outputs get no gradient: they come back with ``requires_grad=False`` (indices, masks)."""
        self._non_diff.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        """With False, backward receives None (not zeros) for an output that got no gradient."""
        self.materialize_grads = bool(value)


class _Grads:
    """The gradients flowing into a several-output ``Function``'s node, one slot per output.

    The engine sums what reaches a node with ``+`` and checks shape and dtype against the
    edge's metadata: the class attributes below match the metadata of the edges to such a
    node (``_SLOTS_META``), so it passes through the engine as any gradient does.
    """

    __slots__ = ("slots",)
    shape = ()
    dtype = _np.dtype(object)

    def __init__(self, slots):
        self.slots = slots

    def __add__(self, other):
        return _Grads([b if a is None else a if b is None else a + b for a, b in zip(self.slots, other.slots)])


_SLOTS_META = ((), _Grads.dtype)


class _CtxNode(Function):
    """The graph node of a PyTorch-style ``Function``: backward calls the user's on tensors.

    With several outputs, each output's ``grad_fn`` is an ``_OutputNode`` whose only edge leads
    here; their gradients meet in one ``_Grads`` (outputs come later in the sequence than this
    node, so all of them have run before it), and the user's ``backward`` gets one per output.
    """

    outputs = None  # several outputs: (shape, dtype) of each tensor output, None for the others

    def torch_edges(self) -> list:  # PyTorch's node has an edge for each tensor input only
        return [p for p, is_tensor in zip(self.parents, self.tensor_inputs) if is_tensor]

    def saved_arrays(self) -> list:  # what the user's forward gave save_for_backward, as PyTorch checks
        return [t._data for t in self.ctx.saved_tensors if isinstance(t, Tensor)]

    def backward(self, xp, g):
        if self.outputs is None:
            grads = self.user_backward(self.ctx, Tensor._make(g, self.device))
        else:
            ins = []
            for gi, meta in zip(g.slots, self.outputs):
                if gi is None and meta is not None and self.ctx.materialize_grads:
                    gi = xp.zeros(meta[0], dtype=meta[1])
                ins.append(None if gi is None else Tensor._make(gi, self.device))
            grads = self.user_backward(self.ctx, *ins)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(self.parents):
            raise RuntimeError(
                f"function {self.fn_name}Backward returned an incorrect number of gradients "
                f"(expected {len(self.parents)}, got {len(grads)})"
            )
        return tuple(gr._data if isinstance(gr, Tensor) else gr for gr in grads)

    def backward_t(self, g):
        # the user's backward runs with grad mode on: written with tensor ops on ctx.saved_tensors
        # (the inputs themselves), it is differentiable as in PyTorch
        if self.outputs is None:
            grads = self.user_backward(self.ctx, g)
        else:
            ins = []
            for gi, meta in zip(g.slots, self.outputs):
                if gi is None and meta is not None and self.ctx.materialize_grads:
                    gi = Tensor._make(self.device.xp.zeros(meta[0], dtype=meta[1]), self.device)
                ins.append(gi)
            grads = self.user_backward(self.ctx, *ins)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(self.parents):
            raise RuntimeError(
                f"function {self.fn_name}Backward returned an incorrect number of gradients "
                f"(expected {len(self.parents)}, got {len(grads)})"
            )
        return tuple(gr if gr is None or isinstance(gr, Tensor) else Tensor._make(self.device.xp.asarray(gr), self.device)
                     for gr in grads)

    @property
    def name(self) -> str:
        return self.fn_name

    @property
    def node_name(self) -> str:
        return self.fn_name + "Backward"  # PyTorch's name for a custom Function's node

    def __repr__(self) -> str:  # PyTorch makes the node's class in torch.autograd.function
        return f"<{__name__}.function.{self.node_name} object at {id(self):#x}>"


class _OutputNode(Function):
    """Output ``index`` of a several-output PyTorch-style ``Function``: its gradient, in its slot."""

    def backward(self, xp, g):
        slots = [None] * self.n_outputs
        slots[self.index] = g
        return _Grads(slots)

    backward_t = functools.partialmethod(backward, None)

    @property
    def next_functions(self) -> tuple:  # PyTorch has one node for all the outputs: its edges
        return self.node.next_functions

    @property
    def name(self) -> str:
        return self.node.fn_name

    @property
    def node_name(self) -> str:
        return self.node.fn_name + "Backward"

    def __repr__(self) -> str:  # the several outputs share PyTorch's one node
        return repr(self.node)


def _apply_ctx(cls, inputs, attrs):
    if attrs:
        raise TypeError(f"{cls.__name__}.apply() takes positional arguments only")
    needs = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)
    ctx = FunctionCtx(needs)
    setup = getattr(cls, "setup_context", None)  # PyTorch 2's form: forward(*inputs) without ctx
    global _enabled
    prev, _enabled = _enabled, False
    try:
        if setup is None:
            out = cls.forward(ctx, *inputs)
        else:
            out = cls.forward(*inputs)
            setup(ctx, inputs, out)
    finally:
        _enabled = prev
    if not (_enabled and any(needs)):
        return out
    several = isinstance(out, tuple)
    outs = out if several else (out,)
    if not several and not isinstance(out, Tensor):
        raise TypeError(
            f"{cls.__name__}.forward must return a tensor or a tuple (of tensors and other values), "
            f"got {type(out).__name__}"
        )
    # which outputs get a gradient: tensors of a floating dtype not marked non-differentiable
    diff = [isinstance(o, Tensor) and id(o) not in ctx._non_diff and o._data.dtype.kind in "fc" for o in outs]
    # an input handed back: a new tensor on the same data, so the input keeps its own history
    outs = tuple(Tensor._make(o._data, o._device) if isinstance(o, Tensor) and any(o is x for x in inputs)
                 else o for o in outs)
    node = _CtxNode()
    node.parents = [(x.grad_fn or x) if need else None for x, need in zip(inputs, needs)]
    node.in_meta = [(x._data.shape, x._data.dtype) if need else None for x, need in zip(inputs, needs)]
    node.device = next((o._device for o in outs if isinstance(o, Tensor)), None)
    if node.device is None:  # no tensor among the outputs: nothing to differentiate
        return out
    node.seq = _next_seq()
    node.ctx, node.user_backward, node.fn_name = ctx, cls.backward, cls.__name__
    node.tensor_inputs = tuple(isinstance(x, Tensor) for x in inputs)
    if not several:
        out = outs[0]
        out.requires_grad = diff[0]
        if diff[0]:
            out.grad_fn = node
        return out
    node.outputs = tuple((o._data.shape, o._data.dtype) if isinstance(o, Tensor) else None for o in outs)
    for i, o in enumerate(outs):
        if not diff[i]:
            if isinstance(o, Tensor):
                o.requires_grad = False
            continue
        edge = _OutputNode()
        edge.parents, edge.in_meta = [node], [_SLOTS_META]
        edge.node, edge.index, edge.n_outputs = node, i, len(outs)
        edge.device = o._device
        edge.seq = _next_seq()
        o.requires_grad = True
        o.grad_fn = edge
    return outs


def once_differentiable(backward):
    """PyTorch's decorator for a ``backward`` that is not itself differentiable: it runs without
    recording; under ``create_graph=True`` its gradients lead to a node that raises when something
    differentiates through it (as PyTorch's), instead of silently acting as constants."""

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        create = _enabled
        with no_grad():
            out = backward(ctx, *grads)
        if not create:
            return out
        deps = [t for t in (*grads, *ctx.saved_tensors) if isinstance(t, Tensor) and t.requires_grad]
        if not deps:
            return out
        node = _OnceDifferentiable()
        node.parents = [t.grad_fn or t for t in deps]
        node.in_meta = [(t._data.shape, t._data.dtype) for t in deps]
        node.device, node.seq = deps[0]._device, _next_seq()

        def attach(t):
            if not isinstance(t, Tensor):
                return t
            t = Tensor._make(t._data, t._device)
            t.requires_grad, t.grad_fn = True, node
            return t

        return tuple(attach(t) for t in out) if isinstance(out, tuple) else attach(out)

    return wrapper


class _OnceDifferentiable(Function):
    """Where the gradients of a ``@once_differentiable`` backward lead: differentiating them raises."""

    def backward(self, xp, g):
        raise RuntimeError("trying to differentiate twice a function that was marked with @once_differentiable")

    backward_t = functools.partialmethod(backward, None)


_ONES: dict = {}
_BLAS_FLOATS = (_np.dtype(_np.float32), _np.dtype(_np.float64))
# vectors up to this length are kept one per length; a longer one is a view of one vector per dtype
_ONES_KEPT = 4096


def ones_vector(n: int, dtype):
    """A read-only NumPy vector of ``n`` ones, kept per length and dtype: sums written as BLAS
    matrix-vector products (``a @ ones``) are several times faster than NumPy's reductions on the
    small matrices of a training step.

    Long lengths (rows of sequences that vary from batch to batch, flattened) would each keep a
    vector for good: those are views of the longest vector asked for so far (one per dtype)."""
    key = (n, dtype)
    ones = _ONES.get(key)
    if ones is None:
        if n > _ONES_KEPT:
            ones = _ONES.get(dtype)
            if ones is None or ones.shape[0] < n:
                ones = _ONES[dtype] = _np.ones(n, dtype)
                ones.flags.writeable = False
            return ones[:n]
        ones = _ONES[key] = _np.ones(n, dtype)
        ones.flags.writeable = False
    return ones


def sum_last(xp, a):
    """``a.sum(-1)``; on NumPy ``a @ ones``, BLAS's matrix-vector product (``ones_vector``). A fresh
    array (not a view), so that a gradient made this way (a bias's) is kept as it is."""
    if xp is _np and a.dtype.kind == "f":
        ones = _ONES.get((a.shape[-1], a.dtype))  # (the common case without a call)
        return a @ (ones_vector(a.shape[-1], a.dtype) if ones is None else ones)
    return a.sum(axis=-1)


def sum_to(xp, g, shape):
    """Sum ``g`` down to ``shape``: the reverse of NumPy broadcasting."""
    if g.shape == shape:
        return g
    if g.shape[1:] == shape:  # one leading axis added by broadcasting (a bias)
        if xp is not _np:
            return g.sum(axis=0)
        if g.ndim == 2 and g.dtype in _BLAS_FLOATS:
            # a row of ones times g: BLAS's matrix-vector product, about twice as fast as NumPy's
            # reduction along the first axis for a batch of rows (as nn.Linear's bias gradient)
            ones = _ONES.get((g.shape[0], g.dtype))
            return (ones_vector(g.shape[0], g.dtype) if ones is None else ones) @ g
        return _np.add.reduce(g, axis=0)
    lead = g.ndim - len(shape)
    axes = list(range(lead))
    for i, s in enumerate(shape):  # a loop, not a generator: one Python frame less
        if s == 1 and g.shape[i + lead] != 1:
            axes.append(i + lead)
    axes = tuple(axes)
    if xp is _np and lead == 0 and axes == (g.ndim - 1,) and g.dtype in _BLAS_FLOATS:
        # only the last axis (a per-row value broadcast along a row: x - x.logsumexp(1, keepdim=True))
        return sum_last(xp, g).reshape(shape)
    if axes:
        # ufunc.reduce directly: ndarray.sum goes through a Python wrapper first
        g = _np.add.reduce(g, axis=axes, keepdims=True) if xp is _np else g.sum(axis=axes, keepdims=True)
    if lead:
        g = g.reshape(shape)
    if g.shape != shape:  # e.g. a gradient that is a scalar for a broadcast input
        g = xp.broadcast_to(g, shape).copy()
    return g


def run_backward(root, grad, retain_graph: bool = False, capture=None) -> None:
    """Backpropagate ``grad`` from tensor ``root`` into the ``.grad`` of every leaf it depends on.

    The ops are visited newest first (a heap keyed on their sequence numbers), each once all
    the gradients flowing into it have been summed; an op that receives no gradient is never
    visited. With ``capture`` (``(ops, leaves, results)``: slot numbers by op and by ``id`` of
    leaf), the gradients of those tensors are summed into ``results`` and no ``.grad`` changes.
    """
    fn0 = root.grad_fn
    if fn0 is None:
        if root.requires_grad:  # a leaf: its gradient is grad itself
            if capture is None:
                _accumulate(root, grad, grad)  # (copied: grad may be the caller's array)
            elif id(root) in capture[1]:
                _add_to(capture[2], capture[1][id(root)], grad)
            return
        raise RuntimeError(
            "element 0 of tensors does not require grad and does not have a grad_fn: "
            "nothing to backpropagate (did you compute it under no_grad, or from tensors "
            "without requires_grad=True?)"
        )
    if fn0.parents is None:
        raise RuntimeError(_FREED)
    grads: dict = {fn0: grad}
    hooked = None  # {id: (leaf, summed gradient, upstream)} for leaves with hooks
    heap: list = []  # (-seq, op): numbers are unique, so two ops are never compared
    # the op to visit next when it is the only one waiting (a chain of ops): it skips the heap
    pending = fn0
    global _enabled
    prev, _enabled = _enabled, False
    # an inf or NaN that backward makes (0 * inf at a kink) stays in the gradient without NumPy's
    # warnings, as in PyTorch; anomaly mode is the way to find where one came from
    quiet = _quiet_errors()
    try:
        while True:
            if pending is not None:
                fn = pending
                pending = None
            elif heap:
                fn = _heappop(heap)[1]
            else:
                break
            g = grads.pop(fn)
            parents = fn.parents
            if parents is None:
                raise RuntimeError(_FREED)
            if fn.seq < _last_write:  # something was written in place after this op ran
                _check_saved(fn)
            if fn._hooks:
                g = _run_hooks(fn._hooks, g, fn.device)
            ref = fn._retain
            if ref is not None and ref() is not None:
                ref()._grad = Tensor._make(g.copy(), fn.device)
            if capture is not None and fn in capture[0]:
                _add_to(capture[2], capture[0][fn], g)
            dev = fn.device
            xp = dev._xp or dev.xp
            in_grads = fn.backward(xp, g)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if _anomaly:
                _check_nan(fn, in_grads, xp)
            for p, gi, meta in zip(parents, in_grads, fn.in_meta):
                if p is None or gi is None:
                    continue
                shape, dt = meta
                if gi.shape != shape:
                    gi = sum_to(xp, gi, shape)
                if gi.dtype is not dt and gi.dtype != dt:
                    gi = gi.astype(dt)
                if p._is_fn:
                    prior = grads.get(p)
                    if prior is None:
                        grads[p] = gi
                        if pending is None and not heap:
                            pending = p
                        else:
                            if pending is not None:
                                _heappush(heap, (-pending.seq, pending))
                                pending = None
                            _heappush(heap, (-p.seq, p))
                    else:
                        grads[p] = prior + gi
                elif capture is None:
                    if p._hooks:  # a leaf's hooks see its whole gradient once, as torch's: summed first
                        if hooked is None:
                            hooked = {}
                        # taken out and put back: the leaves run in the order of their last gradient,
                        # the order in which PyTorch's engine finds each one's gradient complete
                        prior = hooked.pop(id(p), None)
                        hooked[id(p)] = (p, gi, g) if prior is None else (p, prior[1] + gi, None)
                    else:
                        _accumulate(p, gi, g)
                elif id(p) in capture[1]:
                    _add_to(capture[2], capture[1][id(p)], gi)
            if not retain_graph:
                fn.parents = None
        if hooked is not None:
            for p, gi, up in hooked.values():
                _accumulate(p, gi, up)
    finally:
        _enabled = prev
        _restore_errors(quiet)


def run_backward_graph(root, grad, retain_graph: bool = True, capture=None) -> None:
    """``run_backward`` with ``create_graph=True``: the gradients are tensors and every op's
    ``backward_t`` records what it does, so the gradients can be differentiated again.

    The same walk as ``run_backward`` (kept apart so the first-order loop pays nothing for it),
    with grad mode on. A leaf's ``.grad`` becomes a tensor with a ``grad_fn``: a differentiable
    copy of the first gradient, then ``old + new``, as PyTorch's accumulation under create_graph.
    """
    fn0 = root.grad_fn
    if fn0 is None:
        if root.requires_grad:
            if capture is None:
                _accumulate_t(root, grad)
            elif id(root) in capture[1]:
                _add_to(capture[2], capture[1][id(root)], grad)
            return
        raise RuntimeError(
            "element 0 of tensors does not require grad and does not have a grad_fn: "
            "nothing to backpropagate (did you compute it under no_grad, or from tensors "
            "without requires_grad=True?)"
        )
    if fn0.parents is None:
        raise RuntimeError(_FREED)
    grads: dict = {fn0: grad}
    heap = [(-fn0.seq, fn0)]
    hooked: dict = {}
    global _enabled
    prev, _enabled = _enabled, True
    quiet = _quiet_errors()
    try:
        while heap:
            fn = _heappop(heap)[1]
            g = grads.pop(fn)
            parents = fn.parents
            if parents is None:
                raise RuntimeError(_FREED)
            if fn.seq < _last_write:  # something was written in place after this op ran
                _check_saved(fn)
            if fn._hooks:
                g = _run_hooks_t(fn._hooks, g)
            ref = fn._retain
            if ref is not None and ref() is not None:
                ref()._grad = g
            if capture is not None and fn in capture[0]:
                _add_to(capture[2], capture[0][fn], g)
            in_grads = fn.backward_t(g)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
            if _anomaly:
                _check_nan(fn, [gi._data if isinstance(gi, Tensor) else None for gi in in_grads], fn.device.xp)
            for p, gi, meta in zip(parents, in_grads, fn.in_meta):
                if p is None or gi is None:
                    continue
                if gi.__class__ is not _Grads:
                    shape, dt = meta
                    if gi._data.shape != shape:
                        gi = _sum_to_t(gi, shape)
                    if gi._data.dtype != dt:
                        gi = gi.to(dtype=dt)
                if p._is_fn:
                    prior = grads.get(p)
                    if prior is None:
                        grads[p] = gi
                        _heappush(heap, (-p.seq, p))
                    else:
                        grads[p] = prior + gi
                elif capture is None:
                    if p._hooks:  # summed first: the hooks see the leaf's whole gradient once
                        prior = hooked.pop(id(p), None)  # (put back last: run_backward's order)
                        hooked[id(p)] = (p, gi if prior is None else prior[1] + gi)
                    else:
                        _accumulate_t(p, gi)
                elif id(p) in capture[1]:
                    _add_to(capture[2], capture[1][id(p)], gi)
            if not retain_graph:
                fn.parents = None
        for p, gi in hooked.values():
            _accumulate_t(p, gi)
    finally:
        _enabled = prev
        _restore_errors(quiet)


def _sum_to_t(g, shape):
    """``sum_to`` on a tensor, recorded: the reverse of broadcasting, differentiable."""
    lead = g.ndim - len(shape)
    if lead > 0:
        g = g.sum(tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axes, keepdim=True)
    if tuple(g.shape) != tuple(shape):  # a gradient smaller than its input (a scalar): broadcast
        g = g.expand(*shape)
    return g


def _run_hooks_t(hooks, g):
    for h in hooks:
        r = h(g)
        if r is not None:
            g = r
    return g


def _accumulate_t(leaf, g) -> None:
    hooks = leaf._hooks
    if hooks:
        g = _run_hooks_t(hooks, g)
    cur = leaf._grad
    # a differentiable copy first (the gradient may be another tensor's, as PyTorch's clone), then
    # out of place: the old .grad may be part of a graph someone differentiates later; none for a
    # leaf whose requires_grad was turned off after the graph was recorded (as torch)
    if leaf.requires_grad:
        leaf._grad = g.clone() if cur is None else cur + g
    if hooks:
        _post_accumulate(leaf, hooks)


def _add_to(results: list, slot: int, g) -> None:
    results[slot] = g if results[slot] is None else results[slot] + g


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         allow_unused=None, materialize_grads: bool = False, **kwargs):
    """The gradients of ``outputs`` with respect to ``inputs``, returned rather than added to any
    ``.grad`` (as ``torch.autograd.grad``).

    Args:
        outputs: a tensor or a sequence of tensors.
        inputs: a tensor or a sequence of tensors the outputs depend on (leaves or not).
        grad_outputs: one gradient per output; may be left out for scalar outputs.
        retain_graph: keep the graph for another backward (default: ``create_graph``).
        create_graph: record the gradients' own graph, so they can be differentiated again
            (second derivatives, gradient penalties, Hessian-vector products); every op on the
            way must have a ``backward_t``, else a RuntimeError names it.
        allow_unused: give None (or zeros with ``materialize_grads``) for an input that the
            outputs do not depend on, instead of raising.

    Returns:
        a tuple with one gradient tensor per input.
    """
    for name in kwargs:
        if name != "is_grads_batched" or kwargs[name]:
            raise TypeError(f"grad() got an unexpected keyword argument '{name}'")
    outs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    ins = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(outs):
        raise RuntimeError(f"grad requires one grad_output per output: got {len(grad_outputs)} for {len(outs)} outputs")
    for t in ins:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    ops = {t.grad_fn: i for i, t in enumerate(ins) if t.grad_fn is not None}
    leaves = {id(t): i for i, t in enumerate(ins) if t.grad_fn is None}
    results: list = [None] * len(ins)
    for k, (out, g) in enumerate(zip(outs, grad_outputs)):
        if g is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = out._device.xp.ones(out._data.shape, dtype=out._data.dtype)
        elif isinstance(g, Tensor):
            g = g if create_graph else g._data
        else:
            g = out._device.xp.asarray(g, dtype=out._data.dtype)
        last = k == len(outs) - 1
        if create_graph:
            # as PyTorch: retain_graph defaults to create_graph
            retain = retain_graph is None or bool(retain_graph) or not last
            g = g if isinstance(g, Tensor) else Tensor._make(g, out._device)
            run_backward_graph(out, g, retain, capture=(ops, leaves, results))
        else:
            run_backward(out, g, bool(retain_graph) or not last, capture=(ops, leaves, results))
    for i, t in enumerate(ins):  # a leaf's hooks see its gradient here too, as torch's
        if t.grad_fn is None and t._hooks and results[i] is not None:
            results[i] = _run_hooks_t(t._hooks, results[i]) if create_graph else \
                _run_hooks(t._hooks, results[i], t._device)
    if create_graph:
        return tuple(_graph_result(t, r, allow_unused or materialize_grads, materialize_grads)
                     for t, r in zip(ins, results))
    grads = []
    for t, r in zip(ins, results):
        if r is None:
            if not (allow_unused or materialize_grads):
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
            grads.append(Tensor._make(t._device.xp.zeros_like(t._data), t._device) if materialize_grads else None)
        else:
            if r.shape != t._data.shape:
                r = sum_to(t._device.xp, r, t._data.shape)
            grads.append(Tensor._make(r.copy() if r.base is not None else r, t._device))
    return tuple(grads)


def _graph_result(t, r, unused_ok: bool, materialize: bool):
    """One result of ``grad(..., create_graph=True)``: the recorded gradient tensor of ``t``."""
    if r is None:
        if not unused_ok:
            raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                               "Set allow_unused=True if this is the desired behavior.")
        if not materialize:
            return None
        z = Tensor._make(t._device.xp.zeros_like(t._data), t._device)
        z.requires_grad = True  # as torch's zeros_like(input, requires_grad=create_graph)
        return z
    return _sum_to_t(r, t._data.shape) if r._data.shape != t._data.shape else r


_FREED = (
    "Trying to backward through the graph a second time (or directly access saved "
    "tensors after they have already been freed). Specify retain_graph=True if you "
    "need to backward through the graph a second time."
)


def _run_hooks(hooks, g, dev):
    for h in hooks:
        if g.__class__ is _ndarray and not g.flags.writeable:
            # a gradient spread as a read-only zero-stride view (a mean's): the hook gets its own
            # array, which it may change in place as in torch (where that gradient is a new tensor)
            g = g.copy()
        t = Tensor._make(g, dev)
        r = h(t)
        g = t._data if r is None else r._data
    return g


def zero_grads(params, set_to_none: bool = True) -> None:
    """Reset the ``.grad`` of every tensor in ``params``: to None, or to zeros in place.

    ``Module.zero_grad`` and ``Optimizer.zero_grad`` both come here.
    """
    for p in params:
        g = p._grad
        if g is None:
            continue
        if set_to_none:
            p._grad = None
        else:
            g.grad_fn = None
            g.requires_grad = False
            g._data[...] = 0


def _accumulate(leaf, g, upstream) -> None:
    hooks = leaf._hooks
    if hooks:
        g = _run_hooks(hooks, g, leaf._device)
    cur = leaf._grad
    if not leaf.requires_grad:  # turned off after the graph was recorded: torch's hooks run, .grad stays
        pass
    elif cur is None:
        # own the array: it may be the upstream gradient or a view shared elsewhere
        if g is upstream or g.base is not None:
            g = g.copy()
        leaf._grad = Tensor._make(g, leaf._device)
    else:
        cur._data += g
    if hooks:  # a local: no cost without hooks
        _post_accumulate(leaf, hooks)


class PostAccumulateHook:
    """A hook of ``Tensor.register_post_accumulate_grad_hook``, kept in the leaf's ``_hooks`` with its
    gradient hooks: as one of those it changes nothing; once the gradient is accumulated into
    ``.grad``, ``fn(leaf)`` runs."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, grad):
        return None


def _post_accumulate(leaf, hooks) -> None:
    for h in hooks:
        if h.__class__ is PostAccumulateHook:
            h.fn(leaf)


Tensor: Any = None  # set by nerve.tensor once the class exists (it is built on Function)


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Compare backward's gradients with central finite differences (use float64 inputs).

    Args:
        fn: a function of the tensors in ``inputs`` returning a tensor.
        inputs: tensors; those with ``requires_grad`` are checked.
        eps: finite-difference step.
        atol, rtol: tolerances of the comparison.

    Returns:
        True when every gradient matches; otherwise raises (or returns False).
    """
    import numpy as np

    from .backend import to_numpy

    inputs = tuple(inputs)
    out = fn(*inputs)
    rng = np.random.default_rng(0)
    w = rng.standard_normal(out.shape)  # a random projection makes the check scalar
    w_t = Tensor._make(out._device.xp.asarray(w, dtype=out._data.dtype), out._device)
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    (out * w_t).sum().backward()
    for i, t in enumerate(inputs):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        analytic = to_numpy(t.grad._data) if t.grad is not None else np.zeros(t.shape)
        numeric = np.zeros(t.shape, dtype=np.float64)
        flat = t._data.reshape(-1)
        with no_grad():
            for j in range(flat.size):
                orig = flat[j].item()
                flat[j] = orig + eps
                fp = float((to_numpy(fn(*inputs)._data) * w).sum())
                flat[j] = orig - eps
                fm = float((to_numpy(fn(*inputs)._data) * w).sum())
                flat[j] = orig
                numeric.reshape(-1)[j] = (fp - fm) / (2 * eps)
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            if raise_exception:
                err = np.abs(analytic - numeric).max()
                raise AssertionError(
                    f"gradcheck: input {i} (shape {tuple(t.shape)}): backward and finite differences differ "
                    f"by up to {err:.3g}\nanalytic:\n{analytic}\nnumeric:\n{numeric}"
                )
            return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  raise_exception: bool = True) -> bool:
    """Check second derivatives: ``gradcheck`` of the gradients that ``create_graph=True`` records
    (as ``torch.autograd.gradgradcheck``; use float64 inputs).

    Args:
        fn: a function of the tensors in ``inputs`` returning a tensor.
        inputs: tensors; the second derivatives with respect to those with ``requires_grad`` are checked.
        grad_outputs: the gradient of ``fn``'s output to backpropagate (random when left out); when
            it requires grad, the derivatives with respect to it are checked too.
        eps, atol, rtol: as ``gradcheck``.

    Returns:
        True when every second derivative matches; otherwise raises (or returns False).
    """
    import numpy as np

    inputs = tuple(inputs)
    out = fn(*inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(1)
        v = rng.standard_normal(out.shape)
        grad_outputs = Tensor._make(out._device.xp.asarray(v, dtype=out._data.dtype), out._device)
        grad_outputs.requires_grad = True
    n = len(inputs)

    def first_grads(*args):
        with enable_grad():
            wrt = [a for a in args[:n] if isinstance(a, Tensor) and a.requires_grad]
            gs = grad(fn(*args[:n]), wrt, args[n], create_graph=True, allow_unused=True, materialize_grads=True)
        flat = [g.reshape(-1) for g in gs]
        return flat[0] if len(flat) == 1 else _cat(flat)

    # the recorded gradients must be backward's own, or the check below would only prove that a
    # wrong backward_t is consistent with itself
    from .backend import to_numpy

    recorded = to_numpy(first_grads(*inputs, grad_outputs)._data)
    with enable_grad():
        wrt = [a for a in inputs if isinstance(a, Tensor) and a.requires_grad]
        plain = grad(fn(*inputs), wrt, grad_outputs, allow_unused=True, materialize_grads=True)
    plain = np.concatenate([to_numpy(g._data).reshape(-1) for g in plain])
    if not np.allclose(recorded, plain, atol=atol, rtol=rtol):
        if raise_exception:
            raise AssertionError(
                "gradgradcheck: the gradients recorded with create_graph=True differ from backward's by up to "
                f"{np.abs(recorded - plain).max():.3g}\nrecorded:\n{recorded}\nbackward:\n{plain}"
            )
        return False
    return gradcheck(first_grads, inputs + (grad_outputs,), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


def _cat(tensors):
    from .functions import cat

    return cat(tensors)


def _function_module():
    """``nerve.autograd.function``, for ``from torch.autograd.function import once_differentiable``."""
    import sys
    import types

    mod = types.ModuleType(__name__ + ".function", "PyTorch-style custom Functions (see nerve.autograd.Function).")
    mod.Function, mod.FunctionCtx, mod.once_differentiable = Function, FunctionCtx, once_differentiable
    sys.modules[mod.__name__] = mod
    return mod


function = _function_module()


def _functional_module():
    """``nerve.autograd.functional`` (jacobian, hessian, vjp, jvp, vhp, hvp), importable by that name."""
    import sys

    from . import autograd_functional as mod

    sys.modules[__name__ + ".functional"] = mod
    return mod


functional = _functional_module()
