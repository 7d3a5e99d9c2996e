"""PyTorch's recipes (pytorch/tutorials, ``recipes_source/recipes/``) and the Basics tutorials on data
and transforms (``beginner_source/basics/``), run on PyTorch and on nerve.

As in ``test_tutorials.py`` (whose helpers ``_tutorial_compare.py`` holds), each program is written
once, as a function of the modules it imports (``torch``, ``nn``, ``F``, ``optim``, the data classes,
torchvision's ``datasets``, ``transforms`` and ``io``), so the nerve run is the PyTorch code with only
its imports changed. Both runs start from the same weights (PyTorch's, copied into nerve's models) and
see the same data and the same random draws, so every printed line must agree, numbers to float32
rounding, ``torch.`` read as ``nerve.``. Datasets are generated in ``tmp_path``: Fashion-MNIST as small
IDX files in torchvision's layout, image folders as PNG files written with PIL, annotations as CSV
files (read with ``csv``, since pandas is not installed; skimage's imread and resize are PIL's here).
torchvision is not installed either: on the PyTorch side, the few pieces the tutorials use
(``FashionMNIST``, ``ToTensor``, ``Normalize``, ``Lambda``, ``Compose``, ``read_image``) are written
out below from PIL and NumPy as torchvision documents them.

Left out: the GPU halves of save_load_across_devices and changing_default_device (no GPU here; the CUDA
calls are checked to fail clearly), the ``meta`` device (module_load_state_dict_tips and
reasoning_about_shapes: nerve has none and says so; the rest of both recipes runs on the CPU), CIFAR10
itself in zeroing_out_gradients (its files are checked against their MD5 sums, so generated ones cannot
stand in: a dataset of PIL images does), loading_data_recipe's torchaudio dataset (a dataset of the
same items stands in for it), the face recipe's plots and make_grid.
"""

import csv
import os
import struct
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import nerve

pytest.importorskip("torch")
import torch as _torch  # noqa: E402  (after the skip)
from _tutorial_compare import SharedWeights, assert_same_lines, torch_on_one_thread  # noqa: E402,F401  (the fixture applies here)

# ---------------------------------------------------------------- running a program on both libraries


def _read_idx(path):
    with open(path, "rb") as f:
        _, _, code, ndim = struct.unpack(">BBBB", f.read(4))
        shape = struct.unpack(f">{ndim}I", f.read(4 * ndim))
        assert code == 0x08  # unsigned bytes
        return np.frombuffer(f.read(), np.uint8).reshape(shape)


def _write_idx(path, arr):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape))
        f.write(arr.tobytes())


def _torchvision():
    """torchvision's pieces the tutorials use, for the PyTorch runs (it is not installed here)."""
    import torch
    from torch.utils.data import Dataset

    class ToTensor:
        """A PIL image or an (H, W, C) uint8 array as a float (C, H, W) tensor in [0, 1]."""

        def __call__(self, pic):
            arr = np.array(pic, dtype=np.uint8, copy=True)
            if arr.ndim == 2:
                arr = arr[:, :, None]
            return torch.from_numpy(arr).permute(2, 0, 1).contiguous().float().div(255)

    class Normalize:
        def __init__(self, mean, std):
            self.mean, self.std = mean, std

        def __call__(self, t):
            mean = torch.as_tensor(self.mean, dtype=t.dtype)[:, None, None]
            return (t - mean) / torch.as_tensor(self.std, dtype=t.dtype)[:, None, None]

    class Lambda:
        def __init__(self, lambd):
            self.lambd = lambd

        def __call__(self, x):
            return self.lambd(x)

    class Compose:
        def __init__(self, transforms):
            self.transforms = transforms

        def __call__(self, x):
            for t in self.transforms:
                x = t(x)
            return x

    class FashionMNIST(Dataset):
        """Items: a PIL image (mode 'L') and an int label, from ``root/FashionMNIST/raw``."""

        def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
            raw = os.path.join(root, "FashionMNIST", "raw")
            prefix = "train" if train else "t10k"
            self.data = torch.from_numpy(_read_idx(os.path.join(raw, f"{prefix}-images-idx3-ubyte")).copy())
            self.targets = torch.from_numpy(_read_idx(os.path.join(raw, f"{prefix}-labels-idx1-ubyte")).astype(np.int64))
            self.transform, self.target_transform = transform, target_transform

        def __len__(self):
            return len(self.data)

        def __getitem__(self, index):
            img, target = Image.fromarray(self.data[index].numpy(), mode="L"), int(self.targets[index])
            if self.transform is not None:
                img = self.transform(img)
            if self.target_transform is not None:
                target = self.target_transform(target)
            return img, target

    def read_image(path):
        arr = np.array(Image.open(path))
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(arr))

    return SimpleNamespace(datasets=SimpleNamespace(FashionMNIST=FashionMNIST),
                           transforms=SimpleNamespace(ToTensor=ToTensor, Normalize=Normalize, Lambda=Lambda,
                                                      Compose=Compose),
                           io=SimpleNamespace(read_image=read_image))


def _modules(lib, out):
    """What a recipe imports, from PyTorch or from nerve (the only lines a script changes), and ``print``."""
    if lib is _torch:
        import torch.nn.functional as F
        from torch.utils.data import DataLoader, Dataset, TensorDataset
        vision = _torchvision()
    else:
        import nerve.nn.functional as F
        import nerve.vision as vision
        import nerve.vision.io  # noqa: F401  (from torchvision.io import read_image)
        from nerve.utils.data import DataLoader, Dataset, TensorDataset

    def print(*args, sep=" "):  # noqa: A001  (records what the program prints, line by line)
        out.extend(sep.join(str(a) for a in args).split("\n"))

    return SimpleNamespace(torch=lib, nn=lib.nn, F=F, optim=lib.optim, DataLoader=DataLoader, Dataset=Dataset,
                           TensorDataset=TensorDataset, datasets=vision.datasets, transforms=vision.transforms,
                           read_image=vision.io.read_image, print=print)


