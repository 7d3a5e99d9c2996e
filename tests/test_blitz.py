"""PyTorch's "Deep Learning with PyTorch: A 60 Minute Blitz" (pytorch/tutorials, ``beginner_source/blitz/``),
run on PyTorch and on nerve.

The four tutorials (tensor_tutorial, autograd_tutorial, neural_networks_tutorial, cifar10_tutorial)
are written once each, as a function of the modules they import, so the nerve run is the PyTorch
code with only its imports changed (``tests/_tutorial_compare.py``). Both runs start from the same
weights and see the same numbers where a tutorial draws random ones (the draw is kept, its values
replaced), and every printed line is compared, numbers to float32 rounding, memory addresses
left out.

Where the tutorials need what is not here, a stand-in takes its place, the same for both runs:

- CIFAR-10 is a small generated dataset written in the real ``cifar-10-batches-py`` pickle layout
  (five data batches, a test batch, ``batches.meta``), read by ``datasets.CIFAR10(root, train,
  download=False, transform)`` with the generated files' checksums in place of the real ones'.
- torchvision is not installed: on the PyTorch side its CIFAR10, Compose, ToTensor, Normalize and
  make_grid are written out below from torchvision's code, in plain PyTorch and NumPy; the nerve
  run uses ``nerve.vision``.
- The autograd tutorial's pretrained ResNet-18 is a small network with the same last layer
  (``fc``, 512 features in, 1000 out), initialised the same on both sides.
- ``shuffle=False`` in the compared runs: the two libraries draw different random orders
  (``test_cifar10_tutorial_shuffled`` runs nerve alone with the tutorial's ``shuffle=True``), and
  ``num_workers=0`` there (PyTorch's worker processes are slow to start; the nerve run has 2).
- Shorter: 500 training images, the running loss printed every 25 mini-batches (2000 in the
  tutorial), a few steps of the "Training on GPU" loop.
"""

import hashlib
import os
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import nerve
import nerve.vision

pytest.importorskip("torch")
import torch as _torch  # noqa: E402  (after the skip)
from _tutorial_compare import (  # noqa: E402
    SharedWeights,
    assert_same_lines,
    modules,
    torch_on_one_thread,  # noqa: F401  (an autouse fixture: imported, it applies here)
)

# ---------------------------------------------------------------- torchvision, written out for PyTorch


class _ToTensor:
    """torchvision's ToTensor on a PIL RGB image: uint8 (H, W, C) to float (C, H, W) divided by 255."""

    def __call__(self, pic):
        img = _torch.from_numpy(np.array(pic, np.uint8, copy=True))
        img = img.view(pic.size[1], pic.size[0], len(pic.getbands())).permute((2, 0, 1)).contiguous()
        return img.to(dtype=_torch.get_default_dtype()).div(255)


class _Normalize:
    """torchvision's Normalize: ``(x - mean) / std`` per channel, on a copy."""

    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, tensor):
        mean = _torch.as_tensor(self.mean, dtype=tensor.dtype).view(-1, 1, 1)
        std = _torch.as_tensor(self.std, dtype=tensor.dtype).view(-1, 1, 1)
        return tensor.clone().sub_(mean).div_(std)


class _Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img


class _CIFAR10(_torch.utils.data.Dataset):
    """torchvision's CIFAR10 with ``download=False``: the pickled batches under ``root/cifar-10-batches-py``,
    checked against the md5 sums of ``train_list``, ``test_list`` and ``meta``; items (PIL image, int)."""

    base_folder = "cifar-10-batches-py"
    train_list: list = []
    test_list: list = []
    meta: dict = {}

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        self.root, self.train, self.transform, self.target_transform = root, train, transform, target_transform
        if download:
            raise RuntimeError("the tests download nothing")
        if not self._check_integrity():
            raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it")
        data, self.targets = [], []
        for name, _ in self.train_list if train else self.test_list:
            with open(os.path.join(root, self.base_folder, name), "rb") as f:
                entry = pickle.load(f, encoding="latin1")
            data.append(entry["data"])
            self.targets.extend(entry["labels"])
        self.data = np.vstack(data).reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1))
        with open(os.path.join(root, self.base_folder, self.meta["filename"]), "rb") as f:
            self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def _check_integrity(self):
        files = self.train_list + self.test_list + [[self.meta["filename"], self.meta["md5"]]]
        return all(_md5(os.path.join(self.root, self.base_folder, name)) == md5 for name, md5 in files)

    def __getitem__(self, index):
        img, target = Image.fromarray(self.data[index]), self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self.data)


