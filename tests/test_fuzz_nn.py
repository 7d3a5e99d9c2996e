"""Differential checks of nerve.nn / nerve.optim against PyTorch for options and inputs that the
other test files leave out; each test here guards a divergence that was found and fixed."""

import numpy as np
import pytest

import nerve
import nerve.nn.functional as NF
from tests._torch_compare import compare

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _rows_with_a_zero_one():
    x = np.random.default_rng(0).standard_normal((3, 4))
    x[1] = 0.0
    return x


@pytest.mark.parametrize("p", [2, "fro", 3, 0.5, 1, float("inf")])
@pytest.mark.parametrize("dim", [1, None])
def test_norm_of_a_zero_vector_has_a_zero_gradient_as_torch(p, dim):
    # torch's norm backward is 0 where the norm is 0; sqrt(sum(x * x)) gave NaN there
    compare(torch, lambda t: t.norm(p, dim=dim), lambda t: t.norm(p, dim=dim), [_rows_with_a_zero_one()], [True])
    compare(torch, lambda t: nerve.norm(t, p, dim=dim), lambda t: torch.norm(t, p, dim=dim),
            [_rows_with_a_zero_one()], [True])


def test_l2_penalty_of_a_zero_initialised_bias_trains_as_torch():
    out = []
    for lib in (torch, nerve):
        lib.manual_seed(0)
        model = lib.nn.Linear(4, 2)
        model.load_state_dict({"weight": lib.tensor(np.full((2, 4), 0.5, np.float32)), "bias": lib.zeros(2)})
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        x = lib.tensor(np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32))
        for _ in range(2):
            opt.zero_grad()
            loss = model(x).pow(2).mean() + 0.01 * sum(p.norm() for p in model.parameters())
            loss.backward()
            opt.step()
        out.append([p.detach().numpy().copy() for p in model.parameters()])
    for a, b in zip(*out):
        assert np.isfinite(b).all()
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["normalize", "cosine_similarity"])
def test_zero_rows_in_normalize_and_cosine_similarity_keep_gradients_finite_as_torch(case):
    x2 = np.random.default_rng(2).standard_normal((3, 4))
    if case == "normalize":
        compare(torch, lambda t: NF.normalize(t), lambda t: TF.normalize(t), [_rows_with_a_zero_one()], [True],
                tol=dict(rtol=1e-9, atol=1e-6))
    else:
        compare(torch, NF.cosine_similarity, TF.cosine_similarity, [_rows_with_a_zero_one(), x2], [True, True],
                tol=dict(rtol=1e-9, atol=1e-6))


@pytest.mark.parametrize("kw", [dict(scale_grad_by_freq=True), dict(scale_grad_by_freq=True, padding_idx=2)])
def test_embedding_scale_grad_by_freq_as_torch(kw):
    # the option was accepted and ignored: each row's gradient is divided by its count in the batch
    idx = np.array([[0, 2, 2], [5, 6, 2], [0, 1, 6]])
    w = np.random.default_rng(3).standard_normal((7, 4))
    compare(torch, lambda i, t: NF.embedding(i, t, **kw), lambda i, t: TF.embedding(i, t, **kw), [idx, w],
            [False, True])
    compare(torch, lambda t, i: nerve.embedding(t, i, scale_grad_by_freq=True),
            lambda t, i: torch.embedding(t, i, scale_grad_by_freq=True), [w, idx], [True, False])



def test_embedding_module_scale_grad_by_freq_as_torch():
    idx = np.array([1, 3, 3, 3, 4])
    w = np.random.default_rng(4).standard_normal((6, 3)).astype(np.float32)
    grads = []
    for lib in (torch, nerve):
        emb = lib.nn.Embedding(6, 3, scale_grad_by_freq=True)
        emb.load_state_dict({"weight": lib.tensor(w)})
        (emb(lib.tensor(idx)) ** 3).sum().backward()
        grads.append(emb.weight.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6)


@pytest.mark.parametrize("kw", [dict(), dict(reduction="mean"), dict(reduction="batchmean"), dict(reduction="sum"),
                                dict(size_average=True), dict(reduce=False)])
