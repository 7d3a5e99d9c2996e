"""nerve.save / nerve.load: safetensors layout, JSON structure, no code run on load, atomic writes."""

import io
import json
import math
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import nerve
import nerve.serialization as ser
from nerve import optim


def _np(t):
    return t.detach().cpu().numpy()


ALL_DTYPES = [nerve.bool, nerve.uint8, nerve.int8, nerve.int16, nerve.int32, nerve.int64, nerve.float16,
              nerve.float32, nerve.float64]


def _sample(dtype, shape=(2, 3)):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal(shape) * 50).astype(dtype.np) if dtype.is_floating_point else \
        rng.integers(0, 100, shape).astype(dtype.np)
    return nerve.tensor(arr)


def test_round_trip_of_nested_structures(tmp_path):
    shared = nerve.tensor([1.0, 2.0])
    obj = {
        "tensors": {d.name: _sample(d) for d in ALL_DTYPES},
        "scalar": nerve.tensor(3.5, dtype=nerve.float64),
        "empty": nerve.zeros(0, 4),
        "transposed": nerve.arange(6.0).reshape(2, 3).T,
        "grad": nerve.tensor([1.0, -1.0], requires_grad=True),
        "list": [1, 2.5, "three", None, True, False, [shared, {"deep": (shared, 7)}]],
        "tuple": (1, ("a", "b"), []),
        0: "int key",
        (1, "x"): "tuple key",
        None: "none key",
        2.5: "float key",
        "floats": [math.inf, -math.inf, 1e-300, -0.0, 10**30],
        "unicode": "héllo — ✓",
        "ordered": OrderedDict([("b", 1), ("a", 2)]),
        "ndarray": np.arange(5, dtype=np.int16),
        "np_scalar": np.float32(1.5),
        "dtype": nerve.float16,
        "device": nerve.device("cpu"),
    }
    path = tmp_path / "obj.nrv"
    nerve.save(obj, path)
    back = nerve.load(path)

    assert list(back) == list(obj)
    for d in ALL_DTYPES:
        t = back["tensors"][d.name]
        assert t.dtype == d and t.shape == (2, 3)
        np.testing.assert_array_equal(_np(t), _np(obj["tensors"][d.name]))
    assert back["scalar"].shape == () and float(back["scalar"]) == 3.5 and back["scalar"].dtype == nerve.float64
    assert back["empty"].shape == (0, 4)
    np.testing.assert_array_equal(_np(back["transposed"]), [[0, 3], [1, 4], [2, 5]])
    assert back["grad"].requires_grad and not back["scalar"].requires_grad
    lst = back["list"]
    assert lst[:6] == [1, 2.5, "three", None, True, False]
    assert isinstance(lst[1], float) and isinstance(lst[0], int) and lst[4] is True
    assert lst[6][0] is lst[6][1]["deep"][0]  # a tensor saved twice comes back as one tensor
    assert isinstance(lst[6][1]["deep"], tuple) and lst[6][1]["deep"][1] == 7
    assert back["tuple"] == (1, ("a", "b"), [])
    assert back[0] == "int key" and back[(1, "x")] == "tuple key" and back[None] == "none key"
    assert back[2.5] == "float key"
    f = back["floats"]
    assert f[0] == math.inf and f[1] == -math.inf and f[2] == 1e-300 and math.copysign(1, f[3]) == -1
    assert f[4] == 10**30
    assert back["unicode"] == obj["unicode"]
    assert isinstance(back["ordered"], OrderedDict) and list(back["ordered"]) == ["b", "a"]
    assert isinstance(back["ndarray"], np.ndarray) and back["ndarray"].dtype == np.int16
    np.testing.assert_array_equal(back["ndarray"], np.arange(5))
    assert back["np_scalar"] == 1.5
    assert back["dtype"] is nerve.float16 and back["device"] == nerve.device("cpu")


def test_nan_round_trips(tmp_path):
    nerve.save({"x": math.nan, "t": nerve.tensor([math.nan, 1.0])}, tmp_path / "n.nrv")
    back = nerve.load(tmp_path / "n.nrv")
    assert math.isnan(back["x"]) and math.isnan(float(back["t"][0]))


def test_a_bare_tensor_and_str_paths(tmp_path):
    t = nerve.randn(3, 4)
    nerve.save(t, str(tmp_path / "t.pt"))
    back = nerve.load(str(tmp_path / "t.pt"))
    assert isinstance(back, nerve.Tensor)
    np.testing.assert_array_equal(_np(back), _np(t))