def _make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0):
    """torchvision.utils.make_grid's algorithm on PyTorch tensors."""
    if isinstance(tensor, list):
        tensor = _torch.stack(tensor, dim=0)
    if tensor.dim() == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() == 3:
        if tensor.size(0) == 1:
            tensor = _torch.cat((tensor, tensor, tensor), 0)
        tensor = tensor.unsqueeze(0)
    if tensor.dim() == 4 and tensor.size(1) == 1:
        tensor = _torch.cat((tensor, tensor, tensor), 1)
    if normalize is True:
        tensor = tensor.clone()

        def norm_range(t):
            low, high = value_range if value_range is not None else (float(t.min()), float(t.max()))
            t.clamp_(min=low, max=high)
            t.sub_(low).div_(max(high - low, 1e-5))

        if scale_each is True:
            for t in tensor:
                norm_range(t)
        else:
            norm_range(tensor)
    if tensor.size(0) == 1:
        return tensor.squeeze(0)
    nmaps = tensor.size(0)
    xmaps = min(nrow, nmaps)
    ymaps = int(np.ceil(float(nmaps) / xmaps))
    height, width = int(tensor.size(2) + padding), int(tensor.size(3) + padding)
    grid = tensor.new_full((tensor.size(1), height * ymaps + padding, width * xmaps + padding), pad_value)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            grid.narrow(1, y * height + padding, height - padding).narrow(
                2, x * width + padding, width - padding).copy_(tensor[k])
            k = k + 1
    return grid


_TORCHVISION = SimpleNamespace(
    datasets=SimpleNamespace(CIFAR10=_CIFAR10),
    transforms=SimpleNamespace(Compose=_Compose, ToTensor=_ToTensor, Normalize=_Normalize),
    utils=SimpleNamespace(make_grid=_make_grid),
)


def blitz_modules(lib):
    """The tutorials' imports: torch, nn, F, optim, and torchvision (``nerve.vision`` on nerve)."""
    m = modules(lib)
    m.torchvision = _TORCHVISION if lib is _torch else nerve.vision
    m.transforms = m.torchvision.transforms
    return m


def both_blitz(tutorial, *args, **kwargs):
    """Run ``tutorial(modules, ...)`` on PyTorch, then on nerve, torchvision's part included; both results."""
    _torch.manual_seed(0)
    return tutorial(blitz_modules(_torch), *args, **kwargs), tutorial(blitz_modules(nerve), *args, **kwargs)


def _recorder():
    out = []
    return out, lambda *args: out.append(" ".join(str(a) for a in args))