def test_kl_div_warns_of_its_default_mean_and_legacy_args_as_torch(kw):
    # F.kl_div's default 'mean' warns in torch; the loss modules warned nothing of size_average / reduce
    import warnings

    seen = []
    for lib in (torch, nerve):
        inp, target = lib.log_softmax(lib.ones(3, 4), 1), lib.full((3, 4), 0.25)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lib.nn.functional.kl_div(inp, target, **kw)
            lib.nn.KLDivLoss(**kw)(inp, target)
            lib.kl_div(inp, target, 1)  # the op, with reduction 'mean' by number, never warns
        seen.append([(w.category, str(w.message)) for w in caught])
    assert seen[1] == seen[0]


@pytest.mark.parametrize("make", [lambda nn: nn.MSELoss(size_average=False),
                                  lambda nn: nn.CrossEntropyLoss(reduce=False),
                                  lambda nn: nn.BCELoss(size_average=True, reduce=True)])
def test_loss_modules_warn_of_legacy_size_average_and_reduce_as_torch(make):
    import warnings

    seen = []
    for lib in (torch, nerve):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss = make(lib.nn)
        seen.append((loss.reduction, [(w.category, str(w.message)) for w in caught]))
    assert seen[1] == seen[0]


def _warnings_of(fn):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [(w.category, str(w.message)) for w in caught]


def _schedulers(lib):
    s = lib.optim.lr_scheduler
    return [lambda o: s.StepLR(o, 2, 0.5), lambda o: s.MultiStepLR(o, [1, 3]), lambda o: s.ExponentialLR(o, 0.5),
            lambda o: s.CosineAnnealingLR(o, 4), lambda o: s.LinearLR(o, 0.5, total_iters=3),
            lambda o: s.ConstantLR(o, 0.5, 2), lambda o: s.PolynomialLR(o, 4), lambda o: s.CyclicLR(o, 0.01, 0.1, 2),
            lambda o: s.OneCycleLR(o, 1.0, total_steps=10), lambda o: s.CosineAnnealingWarmRestarts(o, 2),
            lambda o: s.LambdaLR(o, lambda e: 0.5 ** e), lambda o: s.MultiplicativeLR(o, lambda e: 0.5),
            lambda o: lib.optim.swa_utils.SWALR(o, swa_lr=0.05, anneal_epochs=2)]


@pytest.mark.parametrize("i", range(13))
def test_scheduler_get_lr_outside_step_warns_as_torch(i):
    # torch's schedulers warn that get_last_lr() is meant when get_lr() is called by hand (the values,
    # a chainable form's quirks included, already matched); stepping them warns of nothing
    seen = []
    for lib in (torch, nerve):
        opt = lib.optim.SGD([lib.nn.Parameter(lib.ones(1))], lr=0.1, momentum=0.9)
        sched, made = _warnings_of(lambda: _schedulers(lib)[i](opt))
        rows = [made]
        for _ in range(3):
            opt.step()
            rows.append(_warnings_of(sched.step)[1])
            rows.append(_warnings_of(lambda: [round(v, 10) for v in sched.get_lr()]))
        seen.append(rows)
    assert seen[1] == seen[0]


def test_scheduler_step_with_an_epoch_warns_in_torch_words():
    seen = []
    for lib in (torch, nerve):
        opt = lib.optim.SGD([lib.nn.Parameter(lib.ones(1))], lr=0.1)
        sched = lib.optim.lr_scheduler.StepLR(opt, 2)
        opt.step()
        seen.append(_warnings_of(lambda: sched.step(3))[1] + [sched.get_last_lr()])
    assert seen[1] == seen[0]


@pytest.mark.parametrize("cls, kw", [("Adam", dict(lr=0.1)), ("RMSprop", dict(lr=0.01)), ("SGD", dict(lr=0.1))])
def test_a_parameter_twice_in_a_group_warns_and_steps_as_torch(cls, kw):
    # torch warns and updates it once per entry; nerve refused the optimizer
    seen = []
    for lib in (torch, nerve):
        p, q = lib.nn.Parameter(lib.tensor([1.0, -2.0])), lib.nn.Parameter(lib.tensor([0.5]))
        opt, caught = _warnings_of(lambda: getattr(lib.optim, cls)([p, q, p], **kw))
        for _ in range(3):
            opt.zero_grad()
            ((p ** 2).sum() + q.sum() * p.sum()).backward()
            opt.step()
        seen.append((caught, p.detach().numpy(), q.detach().numpy()))
    assert seen[1][0] == seen[0][0]
    np.testing.assert_allclose(seen[1][1], seen[0][1], rtol=1e-6)
    np.testing.assert_allclose(seen[1][2], seen[0][2], rtol=1e-6)