class _Shared(SharedWeights):
    """The PyTorch run (first) records initial weights and random draws; the nerve run gets the same."""

    model = SharedWeights.__call__

    def value(self, key, value):
        return self.saved.setdefault(key, value)

    def tensor(self, torch, key, t):
        return torch.tensor(self.saved.setdefault(key, t.detach().numpy().copy()))


def _both(program, *args, **kwargs):
    """Run ``program(modules, shared, ...)`` on PyTorch, then on nerve; return (printed, result) of each."""
    shared = _Shared()
    runs = []
    for lib in (_torch, nerve):
        lib.manual_seed(0)
        out = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = program(_modules(lib, out), shared, *args, **kwargs)
        out += [f"warning: {w.category.__name__}: {w.message}" for w in caught if "nerve" not in str(w.message)
                and w.category is not DeprecationWarning]
        runs.append((out, result))
    return runs


def _same_printout(program, *args, **kwargs):
    (ref, ref_result), (got, got_result) = _both(program, *args, **kwargs)
    assert_same_lines(ref, got)
    return ref, ref_result, got_result


def _cifar_net(m):
    """The network of the state_dict and checkpoint recipes (they call F.relu without importing F)."""
    nn, F = m.nn, m.F

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = x.flatten(start_dim=1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            x = self.fc3(x)
            return x

    return Net


def _images(torch, n=8, seed=0):
    rng = np.random.default_rng(seed)
    return torch.tensor(rng.standard_normal((n, 3, 32, 32)).astype(np.float32)), torch.tensor(rng.integers(0, 10, n))


# ---------------------------------------------------------------- what_is_state_dict.py


def what_is_state_dict(m, shared):
    torch, nn, optim, print = m.torch, m.nn, m.optim, m.print
    Net = _cifar_net(m)
    net = shared.model(torch, "net", Net())
    print(net)
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    print("Model's state_dict:")
    for param_tensor in net.state_dict():
        print(param_tensor, "\t", net.state_dict()[param_tensor].size())
    print()
    print("Optimizer's state_dict:")
    for var_name in optimizer.state_dict():
        print(var_name, "\t", optimizer.state_dict()[var_name])
    # after a step the state holds the momentum buffers, and Adam's its step counts and moments
    x, y = _images(torch, 4)
    adam = optim.Adam(net.parameters(), lr=1e-3)
    for opt in (optimizer, adam):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    print(optimizer.state_dict()["state"][9])
    state = adam.state_dict()
    print(sorted(state["state"]), state["param_groups"])
    print(state["state"][9])
    print({k: (v.dtype, v.shape) for k, v in state["state"][0].items()})


def test_what_is_state_dict():
    ref, _, _ = _same_printout(what_is_state_dict)
    assert "conv1.weight \t torch.Size([6, 3, 5, 5])" in ref
    assert any("'step': tensor(1.)" in line for line in ref)
    assert any(line.startswith("param_groups \t [{'lr': 0.001, 'momentum': 0.9, 'dampening': 0,") for line in ref)


def optimizer_state_dicts(m, shared):
    """what_is_state_dict's printout for every optimizer both libraries have, before and after a step."""
    torch, print = m.torch, m.print
    for name in ("SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "ASGD", "NAdam", "RAdam", "RMSprop",
                 "Rprop", "LBFGS", "Adafactor"):
        w = torch.nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))
        optimizer = getattr(torch.optim, name)([w], lr=0.01)
        print(name, optimizer.state_dict())
        if name != "LBFGS":
            (w ** 2).sum().backward()
            optimizer.step()
            state = optimizer.state_dict()["state"]  # (nerve keeps ASGD's and NAdam's float scalars as floats)
            print({i: {k: v for k, v in s.items() if k not in ("eta", "mu", "mu_product")} for i, s in state.items()})


def test_optimizer_state_dicts_print_as_torchs():
    ref, _, _ = _same_printout(optimizer_state_dicts)
    assert ref[0] == ("SGD {'state': {}, 'param_groups': [{'lr': 0.01, 'momentum': 0, 'dampening': 0, 'weight_decay': 0, "
                      "'nesterov': False, 'maximize': False, 'foreach': None, 'differentiable': False, 'fused': None, "
                      "'params': [0]}]}")
    assert ref[1] == "{}" and ref[3].startswith("{0: {'step': tensor(1.), 'exp_avg': tensor([")


# ---------------------------------------------------------------- saving_and_loading_a_general_checkpoint.py


def general_checkpoint(m, shared, path, steps=3):
    """Train, save {epoch, model, optimizer, loss}, go on; then load it into a new model and optimizer
    and train again from there: the resumed run's losses are the uninterrupted run's."""
    torch, optim, print = m.torch, m.optim, m.print
    Net = _cifar_net(m)
    criterion = m.nn.CrossEntropyLoss()
    batches = [_images(torch, 4, seed) for seed in range(2 * steps)]

    def train(model, optimizer, data):
        losses = []
        for inputs, labels in data:
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    net = shared.model(torch, "net", Net())
    print(net)
    optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    first = train(net, optimizer, batches[:steps])
    EPOCH = 5
    PATH = path
    LOSS = first[-1]
    torch.save({
        'epoch': EPOCH,
        'model_state_dict': net.state_dict(),
        'optimizer_state_dict': optimizer.state_dict(),
        'loss': LOSS,
    }, PATH)
    with torch.no_grad():
        at_checkpoint = net(batches[0][0])
    uninterrupted = train(net, optimizer, batches[steps:])

    model = Net()
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)  # the recipe passes net's: a slip
    checkpoint = torch.load(PATH)
    print(model.load_state_dict(checkpoint['model_state_dict']))
    optimizer.load_state_dict(checkpoint['optimizer_state_dict'])
    epoch = checkpoint['epoch']
    loss = checkpoint['loss']
    print(epoch, type(epoch).__name__, loss, type(loss).__name__, sorted(checkpoint))
    model.eval()
    with torch.no_grad():
        print(torch.equal(model(batches[0][0]), at_checkpoint))
    model.train()
    resumed = train(model, optimizer, batches[steps:])
    print(first, uninterrupted)
    return first, uninterrupted, resumed


