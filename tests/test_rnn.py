"""RNN, LSTM, GRU and their cells against torch.nn: names, shapes, outputs, states, gradients, errors."""

import time

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.backend import to_numpy

torch = pytest.importorskip("torch")

TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-5, atol=1e-5)}
MODES = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]
MODE_IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
CONFIGS = {
    "one_layer": {},
    "two_layers": {"num_layers": 2},
    "bidirectional": {"bidirectional": True},
    "two_layers_bidirectional": {"num_layers": 2, "bidirectional": True},
    "batch_first": {"batch_first": True, "num_layers": 2},
    "no_bias": {"bias": False, "bidirectional": True},
}


def _np(t):
    return to_numpy(t.detach()._data)


def _pair(cls, dtype="float64", device="cpu", seed=0, **kw):
    """A torch module with a fixed seed and a nerve module holding the same weights."""
    torch.manual_seed(seed)
    tm = getattr(torch.nn, cls)(**kw).to(getattr(torch, dtype))
    nm = getattr(nn, cls)(**kw, dtype=getattr(nerve, dtype)).to(device)
    nm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, nm


def _flat(out):
    """(output, h) or (output, (h, c)) or h or (h, c) as a flat list."""
    if not isinstance(out, tuple):
        return [out]
    return [t for o in out for t in _flat(o)]


def _compare(tm, nm, arrays, call, dtype="float64", device="cpu", seed=1):
    """Run ``call(module, *tensors)`` on both, compare every output, then the gradients of a random
    projection of all outputs with respect to every parameter and every input."""
    tol = TOL[dtype]
    arrays = [a.astype(dtype) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ns = [nerve.tensor(a, requires_grad=True, device=device) for a in arrays]
    outs_t, outs_n = _flat(call(tm, *ts)), _flat(call(nm, *ns))
    assert len(outs_t) == len(outs_n)
    rng = np.random.default_rng(seed)
    loss_t = loss_n = 0
    for i, (a, b) in enumerate(zip(outs_n, outs_t)):
        assert tuple(a.shape) == tuple(b.shape), f"output {i}: shape {tuple(a.shape)} != torch's {tuple(b.shape)}"
        np.testing.assert_allclose(_np(a), b.detach().numpy(), err_msg=f"output {i}", **tol)
        w = rng.standard_normal(tuple(b.shape)).astype(dtype)
        loss_t = loss_t + (b * torch.tensor(w)).sum()
        loss_n = loss_n + (a * nerve.tensor(w, device=device)).sum()
    loss_t.backward()
    loss_n.backward()
    for i, (a, b) in enumerate(zip(ns, ts)):
        assert a.grad is not None, f"input {i} got no gradient"
        np.testing.assert_allclose(_np(a.grad), b.grad.numpy(), err_msg=f"gradient of input {i}", **tol)
    named_t = dict(tm.named_parameters())
    for name, p in nm.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        np.testing.assert_allclose(_np(p.grad), named_t[name].grad.numpy(), err_msg=f"gradient of {name}", **tol)


def _states(cls, shape, rng, proj_size=0, hidden=None):
    """Initial states: h0 (and c0 for LSTM, of the hidden size rather than the projection size)."""
    if cls != "LSTM":
        return [rng.standard_normal(shape)]
    hshape = shape[:-1] + (proj_size or shape[-1],)
    return [rng.standard_normal(hshape), rng.standard_normal(shape[:-1] + (hidden or shape[-1],))]


@pytest.mark.parametrize("config", list(CONFIGS), ids=list(CONFIGS))
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_matches_torch(mode, config, device):
    cls, kw = mode
    kw = dict(input_size=4, hidden_size=3, **kw, **CONFIGS[config])
    tm, nm = _pair(cls, device=device, **kw)
    x = np.random.default_rng(0).standard_normal((2, 5, 4) if kw.get("batch_first") else (5, 2, 4))
    _compare(tm, nm, [x], lambda m, x: m(x), device=device)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_given_hx_matches_torch(mode, batch_first, device):
    cls, kw = mode
    tm, nm = _pair(cls, device=device, input_size=4, hidden_size=3, num_layers=2, bidirectional=True,
                   batch_first=batch_first, **kw)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 4) if batch_first else (6, 2, 4))
    states = _states(cls, (4, 2, 3), rng)
    if cls == "LSTM":
        _compare(tm, nm, [x, *states], lambda m, x, h, c: m(x, (h, c)), device=device)
    else:
        _compare(tm, nm, [x, *states], lambda m, x, h: m(x, h), device=device)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_unbatched_matches_torch(mode, with_hx, batch_first):
    cls, kw = mode
    tm, nm = _pair(cls, input_size=4, hidden_size=3, num_layers=2, bidirectional=True, batch_first=batch_first,
                   **kw)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4))
    if not with_hx:
        _compare(tm, nm, [x], lambda m, x: m(x))
    elif cls == "LSTM":
        _compare(tm, nm, [x, *_states(cls, (4, 3), rng)], lambda m, x, h, c: m(x, (h, c)))
    else:
        _compare(tm, nm, [x, *_states(cls, (4, 3), rng)], lambda m, x, h: m(x, h))


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_float32_matches_torch(mode):
    cls, kw = mode
    tm, nm = _pair(cls, dtype="float32", input_size=6, hidden_size=8, num_layers=2, bidirectional=True, **kw)
    x = np.random.default_rng(4).standard_normal((7, 3, 6))
    _compare(tm, nm, [x], lambda m, x: m(x), dtype="float32")
    assert nm(nerve.tensor(x.astype("float32")))[0].dtype == nerve.float32


