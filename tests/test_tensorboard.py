"""``nerve.utils.tensorboard.SummaryWriter`` against PyTorch's: the same calls write logs that
TensorBoard's own reader (``EventAccumulator``, which checks every record's CRC) reads back the
same; the event files' names and folders; the graph; and the Keras ``TensorBoard`` callback."""

import os

import numpy as np
import pytest

import nerve
from nerve.utils.tensorboard import SummaryWriter

torch = pytest.importorskip("torch")
pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from torch.utils.tensorboard import SummaryWriter as TorchWriter  # noqa: E402

ALL = {"scalars": 0, "histograms": 0, "images": 0, "tensors": 0, "compressedHistograms": 0}


def _read(folder):
    acc = EventAccumulator(str(folder), size_guidance=ALL)
    acc.Reload()
    return acc


def _log(writer_cls, folder, lib, fig_fn=None):
    """The same logging program, written once for both libraries."""
    rng = np.random.default_rng(0)
    with writer_cls(str(folder)) as w:
        for step in range(4):
            w.add_scalar("loss/train", 1.0 / (step + 1), step)
            w.add_scalar("acc", lib.tensor(0.25 * step), step, walltime=1000.0 + step)
        w.add_scalar("new", 2.5, 7, new_style=True)
        w.add_scalar("new64", 1 / 3, 7, new_style=True, double_precision=True)
        w.add_scalars("run", {"a": 1.0, "b": lib.tensor(2.0)}, 3)
        w.add_histogram("weights", lib.tensor(rng.normal(size=(50, 20)).astype(np.float32)), 2)
        w.add_histogram("small", np.array([0.5, 0.5, 2.0]), 5, bins=4)
        w.add_histogram("capped", rng.normal(size=2000), 1, max_bins=37)
        w.add_histogram_raw("raw", min=0.0, max=3.0, num=6, sum=9.0, sum_squares=17.0,
                            bucket_limits=[1.0, 2.0, 3.0], bucket_counts=[1, 2, 3], global_step=4)
        w.add_image("chw", lib.tensor(rng.random((3, 6, 5)).astype(np.float32)), 1)
        w.add_image("gray_hw", (rng.random((7, 4)) * 255).astype(np.uint8), 2, dataformats="HW")
        w.add_image("hwc1", rng.random((5, 6, 1)), 3, dataformats="HWC")
        w.add_images("grid", lib.tensor(rng.random((10, 1, 4, 3)).astype(np.float32)), 4)
        w.add_text("notes", "loss **falls**", 6)
        w.add_hparams({"lr": 0.1, "opt": "sgd", "bs": 32, "flag": True}, {"hparam/acc": 0.9}, run_name="hp")
        if fig_fn is not None:
            w.add_figure("fig", fig_fn(), 8)
    return folder


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 1.5), dpi=40)
    plt.plot([0, 1, 2], [1, 0, 2])
    return fig


def test_logs_read_back_as_pytorchs(tmp_path):
    ours = _read(_log(SummaryWriter, tmp_path / "nerve", nerve, _figure))
    theirs = _read(_log(TorchWriter, tmp_path / "torch", torch, _figure))
    assert ours.Tags() == theirs.Tags()
    for tag in theirs.Tags()["scalars"]:
        assert [(e.step, e.value) for e in ours.Scalars(tag)] == [(e.step, e.value) for e in theirs.Scalars(tag)]
    assert [e.wall_time for e in ours.Scalars("acc")] == [1000.0, 1001.0, 1002.0, 1003.0]
    for tag in theirs.Tags()["histograms"]:
        a, b = ours.Histograms(tag), theirs.Histograms(tag)
        assert [e.step for e in a] == [e.step for e in b]
        assert a[0].histogram_value == b[0].histogram_value, tag  # every field, every bucket
    for tag in theirs.Tags()["images"]:
        a, b = ours.Images(tag)[0], theirs.Images(tag)[0]
        assert (a.step, a.width, a.height) == (b.step, b.width, b.height), tag
        assert _pixels(a) == _pixels(b), tag  # the same picture (PNG bytes may differ in encoding)
    for tag in theirs.Tags()["tensors"]:
        a, b = ours.Tensors(tag)[0], theirs.Tensors(tag)[0]
        assert (a.step, a.tensor_proto) == (b.step, b.tensor_proto), tag
    # add_scalars: one run per key, named <main_tag>_<key>; add_hparams: a run of its own
    def folders(root):
        return sorted(e.name for e in os.scandir(root) if e.is_dir())

    assert folders(tmp_path / "nerve") == folders(tmp_path / "torch") == ["hp", "run_a", "run_b"]
    for run in ("run_a", "run_b", "hp"):
        a, b = _read(tmp_path / "nerve" / run), _read(tmp_path / "torch" / run)
        assert a.Tags() == b.Tags()
        for tag in b.Tags()["scalars"]:
            assert [(e.step, e.value) for e in a.Scalars(tag)] == [(e.step, e.value) for e in b.Scalars(tag)]
    # the hparams plugin's three records: the same messages (a map's entries in any order)
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    a, b = _read(tmp_path / "nerve" / "hp"), _read(tmp_path / "torch" / "hp")
    assert a.summary_metadata.keys() == b.summary_metadata.keys() and len(b.summary_metadata) == 3
    for tag, meta in b.summary_metadata.items():
        ours_meta = a.summary_metadata[tag]
        assert ours_meta.plugin_data.plugin_name == meta.plugin_data.plugin_name, tag
        if meta.plugin_data.plugin_name == "hparams":
            assert (HParamsPluginData.FromString(ours_meta.plugin_data.content)
                    == HParamsPluginData.FromString(meta.plugin_data.content)), tag


