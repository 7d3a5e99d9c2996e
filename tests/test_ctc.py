"""CTC loss (``F.ctc_loss``, ``nn.CTCLoss``) against PyTorch: losses and gradients on random
lengths, blanks, repeats, padded and concatenated targets, impossible targets, every reduction;
a numeric gradient check; the errors; and a small model that learns to emit sequences."""

import numpy as np
import pytest

import nerve
import nerve.nn as nn
import nerve.nn.functional as NF
from nerve.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _case(rng, dtype):
    t = int(rng.integers(1, 12))
    n = int(rng.integers(1, 5))
    c = int(rng.integers(2, 7))
    s = int(rng.integers(0, 6))
    blank = int(rng.integers(0, c))
    labels = rng.integers(0, c - 1, (n, s))
    labels = labels + (labels >= blank)  # never the blank
    if s > 1 and rng.random() < 0.3:
        labels[:, 1] = labels[:, 0]  # a repeated label needs a blank between the two
    return dict(logits=rng.standard_normal((t, n, c)).astype(dtype), labels=labels, blank=blank,
                il=rng.integers(0, t + 1, n), tl=rng.integers(0, s + 1, n))


def _run(lib, F, case, reduction, zero_infinity, concat, weights):
    x = lib.tensor(case["logits"], requires_grad=True)
    lp = x.log_softmax(2)
    lp.retain_grad()
    labels, tl = case["labels"], case["tl"]
    tg = np.concatenate([labels[i, :tl[i]] for i in range(len(tl))]) if concat else labels
    loss = F.ctc_loss(lp, lib.tensor(tg), lib.tensor(case["il"]), lib.tensor(tl), blank=case["blank"],
                      reduction=reduction, zero_infinity=zero_infinity)
    (loss * lib.tensor(weights) if reduction == "none" else loss).sum().backward()
    return loss.detach().numpy(), x.grad.numpy(), lp.grad.numpy()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_cases_match_torch(dtype):
    rng = np.random.default_rng(0 if dtype == "float32" else 1)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    impossible = 0
    for i in range(60):
        case = _case(rng, dtype)
        reduction = ("none", "mean", "sum")[i % 3]
        zero_inf, concat = i % 4 == 0, i % 5 == 0
        weights = rng.standard_normal(len(case["il"])).astype(dtype)
        ours = _run(nerve, NF, case, reduction, zero_inf, concat, weights)
        ref = _run(torch, TF, case, reduction, zero_inf, concat, weights)
        impossible += int(np.isinf(ref[0]).any() or np.isnan(ref[1]).any())
        for a, b, what in zip(ours, ref, ("loss", "logits' grad", "log_probs' grad")):
            np.testing.assert_allclose(a, b, **tol, equal_nan=True, err_msg=f"case {i} {reduction}: {what}")
    assert impossible > 0  # the cases did include targets too long for their inputs


def test_impossible_target_inf_or_zero():
    # a target of 3 labels with 2 frames: inf (and NaN gradients, as PyTorch), or 0 with zero_infinity
    lp = nerve.randn(2, 1, 4).log_softmax(2)
    args = (nerve.tensor([[1, 2, 3]]), nerve.tensor([2]), nerve.tensor([3]))
    assert NF.ctc_loss(lp, *args, reduction="sum").item() == float("inf")
    x = nerve.randn(2, 1, 4, requires_grad=True)
    loss = NF.ctc_loss(x.log_softmax(2), *args, reduction="sum", zero_infinity=True)
    loss.backward()
    assert loss.item() == 0.0 and not x.grad.numpy().any()


def test_numeric_gradient_through_log_softmax():
    rng = np.random.default_rng(3)
    x = nerve.tensor(rng.standard_normal((7, 2, 5)), dtype="float64", requires_grad=True)
    tg, il, tl = nerve.tensor([[1, 1, 3], [4, 2, 0]]), nerve.tensor([7, 5]), nerve.tensor([3, 2])
    assert gradcheck(lambda a: NF.ctc_loss(a.log_softmax(2), tg, il, tl, blank=0), (x,))