@pytest.mark.parametrize("config", [{}, {"num_layers": 2, "bidirectional": True}, {"batch_first": True},
                                    {"bias": False}], ids=["one_layer", "two_bidirectional", "batch_first",
                                                          "no_bias"])
def test_lstm_projection_matches_torch(config):
    tm, nm = _pair("LSTM", input_size=4, hidden_size=5, proj_size=2, **config)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 4) if config.get("batch_first") else (6, 2, 4))
    _compare(tm, nm, [x], lambda m, x: m(x))
    D = 2 if config.get("bidirectional") else 1
    L = config.get("num_layers", 1)
    states = _states("LSTM", (L * D, 2, 5), rng, proj_size=2)
    _compare(tm, nm, [x, *states], lambda m, x, h, c: m(x, (h, c)))


def test_long_sequence_matches_torch():
    tm, nm = _pair("LSTM", input_size=3, hidden_size=4, num_layers=2)
    x = np.random.default_rng(6).standard_normal((60, 2, 3))
    _compare(tm, nm, [x], lambda m, x: m(x))


CELLS = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}), ("GRUCell", {}),
         ("LSTMCell", {"bias": False}), ("GRUCell", {"bias": False})]
CELL_IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru", "lstm_no_bias", "gru_no_bias"]


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
def test_cells_match_torch(cell, batched, with_hx, device):
    cls, kw = cell
    tm, nm = _pair(cls, device=device, input_size=4, hidden_size=3, **kw)
    rng = np.random.default_rng(7)
    lead = (2,) if batched else ()
    x = rng.standard_normal(lead + (4,))
    lstm = cls == "LSTMCell"
    if not with_hx:
        _compare(tm, nm, [x], lambda m, x: m(x), device=device)
    elif lstm:
        states = [rng.standard_normal(lead + (3,)) for _ in range(2)]
        _compare(tm, nm, [x, *states], lambda m, x, h, c: m(x, (h, c)), device=device)
    else:
        _compare(tm, nm, [x, rng.standard_normal(lead + (3,))], lambda m, x, h: m(x, h), device=device)


@pytest.mark.parametrize("cell", CELLS[:4], ids=CELL_IDS[:4])
def test_cell_unrolled_loop_matches_torch(cell):
    """A cell called step by step, as users write decoders: gradients flow through every step."""
    cls, kw = cell
    tm, nm = _pair(cls, input_size=4, hidden_size=3, **kw)
    x = np.random.default_rng(8).standard_normal((5, 2, 4))

    def unroll(m, x):
        state, outs = None, []
        for t in range(x.shape[0]):
            state = m(x[t], state)
            outs.append(state[0] if isinstance(state, tuple) else state)
        return tuple(outs)

    _compare(tm, nm, [x], unroll)


