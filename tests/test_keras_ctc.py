"""Keras's CTC: ``keras.ops.ctc_loss``, ``keras.ops.ctc_decode`` (greedy) and ``keras.losses.CTC``,
nerve.keras against Keras 3 (torch backend) on the same logits and labels, and a model trained
with ``fit`` on both from the same weights (see ``_keras_compare``)."""

import numpy as np
import pytest
from _keras_compare import K, both, keras, to_numpy

import nerve

RNG = np.random.default_rng(0)


def _labels(batch, length, classes, rng):
    """Labels 1..classes-1 padded with 0 (Keras's blank and padding), random lengths 0..length."""
    y = rng.integers(1, classes, (batch, length))
    for i, n in enumerate(rng.integers(0, length + 1, batch)):
        y[i, n:] = 0
    return y


def test_ops_ctc_loss_matches_keras():
    logits = RNG.normal(size=(5, 12, 6)).astype("float32") * 2
    target = _labels(5, 4, 6, RNG)
    out_len = np.array([12, 11, 7, 12, 3])
    tgt_len = (target != 0).sum(1)
    for mask_index in (0, 5):
        t = np.where(target == mask_index, (mask_index + 1) % 6, target) if mask_index else target
        ours = keras.ops.ctc_loss(t, logits, tgt_len, out_len, mask_index=mask_index)
        theirs = K.ops.ctc_loss(t, logits, tgt_len, out_len, mask_index=mask_index)
        assert tuple(ours.shape) == tuple(theirs.shape) == (5,)
        np.testing.assert_allclose(to_numpy(ours), to_numpy(theirs), rtol=1e-5, atol=1e-5)


def test_ctc_loss_object_value_and_gradient():
    import torch

    logits = RNG.normal(size=(4, 10, 5)).astype("float32")
    y = _labels(4, 3, 5, RNG)
    xo = nerve.tensor(logits, requires_grad=True)
    xt = torch.tensor(logits, requires_grad=True)
    ours, theirs = keras.losses.CTC()(y, xo), K.losses.CTC()(y, xt)
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-5)
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)
    # the function, the string name, per-sample values and the config
    np.testing.assert_allclose(to_numpy(keras.losses.ctc(y, logits)), to_numpy(K.losses.ctc(y, logits)), rtol=1e-5)
    # as Keras 3: get gives the function for its name (Keras's own get here, the same)
    assert keras.losses.get("ctc") is keras.losses.ctc and K.losses.get("ctc") is K.losses.ctc
    assert keras.losses.CTC(reduction="sum").get_config() == {"name": "ctc", "reduction": "sum"}
    with pytest.raises(ValueError, match="batch_size, max_length"):
        keras.losses.ctc(y[:, :, None], logits)


@pytest.mark.parametrize("merge_repeated", [True, False])
def test_greedy_decode_matches_keras(merge_repeated):
    scores = RNG.normal(size=(6, 9, 4)).astype("float32")
    scores[:, 2] = scores[:, 1]  # repeats to merge
    lengths = np.array([9, 8, 3, 9, 1, 5])
    for mask_index in (0, 3, None):
        ours = keras.ops.ctc_decode(scores, lengths, merge_repeated=merge_repeated, mask_index=mask_index)
        theirs = K.ops.ctc_decode(scores, lengths, merge_repeated=merge_repeated, mask_index=mask_index)
        for a, b in zip(ours, theirs):
            assert tuple(a.shape) == tuple(b.shape) and a.dtype.name == K.backend.standardize_dtype(b.dtype)
            np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-6)
    with pytest.raises(NotImplementedError, match="beam_search"):
        keras.ops.ctc_decode(scores, lengths, strategy="beam_search")


def test_fit_with_ctc_loss_matches_keras():
    # frames are a noisy one-hot of the label being read (each held two frames); a per-frame Dense
    # layer learns to read them; both libraries take the same steps from the same weights
    rng = np.random.default_rng(1)
    n, frames, classes = 32, 10, 5
    y = np.zeros((n, 3), "int64")
    x = rng.normal(0, 0.1, (n, frames, classes)).astype("float32")
    for i in range(n):
        seq = rng.integers(1, classes, rng.integers(1, 4))
        y[i, :len(seq)] = seq
        for j, k in enumerate(seq):
            x[i, 3 * j:3 * j + 2, k] += 1.0

    def build(lib, L):
        return lib.Sequential([L.Input((frames, classes)), L.Dense(classes)])

    theirs, ours = both(build)
    theirs.compile(optimizer=K.optimizers.Adam(0.1), loss=K.losses.CTC())
    ours.compile(optimizer=keras.optimizers.Adam(0.1), loss=keras.losses.CTC())
    h_theirs = theirs.fit(x, y, batch_size=8, epochs=15, shuffle=False, verbose=0)
    h_ours = ours.fit(x, y, batch_size=8, epochs=15, shuffle=False, verbose=0)
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=1e-4)
    assert h_ours.history["loss"][-1] < 0.1 * h_ours.history["loss"][0]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    decoded, _ = keras.ops.ctc_decode(ours.predict(x, verbose=0), np.full(n, frames))
    got = [[k for k in row if k >= 0] for row in decoded[0].numpy()]
    assert sum(g == [k for k in row if k] for g, row in zip(got, y)) >= 0.8 * n
