"""The ``nerve`` command: train (both APIs, resume, Ctrl-C, folders), predict, info, bench, and its errors.

Training runs on small slices of Fashion-MNIST (Debian's ``dataset-fashion-mnist``) and on generated
image folders, in-process through ``nerve.cli.main`` so each run takes a second or two.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import nerve
from nerve.cli import main

DEBIAN = "/usr/share/datasets/fashion-mnist"
needs_fashion = pytest.mark.skipif(not os.path.exists(os.path.join(DEBIAN, "t10k-images-idx3-ubyte.gz")),
                                   reason="Debian's dataset-fashion-mnist package is not installed")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def run(capsys, *argv):
    """Run ``nerve ARGV`` in-process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def history(folder):
    with open(os.path.join(folder, "history.json")) as f:
        return json.load(f)


def assert_one_line_error(code, err, *words, status=1):
    assert code == status
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]


def test_train_fashion_mnist_mlp_reports_each_epoch_and_writes_the_run(capsys, tmp_path, data_dir):
    if not os.path.exists(DEBIAN):
        pytest.skip("Debian's dataset-fashion-mnist package is not installed")
    out = tmp_path / "run"
    code, stdout, _ = run(capsys, "train", "--dataset", "fashion-mnist", "--model", "mlp", "--epochs", 2,
                          "--limit", 2000, "--data-dir", data_dir, "--out", out)
    assert code == 0
    assert "2000 training and 2000 test images, 10 classes, input 1x28x28" in stdout
    assert "epoch 1/2: train loss" in stdout and "epoch 2/2: train loss" in stdout
    assert "| test loss" in stdout
    h = history(out)
    assert h["epoch"] == [1, 2]
    assert h["val_accuracy"][-1] > 0.70  # an MLP on 2,000 images, two epochs (measured: 77.7%)
    assert h["loss"][1] < h["loss"][0]
    for name in ("model.safetensors", "checkpoint.safetensors", "history.json", "history.csv", "curves.png"):
        assert (out / name).exists(), name
        assert str(out / name) in stdout  # says where the outputs are
    csv_lines = (out / "history.csv").read_text().splitlines()
    assert csv_lines[0] == "epoch,loss,accuracy,val_loss,val_accuracy,seconds" and len(csv_lines) == 3
    with Image.open(out / "curves.png") as im:
        assert im.size[0] > 400
    saved = nerve.load(str(out / "model.safetensors"))
    meta = saved["meta"]
    assert meta["architecture"] == "mlp" and meta["input_shape"] == [1, 28, 28]
    assert meta["classes"][0] == "T-shirt/top" and len(meta["classes"]) == 10
    assert meta["preprocess"]["color"] == "L" and len(meta["preprocess"]["mean"]) == 1
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]

    # nerve predict on PNGs cut from the test set (images the model was evaluated on, not trained on
    # beyond --limit): most come out right
    from nerve.vision.datasets import FashionMNIST

    test = FashionMNIST(data_dir, train=False, download=True)
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    labels = {}
    for i in range(5000, 5020):
        image, label = test[i]
        image.save(pngs / f"{i}.png")
        labels[f"{i}.png"] = test.classes[label]
    code, stdout, _ = run(capsys, "predict", out, pngs, "--top", 2)
    assert code == 0
    lines = stdout.strip().splitlines()
    assert len(lines) == 20
    right = 0
    for line in lines:
        name = os.path.basename(line.split()[0])
        top = line.split("  ", 1)[1].strip()
        assert top.count("%") == 2
        right += top.startswith(labels[name] + " ")
    assert right >= 13, stdout