@pytest.mark.parametrize("cls,kw", [
    ("RNN", {"num_layers": 2, "bidirectional": True, "nonlinearity": "relu"}),
    ("LSTM", {"num_layers": 3, "bidirectional": True}),
    ("LSTM", {"num_layers": 2, "proj_size": 2, "bidirectional": True}),
    ("LSTM", {"num_layers": 2, "bias": False, "proj_size": 2}),
    ("GRU", {"num_layers": 2, "bias": False}),
    ("RNNCell", {}), ("LSTMCell", {"bias": False}), ("GRUCell", {}),
])
def test_parameter_names_and_shapes_match_torch(cls, kw):
    torch.manual_seed(0)
    tm = getattr(torch.nn, cls)(5, 4, **kw)
    nm = getattr(nn, cls)(5, 4, **kw)
    assert [(k, tuple(v.shape)) for k, v in nm.named_parameters()] == \
           [(k, tuple(v.shape)) for k, v in tm.named_parameters()]
    assert list(nm.state_dict()) == list(tm.state_dict())
    assert repr(nm) == repr(tm)
    if not cls.endswith("Cell"):
        assert [[tuple(p.shape) for p in ps] for ps in nm.all_weights] == \
               [[tuple(p.shape) for p in ps] for ps in tm.all_weights]
        nm.flatten_parameters()  # scripts call it; a no-op here


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU", "LSTMCell"])
def test_init_is_uniform_within_one_over_sqrt_hidden(cls):
    nerve.manual_seed(0)
    m = getattr(nn, cls)(30, 25, **({"num_layers": 2} if not cls.endswith("Cell") else {}))
    bound = 1 / np.sqrt(25)
    for name, p in m.named_parameters():
        v = _np(p)
        assert v.dtype == np.float32, name
        assert np.abs(v).max() <= bound, name
        if v.size >= 100:
            assert v.std() == pytest.approx(bound / np.sqrt(3), rel=0.1), name  # std of U(-b, b)


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_dropout_only_while_training(cls):
    tm, nm = _pair(cls, input_size=4, hidden_size=6, num_layers=3, dropout=0.5)
    x = np.random.default_rng(9).standard_normal((5, 2, 4))
    tm.eval()
    nm.eval()
    _compare(tm, nm, [x], lambda m, x: m(x))  # eval: no dropout, so torch's numbers exactly
    xn = nerve.tensor(x)
    nm.train()
    nerve.manual_seed(1)
    y1 = _np(nm(xn)[0])
    y2 = _np(nm(xn)[0])
    nm.eval()
    y_eval = _np(nm(xn)[0])
    assert not np.allclose(y1, y_eval) and not np.allclose(y1, y2)  # masks differ from call to call
    first = nn.LSTM(4, 6, num_layers=1, dropout=0.0).train()  # one layer: dropout never applies
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        one = nn.LSTM(4, 6, num_layers=1, dropout=0.5).train()
    one.load_state_dict(first.state_dict())
    xf = nerve.tensor(x.astype("float32"))
    np.testing.assert_array_equal(_np(one(xf)[0]), _np(first(xf)[0]))