def test_general_checkpoint_resumes_training(tmp_path):
    ref, (t_first, t_straight, t_resumed), (n_first, n_straight, n_resumed) = _same_printout(
        general_checkpoint, str(tmp_path / "model.pt"))
    assert t_resumed == t_straight  # PyTorch resumes exactly where it left off
    assert n_resumed == n_straight  # and so does nerve
    np.testing.assert_allclose(n_first + n_straight, t_first + t_straight, rtol=1e-5)
    assert "True" in ref and "<All keys matched successfully>" in ref


# ---------------------------------------------------------------- saving_and_loading_models_for_inference.py


def models_for_inference(m, shared, folder):
    torch, print = m.torch, m.print
    Net = _cifar_net(m)
    net = shared.model(torch, "net", Net())
    x, _ = _images(torch, 2)
    PATH = os.path.join(folder, "state_dict_model.pt")
    torch.save(net.state_dict(), PATH)
    model = Net()
    print(model.load_state_dict(torch.load(PATH)))
    model.eval()
    print(model.training, torch.equal(model(x), net(x)), model(x))
    with pytest.raises(TypeError) as wrong:  # the recipe's warning: load_state_dict takes a dict, not a path
        model.load_state_dict(PATH)
    print(wrong.value)
    # the whole model: PyTorch pickles it (and its loads refuse it unless weights_only=False); nerve never
    # pickles code, and says to save the state dict
    _picklable(Net)
    try:
        torch.save(net, os.path.join(folder, "entire_model.pt"))
    except TypeError as e:
        return "refused", str(e)
    return "pickled", os.path.join(folder, "entire_model.pt")


def _picklable(cls):
    """Make a class defined in a test function findable by pickle (as the recipe's module-level Net is)."""
    cls.__qualname__ = cls.__name__ = "_PickledNet"
    cls.__module__ = __name__
    globals().setdefault("_PickledNet", cls)  # the PyTorch run's (first)


def test_saving_and_loading_models_for_inference(tmp_path):
    (ref, t), (got, n) = _both(models_for_inference, str(tmp_path))
    assert_same_lines(ref, got)
    assert ref[0] == "<All keys matched successfully>" and ref[1].startswith("False True tensor(")
    assert ref[-1] == "Expected state_dict to be dict-like, got <class 'str'>."
    assert t[0] == "pickled" and n[0] == "refused"
    with pytest.raises(Exception, match="Weights only load failed"):
        _torch.load(t[1])
    assert isinstance(_torch.load(t[1], weights_only=False), _torch.nn.Module)
    assert n[1].startswith("nerve.save cannot store an object of type _PickledNet (at the top level)")
    assert "save its state_dict() instead (nerve.save(obj.state_dict(), path))" in n[1]
    # PyTorch's pickle of the whole model is refused by nerve.load without running it
    with pytest.raises(ValueError, match="is a pickle file .* nothing in it was executed"):
        nerve.load(t[1])


# ---------------------------------------------------------------- saving_multiple_models_in_one_file.py


def multiple_models(m, shared, path):
    torch, optim, print = m.torch, m.optim, m.print
    Net = _cifar_net(m)
    netA = shared.model(torch, "A", Net())
    netB = shared.model(torch, "B", Net())
    optimizerA = optim.SGD(netA.parameters(), lr=0.001, momentum=0.9)
    optimizerB = optim.SGD(netB.parameters(), lr=0.001, momentum=0.9)
    x, y = _images(torch, 4)
    for net, opt in ((netA, optimizerA), (netB, optimizerB)):
        m.F.cross_entropy(net(x), y).backward()
        opt.step()
    PATH = path
    torch.save({
        'modelA_state_dict': netA.state_dict(),
        'modelB_state_dict': netB.state_dict(),
        'optimizerA_state_dict': optimizerA.state_dict(),
        'optimizerB_state_dict': optimizerB.state_dict(),
    }, PATH)
    modelA = Net()
    modelB = Net()
    optimModelA = optim.SGD(modelA.parameters(), lr=0.001, momentum=0.9)
    optimModelB = optim.SGD(modelB.parameters(), lr=0.001, momentum=0.9)
    checkpoint = torch.load(PATH)
    print(list(checkpoint))
    print(modelA.load_state_dict(checkpoint['modelA_state_dict']))
    print(modelB.load_state_dict(checkpoint['modelB_state_dict']))
    optimModelA.load_state_dict(checkpoint['optimizerA_state_dict'])  # the recipe loads into optimizerA/B
    optimModelB.load_state_dict(checkpoint['optimizerB_state_dict'])
    modelA.eval()
    modelB.eval()
    modelA.train()
    modelB.train()
    for model, opt, net, ref_opt in ((modelA, optimModelA, netA, optimizerA), (modelB, optimModelB, netB, optimizerB)):
        print(torch.equal(model(x), net(x)), model(x).sum().item())
        for o in (opt, ref_opt):  # one more step each: the loaded optimizers go on as the saved ones
            o.zero_grad()
        m.F.cross_entropy(model(x), y).backward()
        m.F.cross_entropy(net(x), y).backward()
        opt.step()
        ref_opt.step()
        print(torch.equal(model.fc3.weight, net.fc3.weight), opt.state_dict()["param_groups"])


def test_saving_multiple_models_in_one_file(tmp_path):
    ref, _, _ = _same_printout(multiple_models, str(tmp_path / "model.pt"))
    assert ref[0] == "['modelA_state_dict', 'modelB_state_dict', 'optimizerA_state_dict', 'optimizerB_state_dict']"
    assert [line.split()[0] for line in ref[3:]] == ["True"] * 4


# ---------------------------------------------------------------- warmstarting_model_using_parameters_from_a_different_model.py