@needs_fashion
def test_resume_continues_exactly_where_the_run_stopped(capsys, tmp_path, data_dir):
    common = ["train", "--limit", 600, "--data-dir", data_dir, "--no-plot", "--batch-size", 50]
    assert run(capsys, *common, "--epochs", 2, "--out", tmp_path / "straight")[0] == 0
    assert run(capsys, *common, "--epochs", 1, "--out", tmp_path / "split")[0] == 0
    code, stdout, _ = run(capsys, "train", "--resume", tmp_path / "split", "--epochs", 2, "--no-plot")
    assert code == 0 and "resuming" in stdout and "epoch 2/2" in stdout
    a, b = history(tmp_path / "straight"), history(tmp_path / "split")
    assert b["epoch"] == [1, 2]
    for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5)
    # a finished run says how to go on instead of training again
    code, _, err = run(capsys, "train", "--resume", tmp_path / "split")
    assert_one_line_error(code, err, "already completed 2 of 2 epochs", "--epochs")
    code, _, err = run(capsys, "train", "--resume", tmp_path / "split", "--epochs", 3, "--model", "cnn")
    assert_one_line_error(code, err, "cannot change --model")


@needs_fashion
@pytest.mark.parametrize("api", ["torch", "keras"])
def test_ctrl_c_keeps_the_best_model_and_resume_goes_on(capsys, tmp_path, data_dir, monkeypatch, api):
    from nerve.cli import train

    real = train._seed_epoch

    def interrupt_in_epoch_2(cfg, epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        real(cfg, epoch)

    monkeypatch.setattr(train, "_seed_epoch", interrupt_in_epoch_2)
    out = tmp_path / "run"
    code, stdout, _ = run(capsys, "train", "--limit", 500, "--data-dir", data_dir, "--epochs", 3, "--out", out,
                          "--no-plot", "--api", api)
    assert code == 130
    assert "interrupted during epoch 2" in stdout and f"nerve train --resume {out}" in stdout
    assert history(out)["epoch"] == [1]
    assert nerve.load(str(out / "model.safetensors"))["epoch"] == 1
    monkeypatch.setattr(train, "_seed_epoch", real)
    code, stdout, _ = run(capsys, "train", "--resume", out, "--no-plot")
    assert code == 0 and "epoch 3/3" in stdout
    assert history(out)["epoch"] == [1, 2, 3]


@needs_fashion
def test_keras_api_trains_resumes_and_predicts(capsys, tmp_path, data_dir):
    common = ["train", "--api", "keras", "--limit", 600, "--data-dir", data_dir, "--no-plot"]
    assert run(capsys, *common, "--epochs", 2, "--out", tmp_path / "straight")[0] == 0
    code, stdout, _ = run(capsys, *common, "--epochs", 1, "--out", tmp_path / "split")
    assert code == 0 and "(keras API)" in stdout and "epoch 1/1: train loss" in stdout
    assert run(capsys, "train", "--resume", tmp_path / "split", "--epochs", 2, "--no-plot")[0] == 0
    a, b = history(tmp_path / "straight"), history(tmp_path / "split")
    np.testing.assert_allclose(a["val_loss"], b["val_loss"], rtol=1e-5)
    assert a["val_accuracy"][-1] > 0.6
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(img)
    code, stdout, _ = run(capsys, "predict", tmp_path / "straight", img)
    assert code == 0 and stdout.count("%") == 3


@needs_fashion
def test_cnn_and_linear_models(capsys, tmp_path, data_dir):
    code, stdout, _ = run(capsys, "train", "--model", "cnn", "--limit", 256, "--epochs", 1, "--data-dir", data_dir,
                          "--out", tmp_path / "cnn", "--no-plot")
    assert code == 0 and "model: cnn (torch API)" in stdout
    code, stdout, _ = run(capsys, "train", "--model", "linear", "--limit", 1000, "--epochs", 1,
                          "--data-dir", data_dir, "--out", tmp_path / "linear", "--no-plot")
    assert code == 0 and "optimizer sgd lr 0.1" in stdout  # the article's network gets the article's optimizer
    assert history(tmp_path / "linear")["val_accuracy"][0] > 0.6
    weights = nerve.load(str(tmp_path / "linear" / "model.safetensors"))["weights"]
    assert [tuple(v.shape) for v in weights.values()] == [(10, 784), (10,)]


def _stripes(folder, n=24, size=20, mode="RGB"):
    """Two classes a linear model separates: horizontal and vertical stripes, with noise."""
    rng = np.random.default_rng(0)
    for cls, axis in (("horizontal", 0), ("vertical", 1)):
        os.makedirs(os.path.join(folder, cls), exist_ok=True)
        for i in range(n):
            stripes = (np.arange(size) // 2 % 2 * 200).astype(np.uint8)
            img = np.repeat(stripes[:, None] if axis == 0 else stripes[None, :], size, axis=1 - axis)
            img = np.clip(img + rng.integers(0, 50, img.shape), 0, 255).astype(np.uint8)
            im = Image.fromarray(img).convert(mode)
            im.save(os.path.join(folder, cls, f"{i}.{'png' if i % 2 else 'jpg'}"))


def test_train_and_predict_on_an_image_folder(capsys, tmp_path):
    folder = tmp_path / "stripes"
    _stripes(str(folder))
    out = tmp_path / "run"
    code, stdout, _ = run(capsys, "train", "--dataset", folder, "--model", "mlp", "--epochs", 4, "--out", out,
                          "--image-size", 16, "--no-plot")
    assert code == 0
    assert "38 training and 10 validation images, 2 classes, input 3x16x16" in stdout
    assert "| validation loss" in stdout
    assert history(out)["val_accuracy"][-1] == 1.0
    meta = nerve.load(str(out / "model.safetensors"))["meta"]
    assert meta["classes"] == ["horizontal", "vertical"] and meta["preprocess"]["size"] == [16, 16]
    code, stdout, _ = run(capsys, "predict", out / "model.safetensors", folder / "vertical")
    assert code == 0
    lines = stdout.strip().splitlines()
    assert len(lines) == 24 and all(line.split("  ", 1)[1].strip().startswith("vertical") for line in lines)


def test_grayscale_folder_gets_one_channel(capsys, tmp_path):
    _stripes(str(tmp_path / "gray"), n=10, mode="L")
    code, stdout, _ = run(capsys, "train", "--dataset", tmp_path / "gray", "--epochs", 1, "--model", "linear",
                          "--out", tmp_path / "run", "--no-plot")
    assert code == 0 and "input 1x28x28" in stdout


def test_missing_matplotlib_skips_the_plot_with_a_note(capsys, tmp_path, monkeypatch):
    _stripes(str(tmp_path / "d"), n=6)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, stdout, _ = run(capsys, "train", "--dataset", tmp_path / "d", "--epochs", 1, "--out", tmp_path / "run")
    assert code == 0
    assert "matplotlib is not installed" in stdout
    assert not (tmp_path / "run" / "curves.png").exists() and (tmp_path / "run" / "history.csv").exists()


# ---------------------------------------------------------------- errors: one line, no traceback


def test_bad_datasets(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--dataset", "cifar10")
    assert_one_line_error(code, err, "unknown dataset 'cifar10'", "fashion-mnist")
    code, _, err = run(capsys, "train", "--dataset", tmp_path / "nowhere")
    assert_one_line_error(code, err, "no such folder")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    code, _, err = run(capsys, "train", "--dataset", tmp_path / "empty")
    assert_one_line_error(code, err, "no images found")
    (tmp_path / "flat").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "flat" / "x.png")
    code, _, err = run(capsys, "train", "--dataset", tmp_path / "flat")
    assert_one_line_error(code, err, "no class subfolders")
    (tmp_path / "one" / "cats").mkdir(parents=True)
    Image.new("L", (8, 8)).save(tmp_path / "one" / "cats" / "x.png")
    code, _, err = run(capsys, "train", "--dataset", tmp_path / "one")
    assert_one_line_error(code, err, "at least two")
    _stripes(str(tmp_path / "broken"), n=3)
    (tmp_path / "broken" / "vertical" / "bad.png").write_bytes(b"not an image")
    code, _, err = run(capsys, "train", "--dataset", tmp_path / "broken", "--out", tmp_path / "o")
    assert_one_line_error(code, err, "bad.png")
    assert not (tmp_path / "o").exists()


def test_cnn_on_too_small_images(capsys, tmp_path):
    _stripes(str(tmp_path / "d"), n=3)
    code, _, err = run(capsys, "train", "--dataset", tmp_path / "d", "--model", "cnn", "--image-size", 8,
                       "--out", tmp_path / "o")
    assert_one_line_error(code, err, "at least 10x10", "--image-size")
    assert not (tmp_path / "o").exists()


def test_offline_mnist_is_one_clear_line(capsys, monkeypatch, tmp_path):
    import nerve.vision.datasets as ds

    class Offline:
        def __init__(self, root, train=True, download=False, **kw):
            print("Downloading https://example/train-images-idx3-ubyte.gz", file=sys.stderr)
            raise ds.DownloadError("MNIST: could not get train-images-idx3-ubyte.gz: "
                                   "<urlopen error [Errno -2] Name or service not known>\nmore detail")

    monkeypatch.setattr(ds, "MNIST", Offline)
    monkeypatch.setattr(ds, "FashionMNIST", Offline)
    code, _, err = run(capsys, "train", "--dataset", "mnist", "--data-dir", tmp_path)
    assert_one_line_error(code, err, "MNIST is not here", "no network", "not packaged for Debian")
    code, _, err = run(capsys, "train", "--dataset", "fashion-mnist", "--data-dir", tmp_path)
    assert_one_line_error(code, err, "apt-get install dataset-fashion-mnist")


def test_bad_arguments_are_usage_errors(capsys):
    for argv, words in ((["train", "--model", "resnet"], "invalid choice: 'resnet'"),
                        (["train", "--epochs", "0"], "at least 1"),
                        (["train", "--lr", "fast"], "expected a number"),
                        (["train", "--val-split", "1.5"], "between 0 and 1"),
                        (["predict", "only-a-model"], "required"),
                        (["fly"], "invalid choice")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        _, err = capsys.readouterr()
        assert_one_line_error(e.value.code, err, words, status=2)


def test_bad_devices(capsys):
    code, _, err = run(capsys, "train", "--device", "tpu")
    assert_one_line_error(code, err, "--device tpu")
    if not nerve.cuda.is_available():
        code, _, err = run(capsys, "train", "--device", "cuda")
        assert_one_line_error(code, err, "no CUDA GPU")


def test_predict_errors(capsys, tmp_path):
    img = tmp_path / "a.png"
    Image.new("L", (28, 28)).save(img)
    code, _, err = run(capsys, "predict", tmp_path / "missing.safetensors", img)
    assert_one_line_error(code, err, "no such model file")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    code, _, err = run(capsys, "predict", tmp_path / "junk.safetensors", img)
    assert_one_line_error(code, err, "not a model saved by nerve train")
    nerve.save({"w": nerve.zeros(3)}, str(tmp_path / "other.safetensors"))
    code, _, err = run(capsys, "predict", tmp_path / "other.safetensors", img)
    assert_one_line_error(code, err, "not a model saved by nerve train")
    code, _, err = run(capsys, "predict", tmp_path / "other.safetensors", tmp_path / "nope.png")
    assert_one_line_error(code, err, "nope.png: no such file")
    code, _, err = run(capsys, "train", "--resume", tmp_path / "other.safetensors")
    assert_one_line_error(code, err, "not a model saved by nerve train")


def test_predict_reads_any_image_as_the_model_expects(capsys, tmp_path):
    _stripes(str(tmp_path / "d"), n=8)
    assert run(capsys, "train", "--dataset", tmp_path / "d", "--epochs", 2, "--model", "linear",
               "--out", tmp_path / "run", "--no-plot", "--image-size", 12)[0] == 0
    stripes = (np.arange(60) // 6 % 2 * 220).astype(np.uint8)
    Image.fromarray(np.repeat(stripes[None, :], 40, axis=0)).convert("RGBA").save(tmp_path / "big.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    code, stdout, _ = run(capsys, "predict", tmp_path / "run", tmp_path / "big.png", "--top", 1)
    assert code == 0 and stdout.count("%") == 1
    code, _, err = run(capsys, "predict", tmp_path / "run", tmp_path / "broken.jpg")
    assert_one_line_error(code, err, "broken.jpg: cannot read it as an image")


# ---------------------------------------------------------------- info, bench, entry points


def test_info(capsys):
    code, stdout, _ = run(capsys, "info")
    assert code == 0
    assert f"nerve           {nerve.__version__}" in stdout
    assert f"numpy           {np.__version__}" in stdout
    for label in ("blas", "cupy", "cuda available", "devices"):
        assert f"\n{label}" in stdout
    if "openblas" in stdout.split("\nblas ", 1)[1].split("\n", 1)[0]:  # NumPy's wheels: OpenBLAS names its kernels
        core = nerve._threads.blas_core()
        assert core and f"\nblas kernels    {core}\n" in stdout


def test_bench_machine_line_names_cpu_blas_and_kernels():
    from nerve.bench import machine

    line = machine()
    assert f"NumPy {np.__version__} (" in line and " cores, Python " in line
    core = nerve._threads.blas_core()
    if core:
        assert f", {core} kernels)" in line


def test_bench_engine_overhead_row_puts_the_thread_counts_back():
    torch = pytest.importorskip("torch")
    from nerve.bench.engine import _overhead_row

    before = nerve.get_num_threads(), torch.get_num_threads()
    r = _overhead_row(nerve, torch)
    assert (nerve.get_num_threads(), torch.get_num_threads()) == before
    assert r["nerve_s"] > 0 and r["torch_s"] > 0 and r["note"].startswith("hand NumPy ")


def test_bench_isolated_runs_each_library_in_its_own_interpreter():
    from nerve.bench import isolated

    t = isolated("nn", "article", ["nerve"], rounds=2, epochs=1, quick=True)
    assert list(t) == ["nerve"] and 0 < t["nerve"] < 60
    with pytest.raises(RuntimeError, match=r"benchmark nn\.nope on nerve failed:(.|\n)*KeyError: 'nope'"):
        isolated("nn", "nope", ["nerve"], rounds=1, epochs=1)


def test_bench_is_nerve_bench(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "--help"])
    assert e.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_python_dash_m_nerve_and_help():
    r = subprocess.run([sys.executable, "-m", "nerve", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    for command in ("train", "predict", "info", "bench"):
        assert command in r.stdout
    r = subprocess.run([sys.executable, "-m", "nerve", "predict", "x.safetensors", "y.png"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and r.stderr.startswith("nerve predict: error:") and "Traceback" not in r.stderr


@pytest.mark.skipif(not nerve.cuda.is_available(), reason="needs a CUDA GPU")
@needs_fashion
def test_train_and_predict_on_the_gpu(capsys, tmp_path, data_dir):
    out = tmp_path / "gpu"
    code, stdout, _ = run(capsys, "train", "--device", "cuda", "--model", "cnn", "--limit", 2000, "--epochs", 2,
                          "--data-dir", data_dir, "--out", out, "--no-plot")
    assert code == 0 and "on cuda" in stdout
    assert history(out)["val_accuracy"][-1] > 0.6
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(img)
    for device in ("cuda", "cpu"):  # a model trained on the GPU predicts on either
        code, stdout, _ = run(capsys, "predict", out, img, "--device", device)
        assert code == 0 and stdout.count("%") == 3
    code, stdout, _ = run(capsys, "train", "--device", "cuda", "--api", "keras", "--limit", 1000, "--epochs", 1,
                          "--data-dir", data_dir, "--out", tmp_path / "keras", "--no-plot")
    assert code == 0 and "(keras API) on cuda" in stdout
    assert history(tmp_path / "keras")["val_accuracy"][-1] > 0.6
    code, stdout, _ = run(capsys, "predict", tmp_path / "keras", img, "--device", "cuda")
    assert code == 0 and stdout.count("%") == 3


def test_out_never_overwrites_a_run(capsys, tmp_path):
    _stripes(str(tmp_path / "d"), n=4)
    args = ["train", "--dataset", tmp_path / "d", "--epochs", 1, "--out", tmp_path / "run", "--no-plot"]
    assert run(capsys, *args)[0] == 0
    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    code, _, err = run(capsys, *args)
    assert_one_line_error(code, err, "already holds a run", "--resume")
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before