def test_input_and_state_errors_match_torch():
    m = nn.LSTM(4, 3, num_layers=2)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 4, got 5"):
        m(nerve.randn(6, 2, 5))
    with pytest.raises(ValueError, match="LSTM: Expected input to be 2D or 3D, got 4D tensor instead"):
        m(nerve.randn(6, 2, 4, 1))
    with pytest.raises(ValueError, match="RNN input dtype \\(nerve.float64\\) does not match weight dtype"):
        m(nerve.randn(6, 2, 4, dtype=nerve.float64))
    h, c = nerve.zeros(2, 2, 3), nerve.zeros(2, 2, 3)
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(2, 2, 3\), got \[1, 2, 3\]"):
        m(nerve.randn(6, 2, 4), (nerve.zeros(1, 2, 3), c))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(2, 2, 3\), got \[2, 5, 3\]"):
        m(nerve.randn(6, 2, 4), (h, nerve.zeros(2, 5, 3)))
    with pytest.raises(RuntimeError, match=r"For unbatched 2-D input, hx and cx should also be 2-D but got "
                                           r"\(3-D, 3-D\) tensors"):
        m(nerve.randn(6, 4), (h, c))
    g = nn.GRU(4, 3)
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 2, 3\), got \[1, 3, 3\]"):
        g(nerve.randn(6, 2, 4), nerve.zeros(1, 3, 3))
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx should also be 3-D but got 2-D tensor"):
        g(nerve.randn(6, 2, 4), nerve.zeros(2, 3))
    with pytest.raises(RuntimeError, match="Input and hidden tensors are not the same dtype, found input tensor "
                                           "with nerve.float32 and hidden tensor with nerve.float64"):
        g(nerve.randn(6, 2, 4), nerve.zeros(1, 2, 3, dtype=nerve.float64))
    with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0 in RNN"):
        g(nerve.randn(0, 2, 4))
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        nn.RNN(4, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(4, 3, proj_size=3)
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.GRU(4, 3, dropout=1.5)


def test_cell_errors_match_torch():
    c = nn.LSTMCell(4, 3)
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 5 expected 4"):
        c(nerve.randn(2, 5))
    with pytest.raises(RuntimeError, match="hidden0 has inconsistent hidden_size: got 2, expected 3"):
        c(nerve.randn(2, 4), (nerve.randn(2, 2), nerve.randn(2, 3)))
    with pytest.raises(RuntimeError, match="Input batch size 2 doesn't match hidden1 batch size 3"):
        c(nerve.randn(2, 4), (nerve.randn(2, 3), nerve.randn(3, 3)))
    with pytest.raises(ValueError, match="LSTMCell: Expected input to be 1D or 2D, got 3D instead"):
        c(nerve.randn(1, 2, 4))
    with pytest.raises(ValueError, match="GRUCell: Expected hidden to be 1D or 2D, got 3D instead"):
        nn.GRUCell(4, 3)(nerve.randn(2, 4), nerve.randn(1, 2, 3))


@pytest.mark.parametrize("mode,proj", [("RNN_TANH", 0), ("RNN_RELU", 0), ("LSTM", 0), ("LSTM", 2), ("GRU", 0)])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_numeric_gradients(mode, proj, reverse, device):
    """The time loop's hand-written backward against central finite differences (float64)."""
    from nerve.autograd import gradcheck
    from nerve.nn.modules.rnn import Scan

    rng = np.random.default_rng(10)
    L, N, H = 4, 2, 3
    G = {"LSTM": 4, "GRU": 3}.get(mode, 1) * H
    P = proj or H
    shapes = [(L, N, G), (N, P), (N, H) if mode == "LSTM" else None, (G, P), (G,), (P, H) if proj else None]
    ts = [None if s is None else nerve.tensor(rng.uniform(0.1, 1, s) if mode == "RNN_RELU" else
                                               rng.standard_normal(s), device=device, requires_grad=True)
          for s in shapes]
    assert gradcheck(lambda *a: Scan.apply(*a, mode=mode, reverse=reverse), ts)


def test_no_grad_records_nothing():
    m = nn.GRU(4, 3, num_layers=2)
    with nerve.no_grad():
        y, h = m(nerve.randn(5, 2, 4))
    assert y.grad_fn is None and h.grad_fn is None and not y.requires_grad


def test_lstm_learns_the_sign_of_a_sum():
    """A small LSTM with Adam learns whether a sequence of +-1 and noise sums above zero."""
    nerve.manual_seed(0)
    rng = np.random.default_rng(0)
    x = (rng.choice([-1.0, 1.0], size=(512, 11, 1)) + 0.1 * rng.standard_normal((512, 11, 1))).astype("float32")
    y = (x.sum(axis=(1, 2)) > 0).astype("int64")
    lstm = nn.LSTM(1, 16, batch_first=True)
    head = nn.Linear(16, 2)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = nerve.optim.Adam(params, lr=0.02)
    xt, yt = nerve.tensor(x), nerve.tensor(y)
    start = time.perf_counter()
    for _ in range(60):
        for i in range(0, 512, 128):
            out, (h, _) = lstm(xt[i:i + 128])
            loss = nn.functional.cross_entropy(head(h[-1]), yt[i:i + 128])
            opt.zero_grad()
            loss.backward()
            opt.step()
    elapsed = time.perf_counter() - start
    xv = (rng.choice([-1.0, 1.0], size=(512, 11, 1)) + 0.1 * rng.standard_normal((512, 11, 1))).astype("float32")
    yv = (xv.sum(axis=(1, 2)) > 0).astype("int64")
    with nerve.no_grad():
        _, (h, _) = lstm(nerve.tensor(xv))
        acc = (_np(head(h[-1])).argmax(1) == yv).mean()
    assert acc >= 0.95, f"validation accuracy {acc:.3f} after {elapsed:.1f} s"


# ---- packed sequences (nn.utils.rnn) ----

def _packed_call(lengths, batch_first, enforce_sorted, with_hx, lstm):
    """A function of (x[, h, c]) that packs x, runs the module and returns the padded output and states."""

    def call(m, x, *states):
        rnn = nn.utils.rnn if isinstance(m, nn.Module) else torch.nn.utils.rnn
        packed = rnn.pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
        hx = None if not with_hx else (tuple(states) if lstm else states[0])
        out, h = m(packed, hx)
        assert isinstance(out, rnn.PackedSequence)
        assert out.batch_sizes.tolist() == packed.batch_sizes.tolist()
        padded, lens = rnn.pad_packed_sequence(out, batch_first=batch_first, padding_value=-1.0)
        assert lens.tolist() == list(lengths)
        return (out.data, padded, h)

    return call


@pytest.mark.parametrize("mode", MODES + [("LSTM", {"proj_size": 2})], ids=MODE_IDS + ["lstm_proj"])
@pytest.mark.parametrize("batch_first,enforce_sorted,with_hx", [(False, True, False), (True, False, False),
                                                                (False, False, True)],
                         ids=["sorted", "unsorted_batch_first", "unsorted_hx"])
def test_packed_sequence_matches_torch(mode, batch_first, enforce_sorted, with_hx, device):
    cls, kw = mode
    tm, nm = _pair(cls, device=device, input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                   batch_first=batch_first, **kw)
    lengths = [5, 4, 4, 2, 1] if enforce_sorted else [3, 5, 1, 4, 5]
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 6, 3) if batch_first else (6, 5, 3))  # padded one step past the longest
    arrays = [x] + (_states(cls, (4, 5, 4), rng, proj_size=kw.get("proj_size", 0)) if with_hx else [])
    lstm = cls == "LSTM"
    _compare(tm, nm, arrays, _packed_call(lengths, batch_first, enforce_sorted, with_hx, lstm),
             device=device)