def warmstarting(m, shared, path):
    torch, nn, print = m.torch, m.nn, m.print
    NetA = _cifar_net(m)
    NetB = type("NetB", (NetA,), {})
    netA = shared.model(torch, "A", NetA())
    netB = NetB()
    PATH = path
    torch.save(netA.state_dict(), PATH)
    print(netB.load_state_dict(torch.load(PATH), strict=False))
    print(torch.equal(netB.conv1.weight, netA.conv1.weight))

    class NetC(NetA):  # a wider head and one more layer: keys that are missing, and keys left over
        def __init__(self):
            super().__init__()
            self.fc3 = nn.Linear(84, 10)
            self.classifier = nn.Linear(10, 2)
            del self.fc2
            self.hidden = nn.Linear(120, 84)

    netC = NetC()
    state = torch.load(PATH)
    result = netC.load_state_dict(state, strict=False)
    print(result)
    print(result.missing_keys, result.unexpected_keys, len(result), type(result).__name__)
    missing, unexpected = result
    print(missing == result[0], unexpected == result[1])
    # renaming the keys of the loaded state dict to the model's (what the recipe suggests)
    state = {k.replace("fc2.", "hidden."): v for k, v in state.items()}
    print(netC.load_state_dict(state, strict=False))
    print(torch.equal(netC.hidden.weight, netA.fc2.weight))
    for bad, strict in ((state, True), ({**state, "fc1.weight": torch.zeros(3, 3)}, False)):
        try:
            netC.load_state_dict(bad, strict=strict)
        except RuntimeError as e:
            print(type(e).__name__, e)


def test_warmstarting_with_strict_false(tmp_path):
    ref, _, _ = _same_printout(warmstarting, str(tmp_path / "model.pt"))
    assert ref[:2] == ["<All keys matched successfully>", "True"]
    assert ref[2] == ("_IncompatibleKeys(missing_keys=['classifier.weight', 'classifier.bias', 'hidden.weight', "
                      "'hidden.bias'], unexpected_keys=['fc2.weight', 'fc2.bias'])")
    assert ref[4:7] == ["True True", "_IncompatibleKeys(missing_keys=['classifier.weight', 'classifier.bias'], "
                        "unexpected_keys=[])", "True"]
    assert "size mismatch for fc1.weight" in ref[-1]


# ---------------------------------------------------------------- save_load_across_devices.py


def across_devices(m, shared, path):
    torch, print = m.torch, m.print
    Net = _cifar_net(m)
    net = shared.model(torch, "net", Net())
    PATH = path
    torch.save(net.state_dict(), PATH)
    x, _ = _images(torch, 2)
    locations = []
    for map_location in (torch.device('cpu'), 'cpu', {'cuda:0': 'cpu'}, None, lambda storage, loc: storage,
                         lambda storage, loc: locations.append(loc)):
        device = torch.device('cpu')
        model = Net()
        print(model.load_state_dict(torch.load(PATH, map_location=map_location)))
        model.to(device)
        print(torch.equal(model(x.to(device)), net(x)), model.fc1.weight.device)
    print(locations)
    if not torch.cuda.is_available():  # loading onto a GPU that is not there
        try:
            torch.load(PATH, map_location="cuda:0")
        except RuntimeError as e:
            print(type(e).__name__)
    # a DataParallel model: save its module's state dict, load it anywhere
    dp = torch.nn.DataParallel(net)
    print(list(dp.state_dict())[:2], dp.module is net)
    torch.save(dp.module.state_dict(), PATH)
    model = Net()
    print(model.load_state_dict(torch.load(PATH)), torch.equal(model(x), dp(x)))


def test_save_load_across_devices(tmp_path):
    ref, _, _ = _same_printout(across_devices, str(tmp_path / "model.pt"))
    assert ref[1] == "True cpu" and "['module.conv1.weight', 'module.conv1.bias'] True" in ref
    assert ref[12] == str(["cpu"] * 10)  # the function's second argument: where each tensor was saved
    with pytest.raises(TypeError, match="map_location returned int, not a tensor or None"):
        nerve.load(tmp_path / "model.pt", map_location=lambda storage, loc: 0)


# ---------------------------------------------------------------- zeroing_out_gradients.py