def test_optimizer_repr_with_two_groups_as_torch():
    reprs = []
    for lib in (torch, nerve):
        groups = [{"params": [lib.nn.Parameter(lib.ones(1))]}, {"params": [lib.nn.Parameter(lib.ones(1))], "lr": 0.3}]
        reprs.append(repr(lib.optim.SGD(groups, lr=0.1, momentum=0.9)))
    assert reprs[1] == reprs[0]


def test_module_list_extends_with_another_container_as_torch():
    # `layers += nn.ModuleList([...])` raised TypeError in nerve
    reprs = []
    for lib in (torch, nerve):
        nn = lib.nn
        layers = nn.ModuleList([nn.ReLU()])
        layers += nn.ModuleList([nn.Tanh()])
        layers.extend(nn.Sequential(nn.ELU(), nn.Linear(2, 3)))
        with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
            layers.extend(nn.ReLU())
        reprs.append((repr(layers), [k for k, _ in layers.named_parameters()]))
    assert reprs[1] == reprs[0]


def test_parameter_dict_repr_names_tensor_types_as_torch():
    reprs = []
    for lib in (torch, nerve):
        values = {"a": lib.nn.Parameter(lib.ones(2, 3)), "b": lib.ones(1, dtype=lib.float64), "c": 3}
        params = lib.nn.ParameterDict(values)
        listed = lib.nn.ParameterList([values["a"], values["b"]])
        reprs.append((repr(params), repr(listed)))
    assert reprs[1][0] == reprs[0][0].replace("torch.", "nerve.")
    assert reprs[1][1] == reprs[0][1].replace("torch.", "nerve.")