def _draw(seed, *shape):
    """The numbers both runs use where a tutorial draws random ones."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- tensor_tutorial.py ("What is PyTorch?")


def tensor_tutorial(m):
    """Creating tensors, their sizes, four ways to add, indexing, view, item, the NumPy bridge."""
    torch = m.torch
    out, print = _recorder()  # noqa: A001  (record what is printed)
    x = torch.empty(5, 3)
    print(x.size(), x.dtype)  # uninitialized: its values are whatever the memory held
    x = torch.rand(5, 3)
    print(x.shape, bool(((x >= 0) & (x < 1)).all()))
    x = torch.zeros(5, 3, dtype=torch.long)
    print(x)
    x = torch.tensor([5.5, 3])
    print(x)
    x = x.new_ones(5, 3, dtype=torch.double)  # new_* methods take in sizes
    print(x)
    x = torch.randn_like(x, dtype=torch.float)  # override dtype!
    print(x.size(), x.dtype)
    x = torch.tensor(_draw(1, 5, 3))  # the same draw on both libraries
    print(x)
    print(x.size())
    y = torch.rand(5, 3)
    y = torch.tensor(_draw(2, 5, 3))
    print(x + y)
    print(torch.add(x, y))
    result = torch.empty(5, 3)
    torch.add(x, y, out=result)
    print(result)
    y.add_(x)  # adds x to y
    print(y)
    print(x[:, 1])
    x = torch.randn(4, 4)
    x = torch.tensor(_draw(3, 4, 4))
    y = x.view(16)
    z = x.view(-1, 8)  # the size -1 is inferred from other dimensions
    print(x.size(), y.size(), z.size())
    x = torch.randn(1)
    x = torch.tensor(_draw(4, 1))
    print(x)
    print(x.item())
    a = torch.ones(5)
    print(a)
    b = a.numpy()
    print(b)
    a.add_(1)
    print(a)
    print(b)
    a = np.ones(5)
    b = torch.from_numpy(a)
    np.add(a, 1, out=a)
    print(a)
    print(b)
    if torch.cuda.is_available():
        device = torch.device("cuda")  # a CUDA device object
        y = torch.ones_like(x, device=device)  # directly create a tensor on GPU
        x = x.to(device)  # or just use strings ``.to("cuda")``
        z = x + y
        print(z)
        print(z.to("cpu", torch.double))  # ``.to`` can also change dtype together!
    return out


def test_tensor_tutorial():
    ref, got = both_blitz(tensor_tutorial)
    assert ref[2].startswith("tensor([[0, 0, 0],") and ref[4].endswith("dtype=torch.float64)")
    assert ref[-1] == "tensor([2., 2., 2., 2., 2.], dtype=torch.float64)"  # the NumPy array's change shows
    assert_same_lines(ref, got)


# ---------------------------------------------------------------- autograd_tutorial.py


def autograd_tutorial_tensors(m):
    """The tutorial's earlier version: requires_grad, grad_fn, out.backward(), backward with a gradient
    argument on a vector, no_grad."""
    torch = m.torch
    out_, print = _recorder()  # noqa: A001
    x = torch.ones(2, 2, requires_grad=True)
    print(x)
    y = x + 2
    print(y)
    print(y.grad_fn)
    z = y * y * 3
    out = z.mean()
    print(z, out)
    a = torch.randn(2, 2)
    a = torch.tensor(_draw(5, 2, 2))
    a = ((a * 3) / (a - 1))
    print(a.requires_grad)
    a.requires_grad_(True)
    print(a.requires_grad)
    b = (a * a).sum()
    print(b.grad_fn)
    out.backward()
    print(x.grad)  # d(out)/dx: 4.5 everywhere
    x = torch.randn(3, requires_grad=True)
    x = torch.tensor(_draw(6, 3), requires_grad=True)
    y = x * 2
    while y.data.norm() < 1000:
        y = y * 2
    print(y)
    gradients = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
    y.backward(gradients)
    print(x.grad)
    print(x.requires_grad)
    print((x ** 2).requires_grad)
    with torch.no_grad():
        print((x ** 2).requires_grad)
    return out_


def test_autograd_tutorial_tensors():
    ref, got = both_blitz(autograd_tutorial_tensors)
    assert ref[2].startswith("<AddBackward0 object at 0x") and ref[6].startswith("<SumBackward0 object at 0x")
    assert ref[7] == "tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])"
    assert_same_lines(ref, got)


class _Backbone:
    """In place of the pretrained ResNet-18: a small network ending, as ResNet-18 does, in ``fc``,
    a Linear layer from 512 features to 1000 classes."""

    @staticmethod
    def build(nn):
        class Backbone(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
                self.bn1 = nn.BatchNorm2d(8)
                self.relu = nn.ReLU(inplace=True)
                self.avgpool = nn.AdaptiveAvgPool2d((8, 8))
                self.fc = nn.Linear(512, 1000)

            def forward(self, x):
                x = self.avgpool(self.relu(self.bn1(self.conv1(x))))
                return self.fc(x.flatten(1))

        return Backbone


def autograd_tutorial(m, share):
    """The current version ("A Gentle Introduction to torch.autograd"): one training step of a
    network, the gradients of Q = 3a^3 - b^2, what requires grad, freezing all but a new last layer."""
    torch, nn, optim = m.torch, m.nn, m.optim
    out, print = _recorder()  # noqa: A001
    model = share(torch, "model", _Backbone.build(nn)())  # resnet18(weights=ResNet18_Weights.DEFAULT)
    data = torch.rand(1, 3, 64, 64)
    data = torch.tensor(np.abs(_draw(7, 1, 3, 64, 64)) % 1)  # the same draw on both libraries
    labels = torch.rand(1, 1000)
    labels = torch.tensor(np.abs(_draw(8, 1, 1000)) % 1)
    prediction = model(data)  # forward pass
    loss = (prediction - labels).sum()
    loss.backward()  # backward pass
    optim_ = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    optim_.step()  # gradient descent
    print(loss, prediction[0, :4])
    print(model.fc.bias[:4], model.bn1.running_mean)

    a = torch.tensor([2., 3.], requires_grad=True)
    b = torch.tensor([6., 4.], requires_grad=True)
    Q = 3*a**3 - b**2
    print(Q.grad_fn, *(f"{node} {i}" for node, i in Q.grad_fn.next_functions))  # before backward frees it
    external_grad = torch.tensor([1., 1.])
    Q.backward(gradient=external_grad)
    print(9*a**2 == a.grad)
    print(-2*b == b.grad)
    print(Q, a.grad, b.grad)

    x = torch.rand(5, 5)
    y = torch.rand(5, 5)
    z = torch.rand((5, 5), requires_grad=True)
    a = x + y
    print(f"Does `a` require gradients?: {a.requires_grad}")
    b = x + z
    print(f"Does `b` require gradients?: {b.requires_grad}")

    for param in model.parameters():  # freeze all the parameters in the network
        param.requires_grad = False
    model.fc = share(torch, "fc", nn.Linear(512, 10))
    optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)  # only the classifier learns
    frozen = model.conv1.weight.clone()
    optimizer.zero_grad()
    model(data).square().sum().backward()
    optimizer.step()
    print([name for name, p in model.named_parameters() if p.requires_grad], model.conv1.weight.grad)
    print(torch.equal(model.conv1.weight, frozen), model.fc.bias)
    return out


def test_autograd_tutorial():
    ref, got = both_blitz(autograd_tutorial, SharedWeights())
    assert ref[2].startswith("<SubBackward0 object at 0x") and " <MulBackward0 object at 0x" in ref[2]
    assert ref[3:5] == ["tensor([True, True])"] * 2
    assert ref[6:8] == ["Does `a` require gradients?: False", "Does `b` require gradients?: True"]
    assert ref[8] == "['fc.weight', 'fc.bias'] None" and ref[9].startswith("True Parameter containing:")
    assert_same_lines(ref, got)


# ---------------------------------------------------------------- neural_networks_tutorial.py


class _LeNet:
    @staticmethod
    def build(torch, nn, F):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(1, 6, 5)  # 1 input image channel, 6 output channels, 5x5 kernels
                self.conv2 = nn.Conv2d(6, 16, 5)
                self.fc1 = nn.Linear(16 * 5 * 5, 120)  # an affine operation: y = Wx + b
                self.fc2 = nn.Linear(120, 84)
                self.fc3 = nn.Linear(84, 10)

            def forward(self, input):
                c1 = F.relu(self.conv1(input))  # (N, 6, 28, 28)
                s2 = F.max_pool2d(c1, (2, 2))  # (N, 6, 14, 14)
                c3 = F.relu(self.conv2(s2))  # (N, 16, 10, 10)
                s4 = F.max_pool2d(c3, 2)  # a square window: one number
                s4 = torch.flatten(s4, 1)  # (N, 400)
                f5 = F.relu(self.fc1(s4))
                f6 = F.relu(self.fc2(f5))
                output = self.fc3(f6)
                return output

        return Net


def _walk(fn, print, depth=0, seen=None):
    """Print the graph behind ``fn`` depth first, as a graph drawer (torchviz) walks it: each node once,
    a leaf's AccumulateGrad with its variable's size."""
    seen = set() if seen is None else seen
    if fn is None or fn in seen:
        return
    seen.add(fn)
    leaf = getattr(fn, "variable", None)
    print("  " * depth + type(fn).__name__ if leaf is not None else "  " * depth + str(fn).split()[0][1:],
          "" if leaf is None else tuple(leaf.size()))
    for node, input_nr in fn.next_functions:
        if node is None:
            print("  " * (depth + 1) + "None")
        _walk(node, print, depth + 1, seen)


def neural_networks_tutorial(m, share):
    """LeNet: its parameters, a forward pass on a 32x32 input, backward with a gradient, MSELoss,
    the graph behind the loss, conv1.bias.grad before and after backward, SGD by hand and by optim."""
    torch, nn, F, optim = m.torch, m.nn, m.F, m.optim
    out_, print = _recorder()  # noqa: A001
    net = share(torch, "net", _LeNet.build(torch, nn, F)())
    print(net)
    params = list(net.parameters())
    print(len(params))
    print(params[0].size())  # conv1's .weight
    input = torch.randn(1, 1, 32, 32)
    input = torch.tensor(_draw(9, 1, 1, 32, 32))  # the same draw on both libraries
    out = net(input)
    print(out)
    net.zero_grad()
    out.backward(torch.tensor(_draw(10, 1, 10)))  # torch.randn(1, 10)
    print(net.fc3.bias.grad, net.conv1.weight.grad[0, 0, 0])

    output = net(input)
    target = torch.randn(10)  # a dummy target, for example
    target = torch.tensor(_draw(11, 10))
    target = target.view(1, -1)  # make it the same shape as output
    criterion = nn.MSELoss()
    loss = criterion(output, target)
    print(loss)
    print(loss.grad_fn)  # MSELoss
    print(loss.grad_fn.next_functions[0][0])  # Linear
    print(loss.grad_fn.next_functions[0][0].next_functions[0][0])  # the bias's AccumulateGrad
    print(loss.grad_fn.next_functions[0][0].next_functions[1][0])  # ReLU
    print(loss.grad_fn.next_functions[0][0].next_functions[1][0].next_functions[0][0])  # Linear
    _walk(loss.grad_fn, print)

    net.zero_grad()  # zeroes the gradient buffers of all parameters
    print('conv1.bias.grad before backward')
    print(net.conv1.bias.grad)
    loss.backward()
    print('conv1.bias.grad after backward')
    print(net.conv1.bias.grad)

    learning_rate = 0.01
    for f in net.parameters():
        f.data.sub_(f.grad.data * learning_rate)
    print(criterion(net(input), target))

    optimizer = optim.SGD(net.parameters(), lr=0.01)  # create your optimizer
    for _ in range(3):  # in your training loop:
        optimizer.zero_grad()  # zero the gradient buffers
        output = net(input)
        loss = criterion(output, target)
        loss.backward()
        optimizer.step()  # does the update
    print(loss, net(input))
    return out_


def test_neural_networks_tutorial():
    ref, got = both_blitz(neural_networks_tutorial, SharedWeights())
    assert ref[0].startswith("Net(\n  (conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))")
    assert ref[1:3] == ["10", "torch.Size([6, 1, 5, 5])"]
    names = [line.split()[0] for line in ref[6:11]]
    assert names == ["<MseLossBackward0", "<AddmmBackward0", "<AccumulateGrad", "<ReluBackward0", "<AddmmBackward0"]
    walk = [line.strip() for line in ref[11:ref.index("conv1.bias.grad before backward")]]
    assert walk[:6] == ["MseLossBackward0", "AddmmBackward0", "AccumulateGrad (10,)", "ReluBackward0",
                        "AddmmBackward0", "AccumulateGrad (84,)"]
    assert "MaxPool2DWithIndicesBackward0" in walk and "ConvolutionBackward0" in walk and "TBackward0" in walk
    assert "ViewBackward0" in walk and walk.count("AccumulateGrad (6, 1, 5, 5)") == 1 and walk[-1] == "None"
    assert ref[ref.index("conv1.bias.grad before backward") + 1] == "None"
    assert_same_lines(ref, got)


# ---------------------------------------------------------------- cifar10_tutorial.py ("Training a Classifier")

_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def _write_cifar(root, per_batch=100, n_test=40, seed=0):
    """A small CIFAR-10 in its real layout under ``root/cifar-10-batches-py``: five data batches and a
    test batch (dicts of ``data``, uint8 (N, 3072) with the R, G and B planes of each image in turn,
    and ``labels``) and ``batches.meta``, pickled as the originals. Each class is a colour pattern of
    its own (8x8 blocks, each channel on or off), seen through noise, so the tutorial's network learns
    something in its few steps here.
    Returns the md5 sums of the files."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    patterns = np.random.default_rng(99).integers(0, 2, (10, 3, 8, 8)).repeat(4, 2).repeat(4, 3) * 255.0
    rng = np.random.default_rng(seed)

    def batch(labels):
        noise = rng.normal(0, 30, (len(labels), 3, 32, 32))
        return np.clip(patterns[labels] + noise, 0, 255).astype(np.uint8).reshape(len(labels), 3072)

    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        labels = rng.permutation(np.arange(n_test) % 10) if name == "test_batch" else rng.integers(0, 10, per_batch)
        entry = {"batch_label": name, "labels": labels.tolist(), "data": batch(labels), "filenames": []}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"num_cases_per_batch": per_batch, "label_names": _CLASSES, "num_vis": 3072}, f, protocol=2)
    return {name: _md5(folder / name) for name in names + ["batches.meta"]}


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    """The generated CIFAR-10, with both CIFAR10 classes checking its files' md5 sums."""
    root = tmp_path / "data"
    md5 = _write_cifar(root)
    for cls in (_CIFAR10, nerve.vision.datasets.CIFAR10):
        monkeypatch.setattr(cls, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)])
        monkeypatch.setattr(cls, "test_list", [["test_batch", md5["test_batch"]]])
        monkeypatch.setattr(cls, "meta", {"filename": "batches.meta", "key": "label_names", "md5": md5["batches.meta"]})
    return root