def _pixels(image_event):
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(image_event.encoded_image_string))).tolist()


def test_files_folders_and_reopening(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_lr0.1", filename_suffix=".v2")
    folder = w.get_logdir()
    assert folder.startswith("runs" + os.sep) and folder.endswith("_lr0.1")
    w.add_scalar("x", 1.0, 0)
    w.flush()
    (name,) = os.listdir(folder)
    assert name.startswith("events.out.tfevents.") and name.endswith(".v2")
    w.close()
    w.add_scalar("x", 2.0, 1)  # after close, a new file (as PyTorch's writer does)
    w.close()
    assert len(os.listdir(folder)) == 2
    assert [(e.step, e.value) for e in _read(folder).Scalars("x")] == [(0, 1.0), (1, 2.0)]
    # purge_step: a restarted run hides what the crashed one logged from that step on
    w = SummaryWriter(str(tmp_path / "p"))
    for step in range(5):
        w.add_scalar("y", step, step)
    w.close()
    w = SummaryWriter(str(tmp_path / "p"), purge_step=2)
    w.add_scalar("y", 20.0, 2)
    w.close()
    assert [(e.step, e.value) for e in _read(tmp_path / "p").Scalars("y")] == [(0, 0.0), (1, 1.0), (2, 20.0)]


def test_bad_input_is_named(tmp_path):
    w = SummaryWriter(str(tmp_path))
    with pytest.raises(ValueError, match="expected one value, got 3"):
        w.add_scalar("x", nerve.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="dataformats"):
        w.add_image("img", np.zeros((3, 4, 5)), dataformats="HW")
    with pytest.raises(ValueError, match="no element"):
        w.add_histogram("h", np.array([]))
    with pytest.raises(ValueError, match="finite"):
        w.add_histogram("h", np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="dictionary"):
        w.add_hparams([("lr", 0.1)], {})
    with pytest.raises(ValueError, match="input_to_model"):
        w.add_graph(nerve.nn.Linear(2, 2))
    w.close()


def test_graph_of_a_model_with_functional_ops(tmp_path):
    nn, F = nerve.nn, nerve.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3)
            self.head = nn.Sequential(nn.Linear(4 * 4 * 4, 8), nn.ReLU(), nn.Linear(8, 3))

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv(x)), 2)  # functional ops between the layers
            return self.head(x.flatten(1))

    w = SummaryWriter(str(tmp_path))
    w.add_graph(Net(), nerve.randn(2, 1, 10, 10))
    w.close()
    nodes = {n.name: (n.op, list(n.input)) for n in _read(tmp_path).Graph().node}
    assert nodes == {
        "input/input.1": ("IO Node", []),
        "Net/Conv2d[conv]": ("Conv2d", ["input/input.1"]),
        "Net/Sequential[head]/Linear[0]": ("Linear", ["Net/Conv2d[conv]"]),
        "Net/Sequential[head]/ReLU[1]": ("ReLU", ["Net/Sequential[head]/Linear[0]"]),
        "Net/Sequential[head]/Linear[2]": ("Linear", ["Net/Sequential[head]/ReLU[1]"]),
        "output/output.1": ("IO Node", ["Net/Sequential[head]/Linear[2]"]),
    }
    shapes = {n.name: [d.size for d in n.attr["_output_shapes"].list.shape[0].dim] for n in _read(tmp_path).Graph().node}
    assert shapes["Net/Conv2d[conv]"] == [2, 4, 8, 8] and shapes["output/output.1"] == [2, 3]