def zeroing_out_gradients(m, shared):
    torch, nn, optim, print = m.torch, m.nn, m.optim, m.print
    transforms = m.transforms
    transform = transforms.Compose(
        [transforms.ToTensor(),
         transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    rng = np.random.default_rng(1)
    pictures = [Image.fromarray(a) for a in rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)]
    targets = rng.integers(0, 10, 16)

    class CIFAR10Like(m.Dataset):  # torchvision.datasets.CIFAR10(root, train=True, transform=transform)
        def __len__(self):
            return len(pictures)

        def __getitem__(self, i):
            return transform(pictures[i]), int(targets[i])

    trainset = CIFAR10Like()
    trainloader = m.DataLoader(trainset, batch_size=4, shuffle=False, num_workers=0)
    Net = _cifar_net(m)
    net = shared.model(torch, "net", Net())
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    for epoch in range(2):
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            inputs, labels = data
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            if i % 2 == 1:
                print('[%d, %5d] loss: %.3f' % (epoch + 1, i + 1, running_loss / 2))
                running_loss = 0.0
    print('Finished Training')
    # without zeroing, gradients add up; zero_grad() sets them to None, set_to_none=False to zeros
    inputs, labels = next(iter(trainloader))
    print(inputs.shape, inputs.min().item(), inputs.max().item(), labels)
    optimizer.zero_grad()
    criterion(net(inputs), labels).backward()
    once = net.fc3.bias.grad.clone()
    criterion(net(inputs), labels).backward()
    print(torch.allclose(net.fc3.bias.grad, 2 * once), net.fc3.bias.grad)
    optimizer.zero_grad()
    print(net.fc3.bias.grad)
    criterion(net(inputs), labels).backward()
    print(torch.allclose(net.fc3.bias.grad, once))
    optimizer.zero_grad(set_to_none=False)
    print(net.fc3.bias.grad, net.conv1.weight.grad.abs().sum())
    criterion(net(inputs), labels).backward()
    net.zero_grad()
    print(net.fc3.bias.grad, [p.grad for p in net.parameters()].count(None))


def test_zeroing_out_gradients():
    ref, _, _ = _same_printout(zeroing_out_gradients)
    assert ref[:5] == [ref[0], ref[1], ref[2], ref[3], "Finished Training"] and ref[0].startswith("[1,     2] loss: ")
    assert ref[5].startswith("torch.Size([4, 3, 32, 32]) -1.0 1.0 tensor([")
    assert ref[6].startswith("True tensor([") and ref[8] == "None" and ref[9] == "True"


# ---------------------------------------------------------------- defining_a_neural_network.py


def defining_a_neural_network(m, shared):
    torch, nn, F, print = m.torch, m.nn, m.F, m.print

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout2d(0.25)
            self.dropout2 = nn.Dropout2d(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = self.conv2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = x.flatten(start_dim=1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
            return output

    random_data = shared.tensor(torch, "data", torch.rand((1, 1, 28, 28)))
    my_nn = shared.model(torch, "net", Net())
    print(my_nn)
    result = my_nn(random_data)  # training mode: the two libraries draw different dropout masks
    print(result.shape, result.dtype, result.exp().sum().item(), result.grad_fn is not None)
    my_nn.eval()
    result = my_nn(random_data)
    print(result)


def test_defining_a_neural_network():
    ref, _, _ = _same_printout(defining_a_neural_network)
    assert ref[1] == "  (conv1): Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))"
    assert ref[-3].endswith("]], grad_fn=<LogSoftmaxBackward0>)")  # then the 2-D dropout2d warning, twice
    assert ref[-1].startswith("warning: UserWarning: dropout2d: Received a 2-D input to dropout2d")


# ---------------------------------------------------------------- module_load_state_dict_tips.py


def load_state_dict_tips(m, shared, path):
    torch, nn, print = m.torch, m.nn, m.print

    class SomeModule(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linears = nn.ModuleList([nn.Linear(1, 1) for i in range(10)])

        def forward(self, x):
            for layer in self.linears:  # the recipe's forward calls the ModuleList itself (never run there)
                x = layer(x)
            return x

    m_ = shared.model(torch, "m", SomeModule())
    torch.save(m_.state_dict(), path)
    state_dict = torch.load(path, mmap=True)
    print(list(state_dict)[:4], state_dict["linears.3.weight"])
    # the vanilla way, then the CPU version of the recipe's: built under the device context manager,
    # loaded with assign=True (the module takes the mapped tensors themselves)
    m2 = SomeModule()
    print(m2.load_state_dict(torch.load(path)))
    with torch.device('cpu'):
        cpu_m = SomeModule()
    print(cpu_m.load_state_dict(state_dict, assign=True))
    x = torch.ones(3, 1)
    print(cpu_m(x), torch.equal(cpu_m(x), m_(x)), type(cpu_m.linears[0].weight).__name__)
    print(cpu_m.linears[0].weight.requires_grad, cpu_m.linears[0].weight.dtype)
    with torch.no_grad():  # the mapping is private: writing to the loaded tensors leaves the file as it was
        state_dict["linears.0.weight"].add_(1.0)
    print(torch.equal(cpu_m.linears[0].weight, m_.linears[0].weight + 1),
          torch.equal(torch.load(path)["linears.0.weight"], m_.linears[0].weight))
    doubles = {k: v.double() for k, v in m_.state_dict().items()}  # assign keeps the loaded dtype, and shares
    m3 = SomeModule()
    m3.load_state_dict(doubles, assign=True)
    with torch.no_grad():
        doubles["linears.2.bias"].mul_(2)
    print(m3.linears[0].weight.dtype, type(m3.linears[2].bias).__name__, torch.equal(m3.linears[2].bias,
                                                                                     doubles["linears.2.bias"]))
    optimizer = torch.optim.SGD(cpu_m.parameters(), lr=0.1)  # after the load, as the recipe says
    cpu_m(x).sum().backward()
    optimizer.step()
    print(cpu_m.linears[9].bias)
    return state_dict


def test_module_load_state_dict_tips(tmp_path):
    ref, _, state_dict = _same_printout(load_state_dict_tips, str(tmp_path / "checkpoint.pth"))
    assert ref[0].startswith("['linears.0.weight', 'linears.0.bias', 'linears.1.weight', 'linears.1.bias'] tensor([[")
    assert ref[-5:-2] == ["True torch.float32", "True True", "torch.float64 Parameter True"]
    # nerve's mmap=True maps the file's bytes (copy-on-write) rather than reading them
    assert isinstance(state_dict["linears.5.bias"]._data.base, np.memmap)
    with open(tmp_path / "checkpoint.pth", "rb") as f, pytest.raises(ValueError, match="must be a file path"):
        nerve.load(f, mmap=True)


def test_meta_device_is_a_clear_error():
    """module_load_state_dict_tips and reasoning_about_shapes build on the meta device, which nerve lacks."""
    assert str(_torch.rand(2, 3, device="meta").device) == "meta"
    for make in (lambda: nerve.device("meta"), lambda: nerve.rand(2, 3, device="meta"),
                 lambda: nerve.nn.Conv2d(3, 5, 2, device="meta")):
        with pytest.raises(NotImplementedError, match="nerve has no 'meta' device .* build the model on 'cpu'.*"
                           "mmap=True.*assign=True"):
            make()
    with pytest.raises(NotImplementedError, match="no 'meta' device"):
        with nerve.device("meta"):
            pass
    assert nerve.get_default_device() == "cpu" and nerve.zeros(1).device != "meta"


# ---------------------------------------------------------------- reasoning_about_shapes.py (on the CPU)


def reasoning_about_shapes(m, shared):
    torch, nn, F, print = m.torch, m.nn, m.F, m.print
    t = torch.rand(2, 3, 10, 10, device="cpu")  # "meta" in the recipe
    conv = torch.nn.Conv2d(3, 5, 2, device="cpu")
    out = conv(t)
    print(out.shape, out.device)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            x = self.fc3(x)
            return x

    def fw_hook(module, input, output):
        print(f"Shape of output to {module} is {output.shape}.")

    with torch.device("cpu"):
        net = Net()
        inp = torch.randn((4, 3, 32, 32))
    for name, layer in net.named_modules():
        layer.register_forward_hook(fw_hook)
    out = net(inp)


def test_reasoning_about_shapes_with_forward_hooks():
    ref, _, _ = _same_printout(reasoning_about_shapes)
    assert ref[0] == "torch.Size([2, 5, 9, 9]) cpu"
    assert "Shape of output to MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False) is " \
           "torch.Size([4, 16, 5, 5])." in ref
    assert ref[-8] == "Shape of output to Net(" and ref[-1] == ") is torch.Size([4, 10])."  # the model's own hook


# ---------------------------------------------------------------- changing_default_device.py


def changing_default_device(m, shared):
    torch, print = m.torch, m.print
    USE_CUDA = False
    mod = torch.nn.Linear(20, 30)
    if USE_CUDA:
        mod.cuda()
    device = 'cpu'
    if USE_CUDA:
        device = 'cuda'
    inp = torch.randn(128, 20, device=device)
    print(mod(inp).device)
    with torch.device('cpu'):
        mod = torch.nn.Linear(20, 30)
        print(mod.weight.device)
        print(mod(torch.randn(128, 20)).device, torch.get_default_device())
        with torch.device('cpu') as inner:
            print(inner, torch.zeros(1).device)
    torch.set_default_device('cpu')
    mod = torch.nn.Linear(20, 30)
    print(mod.weight.device)
    print(mod(torch.randn(128, 20)).device)
    torch.set_default_device(None)
    errors = []
    if not torch.cuda.is_available():
        try:  # the recipe's CUDA blocks on a machine without CUDA: a clear error at the first factory call
            with torch.device('cuda'):
                torch.nn.Linear(20, 30)
        except (RuntimeError, AssertionError) as e:
            errors.append(e)
        try:
            torch.set_default_device('cuda')
            torch.randn(2)
        except (RuntimeError, AssertionError) as e:
            errors.append(e)
        finally:
            torch.set_default_device(None)
    print(torch.get_default_device(), torch.zeros(1).device)
    return errors


def test_changing_default_device():
    ref, t_errors, n_errors = _same_printout(changing_default_device)
    assert ref == ["cpu", "cpu", "cpu cpu", "cpu cpu", "cpu", "cpu", "cpu cpu"]
    if not _torch.cuda.is_available():
        assert [str(e) for e in t_errors] == ["Torch not compiled with CUDA enabled"] * 2
        assert len(n_errors) == 2
        for e in n_errors:  # PyTorch's is an AssertionError; nerve's a RuntimeError that says what to install
            assert isinstance(e, RuntimeError) and str(e).startswith("CUDA is not available: nerve runs on the GPU "
                                                                     "through CuPy")


# ---------------------------------------------------------------- data_tutorial.py and transforms_tutorial.py

LABELS_MAP = {0: "T-Shirt", 1: "Trouser", 2: "Pullover", 3: "Dress", 4: "Coat", 5: "Sandal", 6: "Shirt",
              7: "Sneaker", 8: "Bag", 9: "Ankle Boot"}


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory):
    """A small Fashion-MNIST in torchvision's layout (root/FashionMNIST/raw/, uncompressed IDX files)."""
    root = tmp_path_factory.mktemp("data")
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 150), ("t10k", 70)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    return str(root)


def data_tutorial(m, shared, root):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch, datasets, ToTensor, print = m.torch, m.datasets, m.transforms.ToTensor, m.print
    training_data = datasets.FashionMNIST(root=root, train=True, download=True, transform=ToTensor())  # files there
    test_data = datasets.FashionMNIST(root=root, train=False, download=False, transform=ToTensor())
    print(len(training_data), len(test_data))
    labels_map = LABELS_MAP
    figure = plt.figure(figsize=(8, 8))
    cols, rows = 3, 3
    for i in range(1, cols * rows + 1):
        drawn = torch.randint(len(training_data), size=(1,)).item()
        print(type(drawn).__name__, 0 <= drawn < len(training_data))
        sample_idx = shared.value(("idx", i), drawn)  # the same draws on both libraries
        img, label = training_data[sample_idx]
        figure.add_subplot(rows, cols, i)
        plt.title(labels_map[label])
        plt.axis("off")
        plt.imshow(img.squeeze(), cmap="gray")
        print(labels_map[label], img.squeeze().shape, img.dtype, img.sum().item(), type(label).__name__)
    print([(ax.get_title(), ax.images[0].get_array().shape, ax.images[0].get_array().sum()) for ax in figure.axes])
    plt.close(figure)
    train_dataloader = m.DataLoader(training_data, batch_size=64, shuffle=True)
    test_dataloader = m.DataLoader(test_data, batch_size=64, shuffle=True)
    train_features, train_labels = next(iter(train_dataloader))
    print(f"Feature batch shape: {train_features.size()}")
    print(f"Labels batch shape: {train_labels.size()}")
    img = train_features[0].squeeze()
    label = train_labels[0]
    # the two libraries shuffle differently: the label printed is the one of that image in the dataset
    found = [i for i in range(len(training_data)) if torch.equal(training_data[i][0].squeeze(), img)]
    print(f"Label: {label}" == f"Label: {training_data[found[0]][1]}", img.shape, label.dtype)
    print([(x.shape, y.shape) for x, y in test_dataloader])
    loader = m.DataLoader(training_data, batch_size=64)  # unshuffled, batches can be compared
    print([(x.sum().item(), y.tolist()[:5]) for x, y in loader])


def test_data_tutorial_fashion_mnist(fashion_root):
    ref, _, _ = _same_printout(data_tutorial, fashion_root)
    assert ref[0] == "150 70" and ref[-5:-2] == ["Feature batch shape: torch.Size([64, 1, 28, 28])",
                                                  "Labels batch shape: torch.Size([64])",
                                                  "True torch.Size([28, 28]) torch.int64"]


def transforms_tutorial(m, shared, root):
    torch, datasets, print = m.torch, m.datasets, m.print
    ToTensor, Lambda = m.transforms.ToTensor, m.transforms.Lambda
    ds = datasets.FashionMNIST(
        root=root,
        train=True,
        download=False,
        transform=ToTensor(),
        target_transform=Lambda(lambda y: torch.zeros(10, dtype=torch.float).scatter_(0, torch.tensor(y), value=1))
    )
    img, target = ds[3]
    print(img.shape, img.dtype, img.min().item(), img.max().item(), img.mean().item())
    print(target, ds.targets[3])
    target_transform = Lambda(lambda y: torch.zeros(
        10, dtype=torch.float).scatter_(dim=0, index=torch.tensor(y), value=1))
    print(target_transform(7), target_transform(np.int64(2)))
    images, targets = next(iter(m.DataLoader(ds, batch_size=5)))
    print(images.shape, targets)
    print(torch.equal(targets.argmax(1), ds.targets[:5]), torch.equal(images[3], img))


def test_transforms_tutorial(fashion_root):
    ref, _, _ = _same_printout(transforms_tutorial, fashion_root)
    assert ref[0].startswith("torch.Size([1, 28, 28]) torch.float32 0.0 1.0 ")
    assert ref[2] == "tensor([0., 0., 0., 0., 0., 0., 0., 1., 0., 0.]) tensor([0., 0., 1., 0., 0., 0., 0., 0., 0., 0.])"
    assert ref[-1] == "True True"


@pytest.fixture()
def image_folder(tmp_path):
    """Image files (grayscale and RGB PNGs) and their annotations file, as the tutorial's CustomImageDataset reads."""
    rng = np.random.default_rng(2)
    rows = []
    for i in range(6):
        name = f"item{i}.png"
        if i % 2:
            Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), mode="L").save(tmp_path / name)
        else:
            Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8), mode="RGB").save(tmp_path / name)
        rows.append((name, int(rng.integers(0, 10))))
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return str(tmp_path / "labels.csv"), str(tmp_path)