@pytest.mark.parametrize("pad", [(-1, 2), (2, -1), (1, -3), (1, -2, 2, -1)])
def test_circular_pad_with_a_negative_amount_wraps_what_is_left_as_torch(pad):
    # torch crops first and wraps the cropped tensor; nerve wrapped the uncropped one
    x = np.random.default_rng(5).standard_normal((2, 3, 5, 7)[: 2 + len(pad) // 2])
    compare(torch, lambda t: NF.pad(t, pad, mode="circular"), lambda t: TF.pad(t, pad, mode="circular"), [x], [True])


@pytest.mark.parametrize("kw", [dict(normalized_shape=[5]), dict(normalized_shape=(4, 5), eps=1e-3),
                                dict(normalized_shape=5, elementwise_affine=False)])
def test_rms_norm_module_as_torch(kw):
    # nn.RMSNorm was missing (F.rms_norm was there)
    x = np.random.default_rng(6).standard_normal((2, 3, 4, 5)).astype(np.float32)
    w = np.random.default_rng(7).standard_normal(kw["normalized_shape"]).astype(np.float32)
    out = []
    for lib in (torch, nerve):
        norm = lib.nn.RMSNorm(**kw)
        if norm.weight is not None:
            norm.load_state_dict({"weight": lib.tensor(w)})
        t = lib.tensor(x, requires_grad=True)
        y = norm(t)
        (y * lib.tensor(x[..., ::-1].copy())).sum().backward()
        grads = [t.grad.numpy()] + [p.grad.numpy() for p in norm.parameters()]
        out.append((repr(norm), list(norm.state_dict()), y.detach().numpy(), grads))
    assert out[1][:2] == out[0][:2]
    np.testing.assert_allclose(out[1][2], out[0][2], rtol=1e-5, atol=1e-6)
    for a, b in zip(out[1][3], out[0][3]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(8, 16, 6), (16, 6)])
def test_dropout1d_zeroes_whole_channels_as_torch(shape):
    x = np.ones(shape, np.float32)
    for lib in (torch, nerve):
        lib.manual_seed(0)
        y = lib.nn.Dropout1d(0.5)(lib.tensor(x)).numpy()
        assert y.shape == shape and set(np.unique(y)) <= {0.0, 2.0}
        assert ((y == 0).all(-1) | (y == 2).all(-1)).all()  # a channel is dropped whole or kept whole
        assert 0.2 < (y == 0).mean() < 0.8
        drop = lib.nn.Dropout1d(0.5).eval()
        assert repr(drop) == "Dropout1d(p=0.5, inplace=False)"
        np.testing.assert_array_equal(drop(lib.tensor(x)).numpy(), x)
    errors = []
    for lib in (torch, nerve):
        with pytest.raises(RuntimeError) as caught:
            lib.nn.functional.dropout1d(lib.ones(2, 3, 4, 5), 0.5, training=False)
        errors.append(str(caught.value))
    assert errors[1] == errors[0]


@pytest.mark.parametrize("shapes", [((2, 3, 7), (7,), ()), ((7,), (7,), None), ((4, 7), (7,), None)])
def test_linear_with_a_vector_weight_as_torch(shapes):
    # F.linear(x, v) with a 1-D weight (a scoring vector) raised a shape error in nerve
    rng = np.random.default_rng(8)
    x, w, b = (None if s is None else rng.standard_normal(s) for s in shapes)
    if b is None:
        compare(torch, NF.linear, TF.linear, [x, w], [True, True])
    else:
        compare(torch, NF.linear, TF.linear, [x, w, b], [True, True, True])


def _encoder_outputs(make, call, grad=False):
    out = []
    for lib in (torch, nerve):
        torch.manual_seed(0)
        model, caught = _warnings_of(lambda: make(lib.nn))
        if lib is torch:
            state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        else:
            model.load_state_dict({k: nerve.tensor(v) for k, v in state.items()})
        model.eval()
        if grad:
            y = call(model, lib)
        else:
            with lib.no_grad():
                y = call(model, lib)
        out.append((y.detach().numpy(), caught))
    return out


_X = np.random.default_rng(9).standard_normal((2, 5, 8)).astype(np.float32)
_PAD = np.array([[False, False, False, True, True], [False] * 5])


@pytest.mark.parametrize("case", ["bool", "float", "norm", "gelu", "grad", "src_mask", "right_aligned",
                                  "not_batch_first", "odd_heads"])
def test_transformer_encoder_inference_zeroes_padded_positions_as_torch(case):
    # in eval without grad, torch runs a batch_first TransformerEncoder on nested tensors: its output
    # is 0 at the padded positions (nerve returned the layers' values there); elsewhere it runs the layers
    heads, width = (3, 9) if case == "odd_heads" else (2, 8)
    x = np.concatenate([_X, _X[..., :1]], -1) if case == "odd_heads" else _X

    def make(nn):
        layer = nn.TransformerEncoderLayer(width, heads, 16, batch_first=case != "not_batch_first",
                                           activation="gelu" if case == "gelu" else "relu")
        return nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(width) if case == "norm" else None)

    pad = _PAD.copy()
    if case == "right_aligned":
        pad[0] = [True, True, False, False, False]

    def call(model, lib):
        src = lib.tensor(x if case != "not_batch_first" else x.transpose(1, 0, 2).copy())
        mask = lib.tensor(np.where(pad, -np.inf, 0.0).astype(np.float32)) if case == "float" else lib.tensor(pad)
        kw = dict(mask=lib.tensor(np.triu(np.ones((5, 5), bool), 1))) if case == "src_mask" else {}
        y = model(src, src_key_padding_mask=mask, **kw)
        return y.transpose(0, 1) if case == "not_batch_first" else y

    (want, want_warned), (got, got_warned) = _encoder_outputs(make, call, grad=case == "grad")
    assert got_warned == want_warned
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("call", [
    lambda lib: lib.nn.functional.cross_entropy(lib.ones(2, 3), lib.full((2, 3), 1 / 3), ignore_index=1),
    lambda lib: lib.nn.CrossEntropyLoss(ignore_index=0)(lib.ones(2, 3), lib.full((2, 3), 1 / 3)),
    lambda lib: lib.nn.functional.cross_entropy(lib.ones(2, 3), lib.tensor([0, 1]), label_smoothing=1.5),
])
def test_cross_entropy_option_errors_as_torch(call):
    # probabilities with an ignore_index were computed as if it were not given; label_smoothing > 1
    # raised ValueError where torch raises RuntimeError
    errors = []
    for lib in (torch, nerve):
        with pytest.raises(Exception) as caught:
            call(lib)
        errors.append((caught.type, str(caught.value)))
    assert errors[1] == errors[0]