def test_unbatched_lists_and_module():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((6, 5)).astype(np.float32)
    ours = NF.ctc_loss(nerve.tensor(logits).log_softmax(1), nerve.tensor([1, 2, 2]), nerve.tensor(6),
                       nerve.tensor(3), reduction="none")
    ref = TF.ctc_loss(torch.tensor(logits).log_softmax(1), torch.tensor([1, 2, 2]), torch.tensor(6),
                      torch.tensor(3), reduction="none")
    assert tuple(ours.shape) == () == tuple(ref.shape)
    np.testing.assert_allclose(ours.item(), ref.item(), rtol=1e-5)
    # lengths as tuples, the module's options, and its repr as PyTorch prints it
    logits = rng.standard_normal((8, 2, 4)).astype(np.float32)
    m, tm = nn.CTCLoss(blank=3, reduction="sum"), torch.nn.CTCLoss(blank=3, reduction="sum")
    xa, xb = nerve.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    a = m(xa.log_softmax(2), nerve.tensor([[0, 1], [2, 2]]), (8, 7), (2, 2))
    b = tm(xb.log_softmax(2), torch.tensor([[0, 1], [2, 2]]), (8, 7), (2, 2))
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-5)
    assert repr(m) == repr(tm) == "CTCLoss()"
    node = a.grad_fn.next_functions[0][0]  # as PyTorch prints the nodes: <SumBackward0 object at ...>
    assert repr(a.grad_fn).split()[0] == repr(b.grad_fn).split()[0] == "<SumBackward0"
    assert repr(node).split()[0] == repr(b.grad_fn.next_functions[0][0]).split()[0] == "<CtcLossBackward0"


@pytest.mark.parametrize("call, message", [
    (lambda lp, tg: NF.ctc_loss(lp, tg, (7, 5, 3), (3, 2, 0)), "input_lengths to have values between 0 and T=6"),
    (lambda lp, tg: NF.ctc_loss(lp, tg, (6, 5, 3), (4, 2, 0)), "a target length is 4"),
    (lambda lp, tg: NF.ctc_loss(lp, tg, (6, 5), (3, 2, 0)), "input_lengths must be of size batch_size"),
    (lambda lp, tg: NF.ctc_loss(lp, tg, (6, 5, 3), (3, 2, 0), blank=5), "blank must be in label range"),
    (lambda lp, tg: NF.ctc_loss(lp, tg, nerve.tensor([6.0, 5, 3]), (3, 2, 0)), "input_lengths must be integral"),
    (lambda lp, tg: NF.ctc_loss(lp[:, :, None], tg, (6, 5, 3), (3, 2, 0)), "(T, N, C) or (T, C)"),
    (lambda lp, tg: NF.ctc_loss(lp, tg, (6, 5, 3), (3, 2, -1)), "target_lengths to have values at least 0"),
    (lambda lp, tg: NF.ctc_loss(lp, tg[:2], (6, 5, 3), (3, 2, 0)), "for a batch of 3"),
    (lambda lp, tg: NF.ctc_loss(lp, tg.reshape(-1)[:4], (6, 5, 3), (3, 2, 0)), "add up to 5"),
    (lambda lp, tg: NF.ctc_loss(lp, tg + 10, (6, 5, 3), (3, 2, 0)), "out of range for 5 classes"),
    (lambda lp, tg: NF.ctc_loss(lp, tg * 0, (6, 5, 3), (3, 2, 0)), "contain the blank index 0"),
    (lambda lp, tg: NF.ctc_loss(lp, tg, (6, 5, 3), (3, 2, 0), reduction="x"), "reduction"),
])
def test_errors(call, message):
    lp = nerve.randn(6, 3, 5).log_softmax(2)
    tg = nerve.randint(1, 5, (3, 3))
    with pytest.raises((RuntimeError, IndexError, ValueError), match=message.replace("(", r"\(").replace(")", r"\)")):
        call(lp, tg)


def test_a_model_learns_to_emit_sequences():
    # frames carry a noisy one-hot of the label being spoken, each label held 2-3 frames with
    # silent frames between words; a per-frame linear layer trained with CTC learns to read them
    rng = np.random.default_rng(5)
    n, t, c = 64, 16, 5
    x = np.zeros((t, n, c), np.float32)
    targets, lengths = np.zeros((n, 4), np.int64), np.zeros(n, np.int64)
    for i in range(n):
        seq = rng.integers(1, c, rng.integers(1, 5))
        frame = 0
        for k in seq:
            hold = int(rng.integers(2, 4))
            x[frame:frame + hold, i, k] = 1.0
            frame += hold + 1  # one silent frame between labels keeps repeats apart
        targets[i, :len(seq)], lengths[i] = seq, len(seq)
    x += rng.normal(0, 0.1, x.shape).astype(np.float32)
    nerve.manual_seed(0)
    model = nn.Linear(c, c)
    opt = nerve.optim.Adam(model.parameters(), lr=0.05)
    ctc = nn.CTCLoss()
    xt, tt, il, tl = nerve.tensor(x), nerve.tensor(targets), nerve.full((n,), t, dtype=nerve.long), nerve.tensor(lengths)
    losses = []
    for _ in range(150):
        loss = ctc(model(xt).log_softmax(2), tt, il, tl)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    # greedy decoding: best class per frame, repeats merged, blanks dropped
    best = model(xt).argmax(2).numpy()
    right = 0
    for i in range(n):
        out = [k for j, k in enumerate(best[:, i]) if k != 0 and (j == 0 or k != best[j - 1, i])]
        right += out == list(targets[i, :lengths[i]])
    assert right >= 0.95 * n