def custom_image_dataset(m, shared, annotations_file, img_dir):
    torch, print, read_image = m.torch, m.print, m.read_image

    class CustomImageDataset(m.Dataset):
        def __init__(self, annotations_file, img_dir, transform=None, target_transform=None):
            with open(annotations_file, newline="") as f:  # pd.read_csv in the tutorial
                self.img_labels = list(csv.reader(f))
            self.img_dir = img_dir
            self.transform = transform
            self.target_transform = target_transform

        def __len__(self):
            return len(self.img_labels)

        def __getitem__(self, idx):
            img_path = os.path.join(self.img_dir, self.img_labels[idx][0])
            image = read_image(img_path)
            label = np.int64(self.img_labels[idx][1])  # what pandas' iloc gives
            if self.transform:
                image = self.transform(image)
            if self.target_transform:
                label = self.target_transform(label)
            return image, label

    plain = CustomImageDataset(annotations_file, img_dir)
    for idx in range(len(plain)):
        image, label = plain[idx]
        print(idx, image.shape, image.dtype, image.sum().item(), image[:, 3, 4].tolist(), label)
    to_float = m.transforms.Lambda(lambda x: x[:1].float() / 255)  # one channel of each, in [0, 1]
    one_hot = m.transforms.Lambda(lambda y: torch.zeros(10, dtype=torch.float).scatter_(0, torch.tensor(y), value=1))
    data = CustomImageDataset(annotations_file, img_dir, transform=to_float, target_transform=one_hot)
    for features, labels in m.DataLoader(data, batch_size=4):
        print(features.shape, features.dtype, features.sum().item(), labels)
    for features, labels in m.DataLoader(CustomImageDataset(annotations_file, img_dir, transform=to_float),
                                         batch_size=4, shuffle=True):
        print(features.shape, labels.shape, labels.dtype)