def test_file_objects(tmp_path):
    buf = io.BytesIO()
    nerve.save({"w": nerve.ones(2, 2), "step": 3}, buf)
    buf.seek(0)
    back = nerve.load(buf)
    assert back["step"] == 3 and _np(back["w"]).sum() == 4
    with open(tmp_path / "f.nrv", "wb") as fh:
        nerve.save([nerve.zeros(1)], fh)
    with open(tmp_path / "f.nrv", "rb") as fh:
        assert _np(nerve.load(fh)[0]).tolist() == [0.0]


def test_optimizer_state_dict(tmp_path):
    p = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    opt = optim.Adam([p], lr=0.01, amsgrad=True)
    p.grad = nerve.tensor([0.1, -0.2, 0.3])
    opt.step()
    nerve.save(opt.state_dict(), tmp_path / "opt.nrv")
    sd = nerve.load(tmp_path / "opt.nrv")
    assert list(sd["state"]) == [0] and sd["state"][0]["step"] == 1
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999) and sd["param_groups"][0]["params"] == [0]
    np.testing.assert_array_equal(_np(sd["state"][0]["exp_avg"]), _np(opt.state[p]["exp_avg"]))


def test_module_state_dict(tmp_path):
    nn = pytest.importorskip("nerve.nn")
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    nerve.save(model.state_dict(), tmp_path / "model.safetensors")
    model2 = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model2.load_state_dict(nerve.load(tmp_path / "model.safetensors"))
    for (k, a), (k2, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(_np(a), _np(b))
    nerve.save({"p": model[0].weight}, tmp_path / "param.nrv")
    p = nerve.load(tmp_path / "param.nrv")["p"]
    assert isinstance(p, nn.Parameter) and p.requires_grad
    np.testing.assert_array_equal(_np(p), _np(model[0].weight))


# ---------------------------------------------------------------- the file format


def _header(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    return n, json.loads(raw[8:8 + n]), raw


def test_the_file_is_plain_safetensors(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    sd = {"fc.weight": nerve.randn(3, 4), "fc.bias": nerve.zeros(3), "steps": nerve.tensor([1, 2], dtype=nerve.int64)}
    path = tmp_path / "model.safetensors"
    nerve.save(sd, path)
    n, header, raw = _header(path)
    assert n % 8 == 0
    assert header["__metadata__"]["format"] == "pt"
    assert header["fc.weight"] == {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}
    assert header["steps"]["dtype"] == "I64"
    assert len(raw) == 8 + n + 48 + 12 + 16
    theirs = st.load_file(str(path))  # the safetensors package reads our file
    assert sorted(theirs) == sorted(sd)
    for k, v in sd.items():
        np.testing.assert_array_equal(theirs[k], _np(v))


def test_nested_structures_are_safetensors_too(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    nerve.save({"opt": {"state": {0: {"buf": nerve.ones(2)}}}, "w": [nerve.zeros(3)]}, tmp_path / "x.nrv")
    theirs = st.load_file(str(tmp_path / "x.nrv"))
    assert sorted(theirs) == ["opt.state.0.buf", "w.0"]


def test_loads_a_file_written_by_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(1)
    arrays = {
        "f16": rng.standard_normal((2, 2)).astype(np.float16),
        "f32": rng.standard_normal((3,)).astype(np.float32),
        "f64": rng.standard_normal((1, 2, 3)).astype(np.float64),
        "i8": np.array([-3, 4], np.int8), "i16": np.array([-300], np.int16),
        "i32": np.array([[1 << 20]], np.int32), "i64": np.array([-(1 << 40)], np.int64),
        "u8": np.array([255, 0], np.uint8), "bool": np.array([True, False, True]),
        "scalar": np.array(2.5, np.float32), "empty": np.zeros((0, 2), np.float32),
    }
    path = tmp_path / "hf.safetensors"
    st.save_file(arrays, str(path), metadata={"format": "np"})
    sd = nerve.load(path)
    assert sorted(sd) == sorted(arrays)
    for k, arr in arrays.items():
        assert sd[k].dtype.np == arr.dtype and sd[k].shape == arr.shape, k
        np.testing.assert_array_equal(_np(sd[k]), arr)


def test_bfloat16_from_torch_safetensors_becomes_float32(tmp_path):
    torch = pytest.importorskip("torch")
    stt = pytest.importorskip("safetensors.torch")
    w = torch.randn(4, 5).to(torch.bfloat16)
    stt.save_file({"w": w, "b": torch.arange(3, dtype=torch.int32), "h": torch.ones(2, dtype=torch.float16)},
                  str(tmp_path / "m.safetensors"))
    sd = nerve.load(tmp_path / "m.safetensors")
    assert sd["w"].dtype == nerve.float32
    np.testing.assert_array_equal(_np(sd["w"]), w.float().numpy())
    assert sd["b"].dtype == nerve.int32 and sd["h"].dtype == nerve.float16


def test_torch_state_dict_through_safetensors_loads_into_nerve_adam(tmp_path):
    """A torch checkpoint exported as safetensors (flat) feeds nerve's parameters."""
    torch = pytest.importorskip("torch")
    stt = pytest.importorskip("safetensors.torch")
    lin = torch.nn.Linear(3, 2)
    stt.save_file(lin.state_dict(), str(tmp_path / "lin.safetensors"))
    sd = nerve.load(tmp_path / "lin.safetensors")
    np.testing.assert_array_equal(_np(sd["weight"]), lin.weight.detach().numpy())
    np.testing.assert_array_equal(_np(sd["bias"]), lin.bias.detach().numpy())


# ---------------------------------------------------------------- safety: no code runs on load


class _Marker:
    """Unpickling this creates a file: proof that code in the pickle ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("how", ["raw pickle", "torch zip", "torch legacy", "protocol 2"])
def test_pickles_are_refused_and_never_executed(how, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"weights": [1, 2], "evil": _Marker(str(marker))}
    if how == "raw pickle":
        path.write_bytes(pickle.dumps(payload))
    elif how == "protocol 2":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch = pytest.importorskip("torch")
        torch.save(payload, str(path), _use_new_zipfile_serialization=(how == "torch zip"))
    assert not marker.exists()
    with pytest.raises(ValueError) as info:
        nerve.load(path, weights_only=False)
    msg = str(info.value)
    assert str(path) in msg and "pickle" in msg and "nothing in it was executed" in msg
    assert not marker.exists()


def test_a_torch_saved_state_dict_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save(torch.nn.Linear(2, 2).state_dict(), str(tmp_path / "model.pth"))
    with pytest.raises(ValueError, match=r"model\.pth.*pickle.*torch\.save"):
        nerve.load(tmp_path / "model.pth")


def test_unsavable_objects_are_named(tmp_path):
    with pytest.raises(TypeError, match=r"type function \(at model\.hook\)"):
        nerve.save({"model": {"hook": lambda: 0}}, tmp_path / "x.nrv")
    with pytest.raises(TypeError, match="type set"):
        nerve.save([{1, 2}], tmp_path / "x.nrv")
    with pytest.raises(TypeError, match=r"type SGD \(at the top level\).*save its state_dict\(\) instead"):
        nerve.save(optim.SGD([nerve.zeros(1, requires_grad=True)]), tmp_path / "x.nrv")
    assert not os.path.exists(tmp_path / "x.nrv") and os.listdir(tmp_path) == []


# ---------------------------------------------------------------- atomic writes


def _old_file(tmp_path):
    path = tmp_path / "ckpt.nrv"
    nerve.save({"w": nerve.ones(1000), "epoch": 1}, path)
    return path, path.read_bytes()


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_save_leaves_the_old_file_whole_and_no_temp_file(tmp_path, monkeypatch, error):
    path, before = _old_file(tmp_path)
    real = ser._write_array

    def half_then_fail(out, arr):
        out.write(arr.tobytes()[: arr.nbytes // 2])
        raise error

    monkeypatch.setattr(ser, "_write_array", half_then_fail)
    with pytest.raises(type(error)):
        nerve.save({"w": nerve.zeros(1000), "epoch": 2}, path)
    monkeypatch.setattr(ser, "_write_array", real)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.nrv"]
    assert nerve.load(path)["epoch"] == 1


def test_save_replaces_the_file(tmp_path):
    path, _ = _old_file(tmp_path)
    nerve.save({"epoch": 2}, path)
    assert nerve.load(path) == {"epoch": 2}
    assert os.listdir(tmp_path) == ["ckpt.nrv"]


# ---------------------------------------------------------------- damaged files


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such file: '.*nothere\.nrv'"):
        nerve.load(tmp_path / "nothere.nrv")


@pytest.mark.parametrize("keep", [0, 5, 8, 40, -1])
def test_truncated_files_name_the_file(tmp_path, keep):
    path, raw = _old_file(tmp_path)
    cut = raw[:keep] if keep >= 0 else raw[: len(raw) - 100]
    path.write_bytes(cut)
    with pytest.raises(ValueError, match=r"'.*ckpt\.nrv'.*(truncated|corrupt)"):
        nerve.load(path)


def test_corrupt_headers_name_the_file(tmp_path):
    path, raw = _old_file(tmp_path)
    n = int.from_bytes(raw[:8], "little")
    cases = [
        raw[:8] + b"[" + raw[9:],  # not a JSON object
        raw[:8] + raw[8:20] + b"\xff\xfe" + raw[22:],  # broken JSON
        (10**12).to_bytes(8, "little") + raw[8:],  # absurd header length
        b"hello world, not a checkpoint",
        (0).to_bytes(8, "little") + b"{}" + raw[8:],  # zero header length
        (1).to_bytes(8, "little") + b"{}",
    ]
    bad_offsets = json.loads(raw[8:8 + n])
    bad_offsets["w"]["data_offsets"] = [0, 12]
    blob = json.dumps(bad_offsets).encode()
    cases.append(len(blob).to_bytes(8, "little") + blob + raw[8 + n:])
    bad_meta = json.loads(raw[8:8 + n])
    bad_meta["__metadata__"]["nerve"] = '{"tensor": "missing"}'
    blob = json.dumps(bad_meta).encode()
    cases.append(len(blob).to_bytes(8, "little") + blob + raw[8 + n:])
    for data in cases:
        path.write_bytes(data)
        with pytest.raises(ValueError, match=r"ckpt\.nrv.*(corrupt|not a nerve or safetensors file)"):
            nerve.load(path)


def test_unsupported_dtype_is_named(tmp_path):
    header = json.dumps({"x": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}).encode()
    (tmp_path / "f8.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\x00")
    with pytest.raises(ValueError, match="f8.safetensors.*'x' has dtype F8_E4M3"):
        nerve.load(tmp_path / "f8.safetensors")


# ---------------------------------------------------------------- devices


def test_map_location_and_saved_cuda_tensors_without_cuda(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "gpu.nrv"
    # a file as nerve.save writes it on a GPU machine: the structure records the device
    structure = json.dumps({"dict": [["w", {"tensor": "w", "device": "cuda:0"}]]})
    st.save_file({"w": np.ones(3, np.float32)}, str(path), metadata={"format": "pt", "nerve": structure})
    for loc in ("cpu", nerve.device("cpu"), {"cuda:0": "cpu"}):
        w = nerve.load(path, map_location=loc)["w"]
        assert w.device == nerve.device("cpu") and _np(w).tolist() == [1, 1, 1]
    if not nerve.cuda.is_available():
        with pytest.raises(RuntimeError, match="map_location='cpu'"):
            nerve.load(path)
    else:
        assert nerve.load(path)["w"].device == nerve.device("cuda:0")


def test_tensors_on_the_device_round_trip(tmp_path, device):
    t = nerve.randn(3, 3, device=device)
    nerve.save({"t": t}, tmp_path / "d.nrv")
    back = nerve.load(tmp_path / "d.nrv")["t"]
    assert back.device == nerve.device(device)
    np.testing.assert_array_equal(_np(back), _np(t))
    on_cpu = nerve.load(tmp_path / "d.nrv", map_location="cpu")["t"]
    assert on_cpu.device == nerve.device("cpu")
    moved = nerve.load(tmp_path / "d.nrv", map_location=device)["t"]
    assert moved.device == nerve.device(device)


def test_random_damage_gives_clear_errors_only():
    """Flipped bytes and cut files either load or raise ValueError naming the file; nothing else."""
    buf = io.BytesIO()
    nerve.save({"a": nerve.randn(3, 4), "b": [1, 2.5, "x", (nerve.arange(3),)], 0: {"s": None}}, buf)
    raw = buf.getvalue()
    rng = np.random.default_rng(0)
    for _ in range(300):
        damaged = bytearray(raw)
        for _ in range(rng.integers(1, 4)):
            damaged[rng.integers(0, len(damaged))] = rng.integers(0, 256)
        if rng.random() < 0.3:
            damaged = damaged[: rng.integers(0, len(damaged))]
        f = io.BytesIO(bytes(damaged))
        f.name = "damaged.nrv"
        try:
            nerve.load(f)
        except ValueError as e:
            assert "damaged.nrv" in str(e)


def test_torch_tensors_are_saved_as_nerve_tensors(tmp_path):
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(3, 2)
    ckpt = {"model": lin.state_dict(), "param": lin.weight, "bf16": torch.ones(2, dtype=torch.bfloat16) / 3}
    nerve.save(ckpt, tmp_path / "from_torch.nrv")
    back = nerve.load(tmp_path / "from_torch.nrv")
    np.testing.assert_array_equal(_np(back["model"]["weight"]), lin.weight.detach().numpy())
    assert back["param"].requires_grad and not back["model"]["bias"].requires_grad
    assert back["bf16"].dtype == nerve.float32
    np.testing.assert_array_equal(_np(back["bf16"]), (torch.ones(2, dtype=torch.bfloat16) / 3).float().numpy())