def test_keras_tensorboard_callback(tmp_path):
    from nerve import keras

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 5)).astype("float32"), rng.integers(0, 3, 64)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = keras.callbacks.TensorBoard(log_dir=str(tmp_path), histogram_freq=1, write_images=True, update_freq=2)
    hist = model.fit(x, y, batch_size=16, epochs=3, validation_split=0.25, callbacks=[cb], verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["train", "validation"]
    train, val = _read(tmp_path / "train"), _read(tmp_path / "validation")

    def series(acc, tag):  # Keras writes scalars as tf.summary does: float32 tensors
        from tensorboard.util.tensor_util import make_ndarray

        return [(e.step, float(make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]

    for name in ("loss", "accuracy"):
        got = series(train, f"epoch_{name}")
        assert [s for s, _ in got] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in got], hist.history[name], rtol=1e-6)
        np.testing.assert_allclose([v for _, v in series(val, f"epoch_{name}")], hist.history[f"val_{name}"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in series(train, "epoch_learning_rate")], [0.05] * 3, rtol=1e-6)
    # 3 batches an epoch, update_freq=2: batch metrics at global batches 2, 4, 6, 8
    assert [s for s, _ in series(train, "batch_loss")] == [2, 4, 6, 8]
    # evaluation_*_vs_iterations at the optimizer's step count after each epoch (3, 6, 9)
    assert [s for s, _ in series(val, "evaluation_loss_vs_iterations")] == [3, 6, 9]
    kernel = model.layers[0].kernel
    tag = f"{kernel.path.replace(':', '_')}/histogram"
    assert [e.step for e in train.Histograms(tag)] == [0, 1, 2]
    assert train.Histograms(tag)[-1].histogram_value.num == kernel.numpy().size
    assert f"{kernel.path.replace(':', '_')}/image" in train.Tags()["images"]
    assert "keras" in train.Tags()["tensors"]  # the model's configuration, for the graph view
    with pytest.raises(ValueError, match="profile_batch"):
        keras.callbacks.TensorBoard(profile_batch=2)


def test_pr_curves_and_embeddings_as_pytorchs(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 100)
    preds = np.clip(labels * 0.6 + rng.random(100) * 0.5, 0, 1)
    feats = rng.normal(size=(9, 4)).astype(np.float32)
    meta = [f"p{i}" for i in range(9)]
    rows = [[f"p{i}", i % 3] for i in range(9)]
    imgs = rng.random((9, 3, 4, 5)).astype(np.float32)
    for writer_cls, lib, name in ((SummaryWriter, nerve, "nerve"), (TorchWriter, torch, "torch")):
        with writer_cls(str(tmp_path / name)) as w:
            w.add_pr_curve("pr", lib.tensor(labels), lib.tensor(preds), 1)
            w.add_pr_curve("pr_w", labels, preds, 2, num_thresholds=200, weights=np.linspace(0, 1, 100))
            w.add_embedding(lib.tensor(feats), metadata=meta, label_img=lib.tensor(imgs), global_step=3, tag="a/b")
            w.add_embedding(lib.tensor(feats), metadata=rows, metadata_header=["name", "cls"])
    ours, theirs = _read(tmp_path / "nerve"), _read(tmp_path / "torch")
    for tag in ("pr", "pr_w"):
        a, b = ours.Tensors(tag)[0], theirs.Tensors(tag)[0]
        assert (a.step, a.tensor_proto) == (b.step, b.tensor_proto)
        assert ours.summary_metadata[tag] == theirs.summary_metadata[tag]
    for rel in ("00003/a%2fb/tensors.tsv", "00003/a%2fb/metadata.tsv", "00000/default/tensors.tsv",
                "00000/default/metadata.tsv", "projector_config.pbtxt"):
        assert (tmp_path / "nerve" / rel).read_text() == (tmp_path / "torch" / rel).read_text(), rel
    from PIL import Image

    a, b = (np.asarray(Image.open(tmp_path / d / "00003/a%2fb/sprite.png")) for d in ("nerve", "torch"))
    assert a.shape == b.shape == (15, 15, 3) and (a == b).all()
    # images taller than wide (PyTorch's writer raises there): a square sprite of the grid's height
    w = SummaryWriter(str(tmp_path / "tall"))
    w.add_embedding(feats, label_img=imgs.transpose(0, 1, 3, 2))
    w.close()
    assert np.asarray(Image.open(tmp_path / "tall/00000/default/sprite.png")).shape == (15, 15, 3)


def test_events_held_at_exit_are_written(tmp_path):
    import subprocess
    import sys

    code = ("from nerve.utils.tensorboard import SummaryWriter\n"
            f"w = SummaryWriter({str(tmp_path)!r})\n"
            "for i in range(3):\n    w.add_scalar('x', i, i)\n")  # never flushed nor closed
    subprocess.run([sys.executable, "-c", code], check=True)
    assert [e.step for e in _read(tmp_path).Scalars("x")] == [0, 1, 2]