def test_data_tutorial_custom_image_dataset(image_folder):
    ref, _, _ = _same_printout(custom_image_dataset, *image_folder)
    assert ref[0].startswith("0 torch.Size([3, 28, 28]) torch.uint8 ") and ref[1].startswith("1 torch.Size([1, 28, 28]) ")
    assert ref[-2:] == ["torch.Size([4, 1, 28, 28]) torch.Size([4]) torch.int64",
                        "torch.Size([2, 1, 28, 28]) torch.Size([2]) torch.int64"]


def test_read_image_is_torchvisions(image_folder):
    """nerve.vision.io.read_image: a uint8 (C, H, W) tensor, the file's pixels as PIL decodes them."""
    from nerve.vision.io import ImageReadMode, read_image

    _, folder = image_folder
    for name, channels in (("item0.png", 3), ("item1.png", 1)):
        pixels = np.asarray(Image.open(os.path.join(folder, name)))
        got = read_image(os.path.join(folder, name))
        assert got.dtype == nerve.uint8 and got.shape == (channels, 28, 28)
        np.testing.assert_array_equal(got.numpy(), pixels.reshape(28, 28, channels).transpose(2, 0, 1))
    gray = read_image(os.path.join(folder, "item0.png"), ImageReadMode.GRAY)
    np.testing.assert_array_equal(gray.numpy()[0], np.asarray(Image.open(os.path.join(folder, "item0.png")).convert("L")))


# ---------------------------------------------------------------- custom_dataset_transforms_loader.py