@pytest.mark.parametrize("name, call", [
    ("upsample", lambda lib: lib.nn.functional.upsample(lib.ones(1, 1, 2, 2), scale_factor=2)),
    ("upsample_nearest", lambda lib: lib.nn.functional.upsample_nearest(lib.ones(1, 1, 2, 2), scale_factor=2)),
    ("upsample_bilinear", lambda lib: lib.nn.functional.upsample_bilinear(lib.ones(1, 1, 2, 2), scale_factor=2)),
    ("clip_grad_norm", lambda lib: lib.nn.utils.clip_grad_norm([lib.nn.Parameter(lib.ones(2))], 1.0)),
    ("Upsample", lambda lib: lib.nn.Upsample(scale_factor=2)(lib.ones(1, 1, 2, 2))),
])
def test_deprecated_names_warn_as_torch(name, call):
    seen = []
    for lib in (torch, nerve):
        out, caught = _warnings_of(lambda: call(lib))
        seen.append((tuple(out.shape), caught))
    assert seen[1] == seen[0]


def _with_extra_state(nn):
    class Vocab(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(4, 2)
            self.words = ["a", "b"]

        def get_extra_state(self):
            return {"words": list(self.words)}

        def set_extra_state(self, state):
            self.words = state["words"]

    return nn.Sequential(Vocab(), nn.Linear(2, 1))


def test_extra_state_is_saved_and_loaded_as_torch():
    # get_extra_state / set_extra_state were ignored: the state was silently lost on save and load
    seen = []
    for lib in (torch, nerve):
        model = _with_extra_state(lib.nn)
        model[0].words = ["x", "y", "z"]
        state = model.state_dict()
        fresh = _with_extra_state(lib.nn)
        loaded = fresh.load_state_dict(state)
        partial = _with_extra_state(lib.nn).load_state_dict({k: v for k, v in state.items() if "extra" not in k},
                                                            strict=False)
        plain = lib.nn.Sequential(lib.nn.Embedding(4, 2), lib.nn.Linear(2, 1))
        with pytest.raises(RuntimeError) as caught:
            plain.load_state_dict({k.replace("0.embed.", "0."): v for k, v in state.items()})
        seen.append((list(state), state["0._extra_state"], fresh[0].words, tuple(loaded), tuple(partial),
                     str(caught.value).split("\n")[1]))
    assert seen[1] == seen[0]


def test_forward_hook_with_always_call_runs_when_forward_raises_as_torch():
    seen = []
    for lib in (torch, nerve):
        class Failing(lib.nn.Module):
            def forward(self, x):
                raise ValueError("boom")

        log = []
        model = Failing()
        model.register_forward_hook(lambda m, args, out: log.append(("always", out)), always_call=True)
        model.register_forward_hook(lambda m, args, out: log.append(("plain", out)))
        model.register_forward_hook(lambda m, args, kw, out: log.append(("kw", sorted(kw), out)), with_kwargs=True,
                                    always_call=True)
        with pytest.raises(ValueError, match="boom"):
            model(lib.ones(1))
        seen.append(log)
    assert seen[1] == seen[0]


def test_public_load_state_dict_pre_hook_and_module_compile_as_torch():
    seen = []
    for lib in (torch, nerve):
        model = lib.nn.Sequential(lib.nn.Linear(2, 1))
        log = []

        def rename(module, state, prefix, *rest):
            log.append((type(module).__name__, prefix))
            if prefix + "w" in state:
                state[prefix + "weight"] = state.pop(prefix + "w")

        model[0].register_load_state_dict_pre_hook(rename)
        keys = model.load_state_dict({"0.w": lib.ones(1, 2), "0.bias": lib.zeros(1)})
        y = model(lib.ones(1, 2)).tolist()
        out = model.compile()  # (torch's compiles on the next call: not made here, it takes seconds)
        seen.append((log, tuple(keys), model[0].weight.tolist(), out, y))
    assert seen[1] == seen[0]
    assert model(nerve.ones(1, 2)).tolist() == seen[1][-1]


def test_convolutions_carry_torch_attributes():
    # code that walks a model tells convolutions apart by `transposed` (Conv2d had none in nerve)
    for make in (lambda nn: nn.Conv1d(2, 3, 3), lambda nn: nn.Conv2d(2, 3, (3, 1), stride=2),
                 lambda nn: nn.ConvTranspose2d(2, 3, 3, output_padding=1, stride=2), lambda nn: nn.LazyConv2d(3, 3)):
        a, b = make(torch.nn), make(nerve.nn)
        names = ("transposed", "output_padding", "stride", "padding", "dilation", "groups", "padding_mode")
        assert [getattr(b, k) for k in names] == [getattr(a, k) for k in names]


@pytest.mark.parametrize("name, lambd", [("Hardshrink", 0.5), ("Softshrink", 0.5), ("Softshrink", 0.2)])
def test_shrink_modules_as_torch(name, lambd):
    # nn.Hardshrink, nn.Softshrink and F.softshrink were missing
    x = np.array([[-1.0, -0.5, -0.3, 0.0, 0.2, 0.5, 0.6, 2.0]])
    compare(torch, getattr(nerve.nn, name)(lambd), getattr(torch.nn, name)(lambd), [x], [True])
    assert repr(getattr(nerve.nn, name)(lambd)) == repr(getattr(torch.nn, name)(lambd))
    assert repr(getattr(nerve.nn, name)()) == repr(getattr(torch.nn, name)())


@pytest.mark.parametrize("sparsity", [0.1, 0.3, 0.5])
def test_init_sparse_as_torch(sparsity):
    # nn.init.sparse_ was missing: the same count of zeros per column, the rest small normal values
    counts = []
    for lib in (torch, nerve):
        lib.manual_seed(0)
        w = lib.empty(40, 6)
        assert lib.nn.init.sparse_(w, sparsity, std=0.02) is w
        a = w.numpy()
        counts.append([(a[:, j] == 0).sum() for j in range(6)])
        assert 0.01 < a[a != 0].std() < 0.03
    assert counts[1] == counts[0]
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        nerve.nn.init.sparse_(nerve.empty(3), 0.1)
    _, caught = _warnings_of(lambda: nerve.nn.init.sparse(nerve.empty(4, 3), 0.5))
    assert caught == _warnings_of(lambda: torch.nn.init.sparse(torch.empty(4, 3), 0.5))[1]


@pytest.mark.parametrize("which", ["mha", "layer", "encoder", "decoder_layer"])
def test_mismatched_mask_types_warn_once_as_torch(which):
    # a bool attention mask with a float padding mask: torch warns once, naming the arguments the user passed
    bool_mask = np.triu(np.ones((4, 4), bool), 1)
    float_pad = np.zeros((2, 4), np.float32)
    float_pad[0, 3] = -np.inf

    def make(nn):
        if which == "mha":
            return nn.MultiheadAttention(8, 2, batch_first=True)
        if which == "layer":
            return nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        if which == "encoder":
            return nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2)
        return nn.TransformerDecoderLayer(8, 2, 16, batch_first=True)

    def call(model, lib):
        x, am, pad = lib.tensor(_X[:, :4]), lib.tensor(bool_mask), lib.tensor(float_pad)
        if which == "mha":
            return model(x, x, x, attn_mask=am, key_padding_mask=pad)[0]
        if which == "layer":
            return model(x, src_mask=am, src_key_padding_mask=pad)
        if which == "encoder":
            return model(x, mask=am, src_key_padding_mask=pad)
        return model(x, x, tgt_mask=am, tgt_key_padding_mask=pad)

    seen = []
    for lib in (torch, nerve):
        model = make(lib.nn)
        y, caught = _warnings_of(lambda: call(model, lib))
        seen.append((tuple(y.shape), [w for w in caught if "nested tensors" not in w[1]]))
    assert seen[1] == seen[0]
    assert len(seen[0][1]) == 1