def test_pack_and_pad_utilities_match_torch():
    trnn, nrnn = torch.nn.utils.rnn, nn.utils.rnn
    rng = np.random.default_rng(12)
    seqs = [rng.standard_normal((n, 2)) for n in (3, 5, 1)]
    ts = [torch.tensor(s) for s in seqs]
    ns = [nerve.tensor(s) for s in seqs]
    for kw in [{}, {"batch_first": True, "padding_value": 7.0}, {"padding_side": "left"}]:
        np.testing.assert_array_equal(_np(nrnn.pad_sequence(ns, **kw)), trnn.pad_sequence(ts, **kw).numpy())
    pt, pn = trnn.pack_sequence(ts, enforce_sorted=False), nrnn.pack_sequence(ns, enforce_sorted=False)
    np.testing.assert_array_equal(_np(pn.data), pt.data.numpy())
    assert pn.batch_sizes.tolist() == pt.batch_sizes.tolist()
    assert pn.sorted_indices.tolist() == pt.sorted_indices.tolist()
    assert pn.unsorted_indices.tolist() == pt.unsorted_indices.tolist()
    yt, lt = trnn.pad_packed_sequence(pt, batch_first=True, total_length=7)
    yn, ln = nrnn.pad_packed_sequence(pn, batch_first=True, total_length=7)
    np.testing.assert_array_equal(_np(yn), yt.numpy())
    assert ln.tolist() == lt.tolist()
    for a, b in zip(nrnn.unpack_sequence(pn), seqs):
        np.testing.assert_array_equal(_np(a), b)
    with pytest.raises(RuntimeError, match="`lengths` array must be sorted in decreasing order"):
        nrnn.pack_sequence(ns)
    with pytest.raises(ValueError, match="Expected total_length to be at least the length of the longest"):
        nrnn.pad_packed_sequence(pn, total_length=2)
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        nrnn.pack_padded_sequence(nerve.zeros(3, 2, 1), [2, 0])


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_one_input_gemm_and_one_time_loop_per_layer_and_direction(cls):
    """The graph of a 2-layer bidirectional model over 30 steps holds 4 linear ops and 4 scans, not one op per step."""
    m = getattr(nn, cls)(3, 4, num_layers=2, bidirectional=True)
    out, _ = m(nerve.randn(30, 2, 3, requires_grad=True))
    names, seen, todo = [], set(), [out.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is None or id(fn) in seen or not getattr(fn, "_is_fn", False):
            continue
        seen.add(id(fn))
        names.append(fn.name)
        todo.extend(fn.parents)
    assert names.count("linear") == 4 and names.count("scan") == 4
    assert len(names) < 20


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "LSTMCell", "GRUCell"])
def test_saturated_gates_stay_finite_and_quiet(cls):
    """Pre-activations of +-1e4 saturate the gates without overflow warnings, NaNs or infinities."""
    import warnings

    m = getattr(nn, cls)(2, 3)
    x = nerve.tensor(np.array([[[-1e4, 1e4]], [[1e4, -1e4]]], dtype="float32"), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = m(x[0]) if cls.endswith("Cell") else m(x)
        first = out[0] if isinstance(out, tuple) else out
        first.sum().backward()
    assert np.isfinite(_np(first)).all() and np.isfinite(_np(x.grad)).all()