@pytest.fixture()
def faces(tmp_path):
    """Face images of a few sizes and a landmarks CSV (image_name, part_0_x, part_0_y, ...), as faces/ holds."""
    rng = np.random.default_rng(3)
    rows = [["image_name"] + [f"part_{i}_{c}" for i in range(4) for c in "xy"]]
    for i, (h, w) in enumerate(((60, 50), (48, 64), (52, 52), (70, 45), (50, 66))):
        name = f"face{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / name)
        rows.append([name] + [int(v) for v in rng.integers(5, 40, 8)])
    with open(tmp_path / "face_landmarks.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return str(tmp_path / "face_landmarks.csv"), str(tmp_path)


def face_landmarks(m, shared, csv_file, root_dir):
    torch, print = m.torch, m.print
    np.random.seed(0)  # RandomCrop draws from NumPy's global generator

    def imread(path):  # skimage.io.imread
        return np.asarray(Image.open(path))

    def resize(image, size):  # skimage.transform.resize: floats in [0, 1]
        return np.asarray(Image.fromarray(image).resize(size[::-1], Image.BILINEAR)) / 255.0

    class FaceLandmarksDataset(m.Dataset):
        def __init__(self, csv_file, root_dir, transform=None):
            with open(csv_file, newline="") as f:  # pd.read_csv in the recipe
                self.landmarks_frame = list(csv.reader(f))[1:]
            self.root_dir = root_dir
            self.transform = transform

        def __len__(self):
            return len(self.landmarks_frame)

        def __getitem__(self, idx):
            if torch.is_tensor(idx):
                idx = idx.tolist()
            img_name = os.path.join(self.root_dir, self.landmarks_frame[idx][0])
            image = imread(img_name)
            landmarks = self.landmarks_frame[idx][1:]
            landmarks = np.array([landmarks])
            landmarks = landmarks.astype('float').reshape(-1, 2)
            sample = {'image': image, 'landmarks': landmarks}
            if self.transform:
                sample = self.transform(sample)
            return sample

    class Rescale(object):
        def __init__(self, output_size):
            assert isinstance(output_size, (int, tuple))
            self.output_size = output_size

        def __call__(self, sample):
            image, landmarks = sample['image'], sample['landmarks']
            h, w = image.shape[:2]
            if isinstance(self.output_size, int):
                if h > w:
                    new_h, new_w = self.output_size * h / w, self.output_size
                else:
                    new_h, new_w = self.output_size, self.output_size * w / h
            else:
                new_h, new_w = self.output_size
            new_h, new_w = int(new_h), int(new_w)
            img = resize(image, (new_h, new_w))
            landmarks = landmarks * [new_w / w, new_h / h]
            return {'image': img, 'landmarks': landmarks}

    class RandomCrop(object):
        def __init__(self, output_size):
            assert isinstance(output_size, (int, tuple))
            if isinstance(output_size, int):
                self.output_size = (output_size, output_size)
            else:
                assert len(output_size) == 2
                self.output_size = output_size

        def __call__(self, sample):
            image, landmarks = sample['image'], sample['landmarks']
            h, w = image.shape[:2]
            new_h, new_w = self.output_size
            top = np.random.randint(0, h - new_h)
            left = np.random.randint(0, w - new_w)
            image = image[top: top + new_h, left: left + new_w]
            landmarks = landmarks - [left, top]
            return {'image': image, 'landmarks': landmarks}

    class ToTensor(object):
        def __call__(self, sample):
            image, landmarks = sample['image'], sample['landmarks']
            image = image.transpose((2, 0, 1))
            return {'image': torch.from_numpy(image), 'landmarks': torch.from_numpy(landmarks)}

    face_dataset = FaceLandmarksDataset(csv_file=csv_file, root_dir=root_dir)
    for i in range(len(face_dataset)):
        sample = face_dataset[i]
        print(i, sample['image'].shape, sample['landmarks'].shape)
        if i == 3:
            break
    composed = m.transforms.Compose([Rescale(64), RandomCrop(48)])
    sample = face_dataset[2]
    for i, tsfrm in enumerate([Rescale(64), RandomCrop(32), composed]):
        transformed_sample = tsfrm(sample)
        print(type(tsfrm).__name__, transformed_sample['image'].shape, transformed_sample['landmarks'][:2])
    transformed_dataset = FaceLandmarksDataset(csv_file=csv_file, root_dir=root_dir,
                                               transform=m.transforms.Compose([Rescale(64), RandomCrop(48),
                                                                               ToTensor()]))
    for i in range(len(transformed_dataset)):
        sample = transformed_dataset[i]
        print(i, sample['image'].size(), sample['landmarks'].size(), sample['image'].dtype,
              sample['image'].sum().item(), sample['landmarks'][0])
        if i == 3:
            break
    sample = transformed_dataset[torch.tensor(1)]
    print(sample['image'].is_contiguous(), sample['landmarks'].dtype)
    dataloader = m.DataLoader(transformed_dataset, batch_size=4, shuffle=True, num_workers=2)
    for i_batch, sample_batched in enumerate(dataloader):
        print(i_batch, sample_batched['image'].size(), sample_batched['landmarks'].size(),
              sample_batched['image'].dtype, sorted(sample_batched))


def test_custom_dataset_transforms_loader(faces):
    ref, _, _ = _same_printout(face_landmarks, *faces)
    assert ref[0] == "0 (60, 50, 3) (4, 2)"
    assert ref[-2:] == ["0 torch.Size([4, 3, 48, 48]) torch.Size([4, 4, 2]) torch.float64 ['image', 'landmarks']",
                        "1 torch.Size([1, 3, 48, 48]) torch.Size([1, 4, 2]) torch.float64 ['image', 'landmarks']"]


# ---------------------------------------------------------------- loading_data_recipe.py (a stand-in for YESNO)


def loading_data(m, shared):
    torch, print = m.torch, m.print
    waveform = shared.tensor(torch, "wave", torch.randn(1, 12))

    class YesNoLike(m.Dataset):  # torchaudio.datasets.YESNO's items: (waveform, sample_rate, labels)
        def __len__(self):
            return 5

        def __getitem__(self, n):
            return waveform, 8000, [0, 1, 0, 0, 1, 0, 1, 0]

    yesno_data = YesNoLike()
    n = 3
    waveform, sample_rate, labels = yesno_data[n]
    print("Waveform: {}\nSample rate: {}\nLabels: {}".format(waveform, sample_rate, labels))
    data_loader = m.DataLoader(yesno_data, batch_size=1, shuffle=True)
    for data in data_loader:
        print("Data: ", data)
        print("Waveform: {}\nSample rate: {}\nLabels: {}".format(data[0], data[1], data[2]))
        break
    print(data[0][0].numpy().shape, data[0][0].numpy().dtype)


def test_loading_data_recipe_collates_tuples_and_lists():
    ref, _, _ = _same_printout(loading_data)
    assert "Sample rate: tensor([8000])" in ref
    assert ref[-2] == "Labels: [tensor([0]), tensor([1]), tensor([0]), tensor([0]), tensor([1]), tensor([0]), " \
                      "tensor([1]), tensor([0])]"
