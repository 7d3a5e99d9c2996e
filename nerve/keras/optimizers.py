"""Keras's optimizers with Keras's defaults, each driving the matching ``nerve.optim`` optimizer.

``fit`` runs the same step as a hand-written loop: ``zero_grad()``, forward, loss,
``backward()``, ``step()``; these classes only translate Keras's argument names (``rho``,
``beta_1``, ``epsilon``) and defaults into nerve.optim's, and add Keras's extras
(``clipnorm`` / ``clipvalue``, learning-rate schedules, ``iterations``). Where no torch.optim
optimizer takes Keras's steps (Adamax, Lion, Ftrl, Lamb), they drive Keras's rule from
``nerve.optim.keras_rules``; ``LossScaleOptimizer`` wraps another one.
"""

from __future__ import annotations

import math

import numpy as np


class _LearningRate(float):
    """The current learning rate as a float, with Keras's Variable methods ``numpy``/``assign``."""

    def numpy(self):
        return np.float32(self)

    def assign(self, value):
        self._owner.learning_rate = float(value)
        return self


class Optimizer:
    """Base of the Keras optimizers; builds its nerve.optim optimizer on the model's variables.

    Args:
        learning_rate: a float or a ``keras.optimizers.schedules`` schedule.
        weight_decay: decoupled weight decay (as Keras: ``w -= lr * weight_decay * w``).
        clipnorm, clipvalue, global_clipnorm: gradient clipping before each step.
        use_ema, ema_momentum, ema_overwrite_frequency: keep an exponential moving average of the
            weights (``ema = m * ema + (1 - m) * w`` after each step), copied into the weights every
            ``ema_overwrite_frequency`` steps and at the end of ``fit``, as Keras.
        gradient_accumulation_steps: update once every this many steps, with the mean of their
            gradients (``iterations`` counts the updates, the schedules every step, as Keras).
    """

    _nerve_name = ""

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}")
        self.name = name or _snake(type(self).__name__)
        self._learning_rate = learning_rate if isinstance(learning_rate, schedules.LearningRateSchedule) \
            else float(learning_rate)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = use_ema, ema_momentum, ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._averages: list = []  # the weights' moving averages (use_ema)
        self._accumulated: list = []  # the gradients summed since the last update
        self._iterations = 0  # every step (``iterations`` counts the updates, as Keras's)
        self._opt = None
        self._params: list = []
        self._variables: list = []

    # -- the nerve optimizer --
    def _nerve_kwargs(self) -> tuple:
        """The nerve optimizer (its name in nerve.optim, or a class) and its arguments but ``lr``."""
        raise NotImplementedError

    def build(self, var_list) -> None:
        """Create the nerve optimizer over ``var_list`` (Keras Variables or nerve tensors)."""
        import nerve.optim

        var_list = list(var_list)
        params = [getattr(v, "value", v) for v in var_list]
        params = [p for p in params if p.requires_grad]
        # the Keras Variables updated here, to apply their constraints after each step (as Keras)
        self._variables = [v for v in var_list if hasattr(v, "constraint") and v.value.requires_grad]
        if self._opt is not None and len(params) == len(self._params) and all(a is b for a, b in zip(params, self._params)):
            return
        name, kwargs = self._nerve_kwargs()
        self._params = params
        cls = getattr(nerve.optim, name) if isinstance(name, str) else name  # (or one of keras_rules')
        self._opt = cls(params, lr=self._current_lr(), **kwargs) if params else None
        self._averages = [p.detach().clone() for p in params] if self.use_ema else []
        self._accumulated = [None] * len(params) if self.gradient_accumulation_steps else []
        self._momentum_lr = self._current_lr()

    @property
    def iterations(self) -> int:
        """The updates so far (with ``gradient_accumulation_steps``, the steps over that, as Keras)."""
        n = self.gradient_accumulation_steps
        return self._iterations // n if n else self._iterations

    @iterations.setter
    def iterations(self, value) -> None:
        self._iterations = int(value)

    @property
    def built(self) -> bool:
        return self._opt is not None

    @property
    def variables(self) -> list:
        return []

    _slots = 0  # per-weight state tensors Keras keeps (Adam: momentum and velocity)

    def _slot_count(self) -> int:
        return type(self)._slots

    def count_params(self) -> int:
        """What Keras's summary counts as optimizer params: iteration, learning rate, per-weight slots."""
        return 2 + self._slot_count() * sum(int(p.numel()) for p in self._params)

    def _current_lr(self) -> float:
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return float(lr(self._iterations))
        return float(lr)

    @property
    def learning_rate(self) -> _LearningRate:
        # as Keras's float32 variable reads (0.1 reads 0.10000000149011612); the steps compute in
        # float32 either way
        out = _LearningRate(float(np.float32(self._current_lr())))
        out._owner = self
        return out

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(value, schedules.LearningRateSchedule):
            self._learning_rate = value
        elif isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object as its "
                            "`learning_rate` constructor argument, hence its learning rate is not settable. If "
                            "you need the learning rate to be settable, you should instantiate the optimizer "
                            "with a float `learning_rate` argument.")
        else:
            self._learning_rate = float(value)
        self._set_lr()

    lr = learning_rate

    def _set_lr(self) -> None:
        if self._opt is not None:
            lr = self._current_lr()
            for group in self._opt.param_groups:
                group["lr"] = lr
            if self._lr_scaled_slots:
                self._rescale_momentum(lr)

    # momentum states that nerve.optim (as PyTorch) keeps per unit of learning rate, where Keras keeps
    # them times the rate of each step (SGD: Keras's m = -lr * nerve's buffer)
    _lr_scaled_slots: tuple = ()

    def _rescale_momentum(self, lr: float) -> None:
        """When the learning rate changes (a schedule, a callback), rescale those states so that the
        next step moves as Keras's: the momentum carried over keeps the old rate, as in Keras."""
        scaled_for = self.__dict__.get("_momentum_lr")
        if lr and scaled_for and lr != scaled_for:
            import nerve

            with nerve.no_grad():
                for state in self._opt.state.values():
                    for name in self._lr_scaled_slots:
                        buf = state.get(name)
                        if buf is not None:
                            buf.mul_(scaled_for / lr)
        if lr:
            self._momentum_lr = lr

    def zero_grad(self) -> None:
        if self._opt is not None:
            self._opt.zero_grad()

    def scale_loss(self, loss):
        """The loss that ``fit`` differentiates: times ``loss_scale_factor`` where one is set (the
        step divides the gradients by it again, as Keras's)."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    def step(self) -> None:
        """One update from the gradients in ``.grad`` (clipping first if asked)."""
        if self._opt is None:
            return
        if self.loss_scale_factor is not None:
            import nerve

            with nerve.no_grad():
                for p in self._params:
                    if p.grad is not None:
                        p.grad = p.grad / self.loss_scale_factor
        if self.use_ema or self.gradient_accumulation_steps:
            self._step_with_extras()
            return
        self._update()

    def _step_with_extras(self) -> None:
        """A step with gradient accumulation and/or EMA, in Keras's order: accumulate or update, then
        the moving averages (on every step), then maybe overwrite the weights with them."""
        import nerve

        n = self.gradient_accumulation_steps
        if not n:
            self._update(count=False)
        elif (self._iterations + 1) % n:  # only accumulate: the weights stay
            with nerve.no_grad():
                for i, p in enumerate(self._params):
                    if p.grad is not None:
                        acc = self._accumulated[i]
                        self._accumulated[i] = p.grad.detach().clone() if acc is None else acc + p.grad
        else:
            with nerve.no_grad():
                for i, p in enumerate(self._params):
                    acc = self._accumulated[i]
                    if p.grad is not None:
                        p.grad = (p.grad + acc if acc is not None else p.grad) / n
                    self._accumulated[i] = None
            self._update(count=False)
        if self.use_ema:
            momentum = self.ema_momentum if self.iterations else 0.0
            with nerve.no_grad():
                for avg, p in zip(self._averages, self._params):
                    avg.copy_(avg * momentum + p * (1.0 - momentum))
            if self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0:
                self._overwrite_with_averages()
        self._iterations += 1

    def _overwrite_with_averages(self) -> None:
        import nerve

        with nerve.no_grad():
            for avg, p in zip(self._averages, self._params):
                p.copy_(avg)

    def finalize_variable_values(self, var_list) -> None:
        """What ``fit`` calls at its end, as Keras: with ``use_ema``, the weights become their averages."""
        if self.use_ema and self._averages:
            self._overwrite_with_averages()

    def _update(self, count: bool = True) -> None:
        """The update from the gradients in ``.grad``: clipping, weight decay, the nerve optimizer's
        step, the constraints (``iterations`` counted unless the caller counts it)."""
        self._before_step()
        if self.clipvalue is None and self.clipnorm is None and self.global_clipnorm is None \
                and type(self._learning_rate) is float and not self._decays_here():
            self._opt.step()  # the common case
            self._iterations += count
            if self._variables:
                self._apply_constraints()
            return
        if self.clipvalue is not None or self.clipnorm is not None or self.global_clipnorm is not None:
            from nerve.nn.utils import clip_grad_norm_, clip_grad_value_

            if self.clipvalue is not None:
                clip_grad_value_(self._params, self.clipvalue)
            if self.global_clipnorm is not None:
                clip_grad_norm_(self._params, self.global_clipnorm)
            if self.clipnorm is not None:
                for p in self._params:
                    clip_grad_norm_([p], self.clipnorm)
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            self._set_lr()
        if self._decays_here():
            self._apply_weight_decay()
        self._opt.step()
        self._iterations += count
        if self._variables:
            self._apply_constraints()

    _nerve_decays = False  # the nerve optimizer decays the weights as Keras does (AdamW)

    def _decays_here(self) -> bool:
        return bool(self.weight_decay) and not self._nerve_decays

    def _apply_weight_decay(self) -> None:
        """Keras's weight decay, decoupled from the gradient, before the update:
        ``w -= w * weight_decay * learning_rate`` for each weight that has a gradient."""
        import nerve

        keep = 1.0 - float(self.weight_decay) * self._current_lr()
        with nerve.no_grad():
            for p in self._params:
                if p.grad is not None:
                    p.mul_(keep)

    def _apply_constraints(self) -> None:
        """Keras's: right after the update, each updated variable that has a constraint becomes
        ``constraint(variable)``."""
        todo = [v for v in self._variables if v._constraint is not None and v.value.grad is not None]
        if not todo:  # (the usual case: one pass over the list, no grad-mode switch)
            return
        import nerve

        with nerve.no_grad():
            for var in todo:
                var.assign(var.constraint(var))

    def _before_step(self) -> None:
        """Set what the nerve optimizer needs for this step to take Keras's (``iterations`` is its count)."""

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras's API: apply ``[(gradient, variable), ...]``."""
        grads_and_vars = list(grads_and_vars)
        self.apply([g for g, _ in grads_and_vars], [v for _, v in grads_and_vars])

    def apply(self, grads, trainable_variables=None) -> None:
        """Keras's API: one update of ``trainable_variables`` (those it was built on when None) from
        ``grads``, one per variable (as ``[v.value.grad for v in variables]`` gives them after
        ``loss.backward()``; a None gradient leaves its variable as it is)."""
        import nerve

        grads = list(grads)
        if trainable_variables is not None:
            variables = list(trainable_variables)
            if len(grads) != len(variables):
                raise ValueError(f"The number of gradients ({len(grads)}) must match the number of variables "
                                 f"({len(variables)}).")
            self.build(variables)
            params = [getattr(v, "value", v) for v in variables]
        else:
            params = self._params
        for p, g in zip(params, grads):
            if p.requires_grad:
                p.grad = g if isinstance(g, nerve.Tensor) or g is None else nerve.tensor(np.asarray(g))
        self.step()

    def get_config(self) -> dict:
        lr = self._learning_rate
        # Keras's keys in Keras's order; the rate as its float32 variable reads
        config = {"name": self.name, "learning_rate": float(np.float32(lr))
                  if not isinstance(lr, schedules.LearningRateSchedule)
                  else {"class_name": type(lr).__name__, "config": lr.get_config()},
                  "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                  "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                  "ema_momentum": self.ema_momentum, "ema_overwrite_frequency": self.ema_overwrite_frequency,
                  "loss_scale_factor": self.loss_scale_factor,
                  "gradient_accumulation_steps": self.gradient_accumulation_steps}
        config.update(self._extra_config())
        return config

    def _extra_config(self) -> dict:
        return {}

    def _own_state(self) -> dict:
        """What nerve's own files keep of this optimizer beside its nerve optimizer's state."""
        return {}

    def _load_own_state(self, saved: dict) -> None:
        """Take back what ``_own_state`` gave (``saved`` may hold more)."""

    # -- the state as Keras's files hold it (``optimizer/vars`` in ``model.weights.h5``) --
    _keeps_step = True  # nerve.optim's state has a step count (SGD's has not)

    def _keras_slots(self):
        """Keras's per-weight variables, each as ``(nerve.optim's state name, factor from nerve's
        value to Keras's)``, in Keras's order; None where the two do not map one to one."""
        return None

    def keras_variables(self, trainable) -> list:
        """Keras's ``optimizer.variables`` as arrays: the step count, the learning rate, then each
        trained weight's slots (Adam's momentum and velocity, ...) in Keras's layouts. Only the
        first two where the optimizer is not built or its state has no Keras counterpart.

        Args:
            trainable: the model's ``trainable_weights`` (Keras's order and layouts)."""
        import nerve

        out = [np.asarray(self._iterations, dtype="int64"), np.asarray(float(self.learning_rate), dtype="float32")]
        slots = self._keras_slots()
        if not self.built or not slots:
            return out
        params = {id(p): p for p in self._params}
        if len(params) != len(trainable) or any(id(v.value) not in params for v in trainable):
            return out[:2]
        for var in trainable:
            state = self._opt.state.get(params[id(var.value)], {})
            for name, factor in slots:
                value = state.get(name)
                if value is None:
                    out.append(np.zeros(var.shape, dtype="float32"))
                    continue
                arr = nerve.backend.to_numpy(getattr(value, "_data", value))
                arr = arr.transpose(var._inv) if var._inv is not None else arr
                out.append(np.ascontiguousarray(arr * factor, dtype="float32"))
        return out + self._keras_trailing()

    _trailing = 0  # how many variables Keras keeps after the per-weight ones (Nadam: its u_product)

    def _keras_trailing(self) -> list:
        """Keras's variables after the per-weight slots, as arrays."""
        return []

    def _state_from_trailing(self, arrays) -> dict:
        """What each weight's nerve.optim state takes from those trailing variables."""
        return {}

    def load_keras_variables(self, trainable, arrays) -> bool:
        """Take the state from Keras's ``optimizer.variables`` (as ``keras_variables`` lists them):
        False, with nothing changed, where they do not map onto this optimizer's state."""
        slots = self._keras_slots()
        if slots is None or len(arrays) != 2 + len(slots) * len(trainable) + self._trailing \
                or any(f == 0 for _, f in slots):
            return False
        self.build(trainable)
        self._iterations = int(np.asarray(arrays[0]))
        if not slots or self._opt is None:
            return True
        index = {id(p): i for i, p in enumerate(self._params)}
        saved = self._opt.state_dict()
        state = {}
        for k, var in enumerate(trainable):
            entry = {"step": float(self.iterations)} if self._keeps_step else {}
            entry.update(self._state_from_trailing(arrays[len(arrays) - self._trailing:]))
            for j, (name, factor) in enumerate(slots):
                arr = np.asarray(arrays[2 + k * len(slots) + j], dtype="float32") / factor
                entry[name] = np.ascontiguousarray(arr.transpose(var._perm) if var._perm is not None else arr)
            state[index[id(var.value)]] = entry
        saved["state"] = state
        self._opt.load_state_dict(saved)
        return True

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = getattr(schedules, lr["class_name"])(**lr["config"])
        return cls(**config)