class _CifarNet:
    @staticmethod
    def build(torch, nn, F):
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
                x = torch.flatten(x, 1)  # flatten all dimensions except batch
                x = F.relu(self.fc1(x))
                x = F.relu(self.fc2(x))
                x = self.fc3(x)
                return x

        return Net


def cifar10_tutorial(m, share, root, path, shuffle=False, num_workers=2, every=25):
    """Load and normalize CIFAR-10, look at a batch, train the network two epochs, save and load it,
    test it overall and per class, then train on ``device``. ``every``: mini-batches between the
    printed running losses (2000 in the tutorial)."""
    torch, nn, F, optim, torchvision, transforms = m.torch, m.nn, m.F, m.optim, m.torchvision, m.transforms
    out, print = _recorder()  # noqa: A001
    images_shown = []

    def imshow(img):  # plt.imshow(np.transpose(npimg, (1, 2, 0))); plt.show() in the tutorial
        img = img / 2 + 0.5  # unnormalize
        npimg = img.numpy()
        images_shown.append(np.transpose(npimg, (1, 2, 0)))

    transform = transforms.Compose(
        [transforms.ToTensor(),
         transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    batch_size = 4
    trainset = torchvision.datasets.CIFAR10(root=root, train=True, download=False, transform=transform)
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=shuffle,
                                              num_workers=num_workers)
    testset = torchvision.datasets.CIFAR10(root=root, train=False, download=False, transform=transform)
    testloader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    classes = ('plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')
    print(len(trainset), len(testset), trainset.classes[:3], len(trainloader))

    dataiter = iter(trainloader)  # get some random training images
    images, labels = next(dataiter)
    imshow(torchvision.utils.make_grid(images))  # show images
    print(' '.join(f'{classes[labels[j]]:5s}' for j in range(batch_size)))  # print labels
    print(images.shape, images.dtype, labels, images[0, :, 0, :3])

    net = share(torch, "net", _CifarNet.build(torch, nn, F)())
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    losses = []
    for epoch in range(2):  # loop over the dataset multiple times
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            inputs, labels = data  # data is a list of [inputs, labels]
            optimizer.zero_grad()  # zero the parameter gradients
            outputs = net(inputs)  # forward + backward + optimize
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()  # print statistics
            if i % every == every - 1:
                print(f'[{epoch + 1}, {i + 1:5d}] loss: {running_loss / every:.3f}')
                losses.append(running_loss / every)
                running_loss = 0.0
    print('Finished Training')

    PATH = path / 'cifar_net.pth'
    torch.save(net.state_dict(), PATH)

    dataiter = iter(testloader)
    images, labels = next(dataiter)
    imshow(torchvision.utils.make_grid(images))  # print images
    print('GroundTruth: ', ' '.join(f'{classes[labels[j]]:5s}' for j in range(4)))
    net = _CifarNet.build(torch, nn, F)()
    print(net.load_state_dict(torch.load(PATH, weights_only=True)))
    outputs = net(images)
    _, predicted = torch.max(outputs, 1)  # the index of the highest energy
    print('Predicted: ', ' '.join(f'{classes[predicted[j]]:5s}' for j in range(4)))
    print(outputs)

    correct = 0
    total = 0
    with torch.no_grad():  # not training: no gradients needed
        for data in testloader:
            images, labels = data
            outputs = net(images)  # calculate outputs by running images through the network
            _, predicted = torch.max(outputs.data, 1)  # the class with the highest energy
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    print(f'Accuracy of the network on the {total} test images: {100 * correct // total} %')

    correct_pred = {classname: 0 for classname in classes}  # count the predictions for each class
    total_pred = {classname: 0 for classname in classes}
    with torch.no_grad():
        for data in testloader:
            images, labels = data
            outputs = net(images)
            _, predictions = torch.max(outputs, 1)
            for label, prediction in zip(labels, predictions):  # collect the correct predictions of each class
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1
    for classname, correct_count in correct_pred.items():
        accuracy = 100 * float(correct_count) / total_pred[classname]
        print(f'Accuracy for class: {classname:5s} is {accuracy:.1f} %')

    device = torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')
    print(device)  # a CUDA device on a CUDA machine
    net.to(device)
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    for i, data in zip(range(5), trainloader):  # a few more steps, on the device
        inputs, labels = data[0].to(device), data[1].to(device)
        optimizer.zero_grad()
        loss = criterion(net(inputs), labels)
        loss.backward()
        optimizer.step()
    print(loss.item(), next(net.parameters()).device)
    del dataiter
    return out, losses, images_shown, correct / total


# 250 steps of SGD with momentum: float32 rounding that differs in the last bit grows (PyTorch on two
# threads ends 3e-5 away from its own one-thread run here; nerve ends 3e-8 away from that run)
RTOL_TRAINED = 1e-4


def test_cifar10_tutorial(cifar_root, tmp_path):
    """Compared without worker processes: PyTorch's take a tenth of a second each to start, 16 of them
    here (the nerve run alone below has the tutorial's ``num_workers=2``)."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "nerve").mkdir()
    share = SharedWeights()
    _torch.manual_seed(0)
    ref = cifar10_tutorial(blitz_modules(_torch), share, cifar_root, tmp_path / "torch", num_workers=0)
    got = cifar10_tutorial(blitz_modules(nerve), share, cifar_root, tmp_path / "nerve", num_workers=0)
    assert ref[0][0] == "500 40 ['airplane', 'automobile', 'bird'] 125"
    assert ref[1][-1] < ref[1][0] - 0.2 and ref[3] > 0.5  # it learns (chance is 0.1)
    assert ref[2][0].shape == (36, 138, 3)  # four 32x32 images in a row, 2 pixels of padding
    np.testing.assert_allclose(got[1], ref[1], rtol=RTOL_TRAINED)
    for a, b in zip(got[2], ref[2], strict=True):
        np.testing.assert_array_equal(a, b)  # the batches and their grids: the same numbers
    assert got[3] == ref[3]
    assert_same_lines(ref[0], got[0], rtol=RTOL_TRAINED)


def test_cifar10_tutorial_shuffled(cifar_root, tmp_path):
    """With ``shuffle=True``, as the tutorial has it, nerve learns too (its batch order is its own)."""
    out, losses, _, accuracy = cifar10_tutorial(blitz_modules(nerve), SharedWeights(), cifar_root, tmp_path,
                                                shuffle=True)
    assert losses[-1] < losses[0] - 0.2 and accuracy > 0.5


@pytest.mark.parametrize("kwargs", [
    {}, {"nrow": 3}, {"nrow": 2, "padding": 0}, {"padding": 3, "pad_value": 0.5}, {"normalize": True},
    {"normalize": True, "value_range": (-0.5, 0.5)}, {"normalize": True, "scale_each": True},
    {"normalize": True, "scale_each": True, "value_range": (0.0, 2.0)},
], ids=str)
@pytest.mark.parametrize("shape", [(7, 3, 5, 4), (5, 1, 4, 4), (1, 3, 4, 4), (3, 4, 4), (1, 4, 4), (4, 4)], ids=str)
def test_make_grid_as_torchvision(shape, kwargs):
    """``nerve.vision.utils.make_grid`` against torchvision's algorithm, written out above: batches,
    single images, one-channel images, rows, padding, normalizing by range or per image."""
    x = _draw(12, *shape)
    x[0] = 1.5  # one constant image: its own range is empty
    want = _make_grid(_torch.tensor(x), **kwargs).numpy()
    got = nerve.vision.utils.make_grid(nerve.tensor(x), **kwargs).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    images = [nerve.tensor(a) for a in x] if len(shape) == 4 else None
    if images:  # a list of images is their batch
        np.testing.assert_array_equal(nerve.vision.utils.make_grid(images, **kwargs).numpy(), got)
