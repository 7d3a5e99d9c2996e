"""How a model with several outputs shares out what ``compile`` and ``fit`` were given: which
metrics go to which output, and which sample weights weigh each output's loss and metrics.

The rules are Keras 3.15.1's (``trainers/compile_utils.py``, ``CompileMetrics._build_metrics_set``;
``data_adapters/array_data_adapter.py`` for the sample weights): a list of metrics with one entry
per output, or a dict by output name, is shared out entry by entry; anything else must match the
outputs' structure, which for a list or a dict of outputs it never does, so Keras refuses it with
its tree library's (optree's) message.
"""

from __future__ import annotations


def metric_specs(specs, names: list, y_pred, model_output_names, argument_name: str) -> list:
    """One list of metric specs (or None) per output, as Keras 3 shares out ``metrics`` /
    ``weighted_metrics`` over the outputs ``names`` (the order of ``y_pred``'s outputs).

    Args:
        specs: what ``compile`` got as ``metrics`` or ``weighted_metrics``.
        names: the outputs' names, one per output.
        y_pred: the model's outputs (a tensor, a list or a dict), for the error message.
        model_output_names: a functional model's output names, or None (for the error message).
        argument_name: ``"metrics"`` or ``"weighted_metrics"``.

    Returns:
        A list, one entry per output: its metric specs, or None.
    """
    n = len(names)
    if not specs:
        return [None] * n
    if n == 1:
        from ..layers.layer import flatten

        return [flatten(specs)]
    flat = None
    if isinstance(specs, (list, tuple)) and len(specs) == n:
        flat = list(specs)
    elif isinstance(specs, dict) and len(specs) <= n and set(specs) <= set(names):
        flat = [specs.get(name) for name in names]
    if flat is None:
        raise ValueError(_mismatch(specs, y_pred, argument_name, model_output_names))
    return [None if s is None else list(s) if isinstance(s, (list, tuple)) else [s] for s in flat]


def _mismatch(specs, y_pred, argument_name: str, model_output_names) -> str:
    """Keras's message for metrics that match neither the outputs one by one nor their structure."""
    if isinstance(y_pred, dict):
        keys = sorted(y_pred)
        if not isinstance(specs, dict):
            why = "Node type mismatch; expected <class 'dict'>, but got <class 'tuple'>."
        elif len(specs) != len(keys):
            why = f"Node arity mismatch; expected {len(keys)}, but got {len(specs)}."
        else:
            missing, extra = set(keys) - set(specs), set(specs) - set(keys)
            why = f"Node keys mismatch; missing key(s): {missing}; extra key(s): {extra}."
        struct = repr({k: "X" for k in keys})
    else:
        if isinstance(specs, dict):
            why = "Node type mismatch; expected <class 'tuple'>, but got <class 'dict'>."
        else:
            why = f"Node arity mismatch; expected {len(y_pred)}, but got {len(specs)}."
        struct = repr(["X"] * len(y_pred))
    names = (f"either be a dict or a list matching the output names of the functional model {model_output_names} or "
             if model_output_names else "")
    return (f"{why}\nInvalid `{argument_name}`. `{argument_name}` should contain metrics objects and {names}match "
            f"the output structure of the model: {struct}.\nReceived: {argument_name}={specs}")


def output_weight(sample_weight, i: int, name: str):
    """The sample weights of output ``i`` (called ``name``): its own entry of a list or a dict of
    them, or the one array that weighs every output."""
    if isinstance(sample_weight, dict):
        return sample_weight[name]
    if isinstance(sample_weight, (list, tuple)):
        return sample_weight[i]
    return sample_weight


def check_sample_weight(y, sample_weight, class_weight=None) -> None:
    """Keras's checks of the sample weights given with arrays for a model with several outputs
    (``y`` a list or a dict): one array per output in ``y``'s structure, or one weight per example."""
    nested = isinstance(y, (list, tuple, dict))
    if sample_weight is not None and class_weight is not None and nested:
        raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
    if class_weight is not None and nested:
        raise ValueError("`class_weight` is only supported for Models with a single output.")
    if sample_weight is None or not nested:
        return
    if isinstance(sample_weight, (list, tuple, dict)):
        if not _same_structure(y, sample_weight):
            raise ValueError(
                "You should provide one `sample_weight` array per output in `y`. The two structures did not match:\n"
                f"- y: {y}\n- sample_weight: {sample_weight}\n"
            )
        return
    shape = tuple(sample_weight.shape)
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise ValueError(
            "For a model with multiple outputs, when providing a single `sample_weight` array, it should only have "
            "one scalar score per sample (i.e. shape `(num_samples,)`). If you want to use non-scalar sample "
            "weights, pass a `sample_weight` argument with one array per model output."
        )


def _same_structure(a, b) -> bool:
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and set(a) == set(b) and \
            all(_same_structure(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b) and \
            all(_same_structure(u, v) for u, v in zip(a, b))
    return True