def _float32(value) -> float:
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def _snake(name):
    from .backend import snake_case

    return snake_case(name)


class SGD(Optimizer):
    """Gradient descent: ``learning_rate=0.01``, optional ``momentum`` and ``nesterov``."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    _lr_scaled_slots = ("momentum_buffer",)

    def _slot_count(self) -> int:
        return 1 if self.momentum else 0

    _keeps_step = False

    def _keras_slots(self):
        # Keras's momentum m steps as w += m with m = momentum * m - lr * g, nerve's buffer b as
        # w -= lr * b with b = momentum * b + g: m = -lr * b (at a constant learning rate)
        return (("momentum_buffer", -self._current_lr()),) if self.momentum else ()

    def _nerve_kwargs(self):
        return "SGD", {"momentum": self.momentum, "nesterov": self.nesterov}

    def _extra_config(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam: ``learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    _nerve_decays = True  # (with weight_decay it drives nerve's AdamW, which decays as Keras)

    def _slot_count(self) -> int:
        return 3 if self.amsgrad else 2

    def _keras_slots(self):
        return None if self.amsgrad else (("exp_avg", 1.0), ("exp_avg_sq", 1.0))  # momentum, velocity

    def _before_step(self) -> None:
        # Keras adds epsilon to sqrt(v) before the bias correction, PyTorch (so nerve.optim) after
        # it: the same update takes nerve's eps = epsilon / sqrt(1 - beta_2 ** step).
        eps = self.epsilon / math.sqrt(1.0 - self.beta_2 ** (self.iterations + 1))
        for group in self._opt.param_groups:
            group["eps"] = eps

    def _nerve_kwargs(self):
        kw = {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon, "amsgrad": self.amsgrad}
        if self.weight_decay:  # Keras's weight decay is decoupled: AdamW's
            return "AdamW", {**kw, "weight_decay": self.weight_decay}
        return "Adam", kw

    def _extra_config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay: ``weight_decay=0.004`` as Keras."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)

    def _nerve_kwargs(self):
        return "AdamW", {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon, "amsgrad": self.amsgrad,
                         "weight_decay": self.weight_decay or 0.0}


class RMSprop(Optimizer):
    """RMSprop: ``learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False``."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    _lr_scaled_slots = ("momentum_buffer",)  # (Keras's momentum holds lr * g / sqrt(v + eps))

    def _slot_count(self) -> int:
        return 1 + bool(self.momentum) + bool(self.centered)

    def _keras_slots(self):
        return None if self.momentum or self.centered else (("square_avg", 1.0),)  # velocity

    def _nerve_kwargs(self):
        return "RMSprop", {"alpha": self.rho, "eps": self.epsilon, "momentum": self.momentum,
                           "centered": self.centered, "eps_in_sqrt": True}  # Keras divides by sqrt(v + eps)

    def _extra_config(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad: ``learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7``."""

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    _slots = 1

    def _nerve_kwargs(self):
        return "Adagrad", {"initial_accumulator_value": self.initial_accumulator_value, "eps": self.epsilon}

    def _extra_config(self):
        return {"initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta: ``learning_rate=0.001, rho=0.95, epsilon=1e-7``."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    _slots = 2

    def _nerve_kwargs(self):
        return "Adadelta", {"rho": self.rho, "eps": self.epsilon}

    def _extra_config(self):
        return {"rho": self.rho, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adamax: ``learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7`` (Keras's rule: epsilon
    added after the running maximum, not before it as torch.optim's)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    _slots = 2

    def _keras_slots(self):
        return (("momentum", 1.0), ("norm", 1.0))

    def _nerve_kwargs(self):
        from nerve.optim.keras_rules import KerasAdamax

        return KerasAdamax, {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon}

    def _extra_config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam: ``learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7``.

    Keras's momentum schedule ``mu_t = beta_1 * (1 - 0.5 * 0.96**t)`` is torch.optim's NAdam with
    ``momentum_decay=1`` (PyTorch's default 0.004 decays it 250 times slower); the rest of the step
    is the same."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    _slots = 2

    def count_params(self) -> int:
        return super().count_params() + (1 if self.built else 0)  # and the product of the mu_t

    def _keras_slots(self):
        return (("exp_avg", 1.0), ("exp_avg_sq", 1.0))  # momentum, velocity

    _trailing = 1

    def _keras_trailing(self):
        states = [self._opt.state.get(p) for p in self._params] if self._opt is not None else []
        product = next((float(s["mu_product"]) for s in states if s), 1.0)
        return [np.asarray(product, dtype="float32")]

    def _state_from_trailing(self, arrays):
        return {"mu_product": float(np.asarray(arrays[0]))}

    def _nerve_kwargs(self):
        return "NAdam", {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon, "momentum_decay": 1.0}

    def _extra_config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion: ``learning_rate=0.001, beta_1=0.9, beta_2=0.99``; the step is ``learning_rate`` times the
    sign of an interpolation of the momentum and the gradient."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2 = beta_1, beta_2
        if beta_1 <= 0 or beta_1 > 1:
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer "
                             f"degenerates to SignSGD. Received: beta_1={beta_1}.")

    _slots = 1
    _keeps_step = False

    def _keras_slots(self):
        return (("momentum", 1.0),)

    def _nerve_kwargs(self):
        from nerve.optim.keras_rules import KerasLion

        return KerasLion, {"betas": (self.beta_1, self.beta_2)}

    def _extra_config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """FTRL-Proximal: ``learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1``,
    L1, L2 and L2-shrinkage strengths and ``beta`` all 0 by default."""

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        for name, value, sign in (("initial_accumulator_value", initial_accumulator_value, "positive or zero"),
                                  ("learning_rate_power", -learning_rate_power, "negative or zero"),
                                  ("l1_regularization_strength", l1_regularization_strength, "positive or zero"),
                                  ("l2_regularization_strength", l2_regularization_strength, "positive or zero"),
                                  ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength,
                                   "positive or zero")):
            if value < 0.0:
                raise ValueError(f"`{name}` needs to be {sign}. Received: {name}="
                                 f"{-value if name == 'learning_rate_power' else value}.")
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    _slots = 2
    _keeps_step = False

    def _keras_slots(self):
        return (("accumulator", 1.0), ("linear", 1.0))

    def _nerve_kwargs(self):
        from nerve.optim.keras_rules import KerasFtrl

        return KerasFtrl, {"lr_power": self.learning_rate_power,
                           "initial_accumulator_value": self.initial_accumulator_value,
                           "l1": self.l1_regularization_strength, "l2": self.l2_regularization_strength,
                           "l2_shrinkage": self.l2_shrinkage_regularization_strength, "beta": self.beta}

    def _extra_config(self):
        return {"learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


class Lamb(Optimizer):
    """LAMB: ``learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7``; Adam's step scaled per
    weight by ``||w|| / ||step||``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    _slots = 2

    def _keras_slots(self):
        return (("exp_avg", 1.0), ("exp_avg_sq", 1.0))  # momentum, velocity

    def _nerve_kwargs(self):
        from nerve.optim.keras_rules import KerasLamb

        return KerasLamb, {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon}

    def _extra_config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around ``inner_optimizer``, as Keras's: ``fit`` differentiates the loss
    times ``dynamic_scale``; a step whose gradients are all finite divides them by it and lets the
    inner optimizer update (the scale doubles after ``dynamic_growth_steps`` such steps in a row);
    a step with an inf or a NaN updates nothing and halves the scale.

    Args:
        inner_optimizer: the optimizer that updates the weights.
        initial_scale: the first scale.
        dynamic_growth_steps: finite steps in a row after which the scale doubles.
    """

    def __init__(self, inner_optimizer, initial_scale=2.0**15, dynamic_growth_steps=2000, name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
                             "`loss_scale_factor` directly on the `inner_optimizer`.")
        defaults = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                    "loss_scale_factor": None, "gradient_accumulation_steps": None}
        for key in [k for k in kwargs if k in defaults]:
            if kwargs.pop(key) != defaults[key]:  # (a saved config may hold the defaults)
                raise ValueError(f"LossScaleOptimizer does not support `{key}`. Instead, set `{key}` on the "
                                 "`inner_optimizer`.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs)}`.")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = get(inner_optimizer)
        self.initial_scale, self.dynamic_growth_steps = initial_scale, dynamic_growth_steps
        self.inner_optimizer.loss_scale_factor = None  # (else the gradients would be scaled twice)
        self.dynamic_scale = _float32(initial_scale)  # as Keras's float32 variable (2.0**128 is inf)
        self.step_counter = 0

    def build(self, var_list) -> None:
        self.inner_optimizer.build(var_list)

    @property
    def _opt(self):  # the nerve optimizer (its state is what nerve's own files keep)
        return self.__dict__.get("inner_optimizer") and self.inner_optimizer._opt

    @_opt.setter
    def _opt(self, value) -> None:
        pass  # (the base class's __init__ sets it)

    @property
    def _params(self):
        return self.inner_optimizer._params if "inner_optimizer" in self.__dict__ else []

    @_params.setter
    def _params(self, value) -> None:
        pass

    @property
    def iterations(self) -> int:
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value) -> None:
        if "inner_optimizer" in self.__dict__:
            self.inner_optimizer.iterations = value

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if "inner_optimizer" in self.__dict__:
            self.inner_optimizer.learning_rate = value

    lr = learning_rate

    def count_params(self) -> int:
        return 4 + self.inner_optimizer.count_params()  # iteration, learning rate, step counter, scale

    def scale_loss(self, loss):
        return loss * (self.dynamic_scale if self.built else self.initial_scale)

    def zero_grad(self) -> None:
        self.inner_optimizer.zero_grad()

    def step(self) -> None:
        import nerve

        params = [p for p in self._params if p.grad is not None]
        if not all(bool(nerve.isfinite(p.grad).all()) for p in params):
            self.step_counter, self.dynamic_scale = 0, _float32(self.dynamic_scale * 0.5)
            return
        with nerve.no_grad():
            for p in params:
                p.grad = p.grad / self.dynamic_scale
        self.inner_optimizer.step()
        if self.step_counter == self.dynamic_growth_steps - 1:
            self.step_counter, self.dynamic_scale = 0, _float32(self.dynamic_scale * 2.0)
        else:
            self.step_counter += 1

    def finalize_variable_values(self, var_list) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    def _own_state(self) -> dict:
        return {"step_counter": self.step_counter, "dynamic_scale": self.dynamic_scale}

    def _load_own_state(self, saved: dict) -> None:
        if "dynamic_scale" in saved:
            self.step_counter, self.dynamic_scale = int(saved["step_counter"]), float(saved["dynamic_scale"])

    def get_config(self) -> dict:
        return {"name": self.name, "inner_optimizer": serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(get(config.pop("inner_optimizer")), **config)

    # Keras's variables: its own (iteration, learning rate, step counter, scale), then the inner's
    def keras_variables(self, trainable) -> list:
        return [np.asarray(0, dtype="int64"), np.asarray(0.0, dtype="float32"),
                np.asarray(self.step_counter, dtype="int64"), np.asarray(self.dynamic_scale, dtype="float32"),
                *self.inner_optimizer.keras_variables(trainable)]

    def load_keras_variables(self, trainable, arrays) -> bool:
        if len(arrays) < 6 or not self.inner_optimizer.load_keras_variables(trainable, arrays[4:]):
            return False
        self.step_counter, self.dynamic_scale = int(np.asarray(arrays[2])), float(np.asarray(arrays[3]))
        return True


class schedules:  # noqa: N801  (keras.optimizers.schedules is a module in Keras)
    """Learning-rate schedules: callables of the step number."""

    class LearningRateSchedule:
        def __call__(self, step):
            raise NotImplementedError

        def get_config(self) -> dict:
            return dict(vars(self))

    class ExponentialDecay(LearningRateSchedule):
        def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
            self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
            self.decay_rate, self.staircase = decay_rate, staircase

        def __call__(self, step):
            p = step / self.decay_steps
            return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)

    class InverseTimeDecay(LearningRateSchedule):
        def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
            self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
            self.decay_rate, self.staircase = decay_rate, staircase

        def __call__(self, step):
            p = step / self.decay_steps
            return self.initial_learning_rate / (1 + self.decay_rate * (math.floor(p) if self.staircase else p))

    class PiecewiseConstantDecay(LearningRateSchedule):
        def __init__(self, boundaries, values, name=None):
            self.boundaries, self.values = list(boundaries), list(values)

        def __call__(self, step):
            for b, v in zip(self.boundaries, self.values):
                if step <= b:
                    return v
            return self.values[-1]

    class CosineDecay(LearningRateSchedule):
        def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None, warmup_target=None,
                     warmup_steps=0):
            self.initial_learning_rate, self.decay_steps, self.alpha = initial_learning_rate, decay_steps, alpha
            self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

        def __call__(self, step):
            if self.warmup_target is None:
                return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
            # as Keras: a straight line from initial_learning_rate up to warmup_target, then the decay
            step = min(step, self.decay_steps + self.warmup_steps)
            if step < self.warmup_steps:
                frac = step / self.warmup_steps
                return (self.warmup_target - self.initial_learning_rate) * frac + self.initial_learning_rate
            return self._decay(step - self.warmup_steps, self.warmup_target)

        def _decay(self, step, decay_from):
            cos = 0.5 * (1 + math.cos(math.pi * step / self.decay_steps))
            return decay_from * ((1 - self.alpha) * cos + self.alpha)


    class PolynomialDecay(LearningRateSchedule):
        """From ``initial_learning_rate`` to ``end_learning_rate`` along ``(1 - step / decay_steps) ** power``;
        with ``cycle``, ``decay_steps`` grows to the first multiple of it past the step (a restart)."""

        def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                     name="PolynomialDecay"):
            if decay_steps <= 0:
                raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={decay_steps}")
            self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
            self.end_learning_rate, self.power, self.cycle, self.name = end_learning_rate, power, cycle, name

        def __call__(self, step):
            step, decay_steps = float(step), float(self.decay_steps)
            if self.cycle:
                decay_steps *= math.ceil(step / decay_steps) if step else 1.0
            else:
                step = min(step, decay_steps)
            frac = (1 - step / decay_steps) ** self.power
            return (self.initial_learning_rate - self.end_learning_rate) * frac + self.end_learning_rate

        def get_config(self) -> dict:
            return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                    "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                    "name": self.name}

    class CosineDecayRestarts(LearningRateSchedule):
        """Cosine decay with warm restarts (SGDR): each period ``t_mul`` times longer than the one before,
        restarting from ``m_mul`` times the previous peak, down to ``alpha`` times the initial rate.

        Computed in float32 as Keras does, so that a step on a restart falls in the same period."""

        def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                     name="SGDRDecay"):
            if first_decay_steps <= 0:
                raise ValueError("Argument `first_decay_steps` must be > 0. Received: "
                                 f"first_decay_steps={first_decay_steps}")
            self.initial_learning_rate, self.first_decay_steps = initial_learning_rate, first_decay_steps
            self._t_mul, self._m_mul, self.alpha, self.name = t_mul, m_mul, alpha, name

        def __call__(self, step):
            f32 = np.float32
            t_mul, one = f32(self._t_mul), f32(1.0)
            done = f32(step) / f32(self.first_decay_steps)
            if t_mul == one:
                restart = np.floor(done)
                done = done - restart
            else:
                restart = np.floor(np.log(one - done * (one - t_mul)) / np.log(t_mul))
                done = (done - (one - t_mul**restart) / (one - t_mul)) / t_mul**restart
            cosine = f32(0.5) * f32(self._m_mul) ** restart * (one + np.cos(f32(math.pi) * done))
            alpha = f32(self.alpha)
            return float(f32(self.initial_learning_rate) * ((one - alpha) * cosine + alpha))

        def get_config(self) -> dict:
            return {"initial_learning_rate": self.initial_learning_rate,
                    "first_decay_steps": self.first_decay_steps, "t_mul": self._t_mul, "m_mul": self._m_mul,
                    "alpha": self.alpha, "name": self.name}


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad, "adadelta": Adadelta,
            "adamax": Adamax, "nadam": Nadam, "ftrl": Ftrl, "lion": Lion,
            "lossscaleoptimizer": LossScaleOptimizer}  # (Keras has no "lamb")
_CLASSES = {c.__name__: c for c in (*_BY_NAME.values(), Lamb)}


def get(identifier) -> Optimizer:
    """An optimizer from a name (``'sgd'``, ``'adam'``, ...) with Keras's defaults, or an object."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Could not interpret optimizer identifier: {identifier!r}. Known optimizers: "
                f"{', '.join(sorted(_BY_NAME))}"
            )
        return cls()
    if isinstance(identifier, dict):
        name = identifier.get("class_name", "")
        cls = _CLASSES.get(name) or _BY_NAME.get(str(name).lower())  # (Keras's names, any case)
        if cls is None:
            raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")


def serialize(opt: Optimizer) -> dict:
    return {"class_name": type(opt).__name__, "config": opt.get_config()}
