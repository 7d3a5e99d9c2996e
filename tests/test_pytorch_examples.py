"""Programs of the pytorch/examples repository, run on PyTorch and on nerve.

Each program's model(s) and a few training steps are written once, as a function of the library
modules (``torch``, ``nn``, ``F``, ``optim``, ...), in the examples' own code; the function runs
once on PyTorch and once on nerve. nerve starts from PyTorch's initial weights (its state_dict,
through NumPy, into ``load_state_dict``), sees the same synthetic batches and the same random
draws (``randn``, ``randn_like`` and ``multinomial`` still run, then hand back numbers both libraries
share), so every step's loss, the weights at the end, what ``print(model)`` shows and the warnings
must agree. Where a program's dropout would make the runs differ, its probabilities are set to 0
after the model is built. Most programs run twice: in float32, and in float64 (the default dtype
set on both libraries), where they agree to about 1e-9.

The programs: vae/main.py (and its continuous-Bernoulli variant), dcgan/main.py (the three
``weights_init`` styles), word_language_model (data.py's tokenising, model.py's four RNNs and two
Transformers, main.py's training step and evaluation, generate.py), super_resolution,
fast_neural_style (TransformerNet, utils.py and the training step, with a small VGG-shaped feature
net in place of torchvision's pretrained vgg16), siamese_network (torchvision's resnet18, its
dataset, DataLoader), mnist_rnn, regression and time_sequence_prediction (LSTMCell, float64, LBFGS).
The last tests take what the programs found missing or different one at a time.
"""

import math
import re
import types
import warnings
from collections import namedtuple
from itertools import count

import numpy as np
import pytest

pytest.importorskip("torch")


def _library(name):
    """The modules a PyTorch script imports, from torch or (with only the imports changed) from nerve."""
    if name == "torch":
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torch.nn.init as init
        import torch.nn.parallel  # noqa: F401  (dcgan/main.py's imports)
        import torch.optim as optim
        from _torchvision import load_torchvision
        from torch.optim.lr_scheduler import StepLR
        from torch.utils.data import DataLoader, Dataset

        torchvision = load_torchvision()  # its Python parts: its C++ operators do not load with the CPU torch
        if torchvision is None:  # not installed with the tests: its ResNet-18, written out below
            torchvision = types.SimpleNamespace(models=types.SimpleNamespace(resnet18=_torch_resnet18))
    else:
        import nerve as torch
        import nerve.nn as nn
        import nerve.nn.functional as F
        import nerve.nn.init as init
        import nerve.nn.parallel  # noqa: F401
        import nerve.optim as optim
        import nerve.vision as torchvision
        from nerve.optim.lr_scheduler import StepLR
        from nerve.utils.data import DataLoader, Dataset
    return types.SimpleNamespace(name=name, torch=torch, nn=nn, F=F, init=init, optim=optim, StepLR=StepLR,
                                 DataLoader=DataLoader, Dataset=Dataset, torchvision=torchvision)


def _torch_resnet18(pretrained=None, weights=None):
    """torchvision's resnet18 (same modules, names, initialisation and warning), for torch runs without it."""
    import torch.nn as nn

    if pretrained is not None:
        warnings.warn("The parameter 'pretrained' is deprecated since 0.13 and may be removed in the future, "
                      "please use 'weights' instead.", UserWarning, stacklevel=2)

    class BasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample
            self.stride = stride

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            inplanes = 64
            for i, planes in enumerate((64, 128, 256, 512)):
                stride = 1 if i == 0 else 2
                down = None if stride == 1 and inplanes == planes else nn.Sequential(
                    nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
                setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(inplanes, planes, stride, down),
                                                           BasicBlock(planes, planes)))
                inplanes = planes
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, 1000)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet()


TORCH, NERVE = _library("torch"), _library("nerve")


@pytest.fixture(scope="module", autouse=True)
def _torch_on_one_thread():
    """torch's small ops run faster on one thread (two fight for a 2-core machine's cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=["float32", "float64"])
def default_dtype(request):
    """Run a program with this default dtype on both libraries (float64 tightens the comparison)."""
    import torch

    import nerve

    before_t, before_n = torch.get_default_dtype(), nerve.get_default_dtype()
    torch.set_default_dtype(getattr(torch, request.param))
    nerve.set_default_dtype(getattr(nerve, request.param))
    yield request.param
    torch.set_default_dtype(before_t)
    nerve.set_default_dtype(before_n)


def _state(model):
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def _load(L, model, init):
    """Record the model's own initial weights; then, when given, start it from ``init`` (NumPy arrays)."""
    initial = _state(model)
    if init is not None:
        model.load_state_dict({k: L.torch.from_numpy(v.copy()) for k, v in init.items()})
    return initial


def _replay(monkeypatch, L, seed=0, multinomial_argmax=False):
    """Make ``torch.randn`` / ``torch.randn_like`` hand back the same numbers on both libraries.

    The library's own function still runs, and its result's shape, dtype and device are kept; only
    the values come from a NumPy generator seeded alike. With ``multinomial_argmax``,
    ``torch.multinomial`` runs (its result is checked), then answers the most likely index.
    """
    rng = np.random.default_rng(seed)
    lib = L.torch

    def wrap(real):
        def draw(*args, **kwargs):
            out = real(*args, **kwargs)
            values = rng.standard_normal(tuple(out.shape)).astype(out.detach().cpu().numpy().dtype)
            return lib.tensor(values, dtype=out.dtype, device=out.device)
        return draw

    monkeypatch.setattr(lib, "randn", wrap(lib.randn))
    monkeypatch.setattr(lib, "randn_like", wrap(lib.randn_like))
    if multinomial_argmax:
        real = lib.multinomial

        def multinomial(input, num_samples, *args, **kwargs):
            out = real(input, num_samples, *args, **kwargs)
            assert out.dtype == lib.int64 and tuple(out.shape) == (num_samples,)
            assert 0 <= int(out[0]) < input.shape[-1]
            return lib.full_like(out, int(input.argmax()))
        monkeypatch.setattr(lib, "multinomial", multinomial)


def _both(monkeypatch, program, *args, multinomial_argmax=False, **kwargs):
    """Run ``program`` on torch, then on nerve from torch's initial weights; return both results.

    torch is seeded, so the initial weights (and what float32 rounding does to them) do not depend
    on the tests run before: with some, a GAN's saturated discriminator leaves its generator
    gradients that float32 rounding dominates, and Adam makes full steps of them (in float64
    the runs agree to 1e-16 there too).
    """
    import torch

    torch.manual_seed(0)
    with monkeypatch.context() as m, warnings.catch_warnings(record=True) as torch_warned:
        warnings.simplefilter("always")
        _replay(m, TORCH, multinomial_argmax=multinomial_argmax)
        ref = program(TORCH, *args, init=None, **kwargs)
    with monkeypatch.context() as m, warnings.catch_warnings(record=True) as nerve_warned:
        warnings.simplefilter("always")
        _replay(m, NERVE, multinomial_argmax=multinomial_argmax)
        got = program(NERVE, *args, init=ref["initial"], **kwargs)
    # nerve warns where torch does, and nowhere else (no NumPy "divide by zero" from log(0), say)
    assert {(w.category, str(w.message)) for w in nerve_warned} <= {(w.category, str(w.message)) for w in torch_warned}
    return ref, got


def _tol(dtype, float32_rtol=1e-4):
    return dict(rtol=1e-9, atol=1e-12) if dtype == "float64" else dict(rtol=float32_rtol, atol=1e-6)


def _close(have, want, dtype, float32_rtol=1e-4):
    """An output agrees: in float32 up to ``float32_rtol`` of its largest value."""
    have, want = np.asarray(have), np.asarray(want)
    assert have.shape == want.shape and have.dtype == want.dtype
    if dtype == "float64":
        np.testing.assert_allclose(have, want, rtol=1e-9, atol=1e-12)
    else:
        np.testing.assert_allclose(have, want, rtol=float32_rtol, atol=float32_rtol * np.abs(want).max())


def _check(ref, got, dtype, float32_rtol=1e-4, float64_rtol=1e-9, float32_final=1e-3, noise=None):
    """Every step's numbers, and the final weights and buffers, agree; the names of the weights too.

    Final weights: in float64 element by element (to 1e-9: Adam turns a gradient that is rounding
    noise, as a dark pixel's weight has, into a step of its own), except those that (next to) did
    not move, and those named by the regex ``noise``: a bias ahead of a normalisation has a gradient
    of rounding noise only, which Adam (eps=1e-8) turns into steps of up to lr. In float32 Adam
    does that to any weight whose gradient is near 0, so there the whole tensor is compared, by the
    norm of the difference (``float32_final`` of the tensor's norm; None: float32 weights are not
    compared, the losses are).
    """
    assert got["repr"] == ref["repr"]  # print(model) prints what torch prints
    tol = _tol(dtype, float32_rtol)
    if dtype == "float64":
        tol["rtol"] = float64_rtol
    assert len(got["losses"]) == len(ref["losses"]) > 0
    np.testing.assert_allclose(np.array(got["losses"], dtype=float), np.array(ref["losses"], dtype=float), **tol)
    assert list(got["final"]) == list(ref["final"])
    for k, want in ref["final"].items():
        have = got["final"][k]
        assert have.dtype == want.dtype and have.shape == want.shape, k
        if want.dtype.kind != "f":
            np.testing.assert_array_equal(have, want, err_msg=k)
        elif noise is not None and re.search(noise, k):
            assert np.abs(have - want).max() < 1e-2, k
        elif dtype == "float64":
            still = np.abs(want - ref["initial"][k]).max() < 1e-5
            np.testing.assert_allclose(have, want, err_msg=k, rtol=tol["rtol"], atol=1e-5 if still else 1e-9)
        elif float32_final is not None:
            assert np.linalg.norm(have - want) <= float32_final * np.linalg.norm(want) + 1e-6, k
    # guard against a vacuous comparison: the weights moved
    moved = [k for k in ref["final"] if ref["final"][k].dtype.kind == "f"
             and not np.array_equal(ref["final"][k], ref["initial"][k])]
    assert moved


# ---------------------------------------------------------------------------------------------------------------
# vae/main.py


def vae_program(L, batches, init=None, continuous=False):
    torch, nn, F, optim = L.torch, L.nn, L.F, L.optim
    device = torch.device("cpu")
    batch_size = len(batches[0][0])

    class VAE(nn.Module):
        def __init__(self):
            super(VAE, self).__init__()

            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, 20)
            self.fc22 = nn.Linear(400, 20)
            self.fc3 = nn.Linear(20, 400)
            self.fc4 = nn.Linear(400, 784)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5*logvar)
            eps = torch.randn_like(std)
            return mu + eps*std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            if continuous:
                return torch.clamp(torch.sigmoid(self.fc4(h3)), min=1e-4, max=1.0 - 1e-4)
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x):
            mu, logvar = self.encode(x.view(-1, 784))
            z = self.reparameterize(mu, logvar)
            return self.decode(z), mu, logvar

    model = VAE().to(device)
    initial = _load(L, model, init)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    def atanh(x):
        return 0.5 * (torch.log(1.0 + x) - torch.log(1.0 - x))

    def cont_bern_log_norm(lam, l_lim=0.49, u_lim=0.51):
        cut_lam = torch.where(torch.max(torch.le(lam, l_lim), torch.gt(lam, u_lim)), lam, l_lim * torch.ones_like(lam))
        log_norm = torch.log(torch.abs(2.0 * atanh(1 - 2.0 * cut_lam))) - torch.log(torch.abs(1 - 2.0 * cut_lam))
        taylor = torch.log(torch.tensor(2.0)) + 4.0 / 3.0 * torch.pow(lam - 0.5, 2) + 104.0 / 45.0 * torch.pow(lam - 0.5, 4)
        return torch.where(torch.max(torch.le(lam, l_lim), torch.gt(lam, u_lim)), log_norm, taylor)

    # Reconstruction + KL divergence losses summed over all elements and batch
    def loss_function(recon_x, x, mu, logvar):
        BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')
        KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        if continuous:
            NLNC = -torch.sum(cont_bern_log_norm(recon_x))
            return BCE + NLNC + KLD
        return BCE + KLD

    losses = []
    model.train()
    train_loss = 0
    for batch_idx, (data, _) in enumerate(batches):
        data = torch.from_numpy(data).to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        losses.append(loss.item() / len(data))

    model.eval()
    test_loss = 0
    with torch.no_grad():
        for i, (data, _) in enumerate(batches[:1]):
            data = torch.from_numpy(data).to(device)
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()
            if i == 0:
                n = min(data.size(0), 8)
                comparison = torch.cat([data[:n], recon_batch.view(batch_size, 1, 28, 28)[:n]])
        sample = torch.randn(64, 20).to(device)
        sample = model.decode(sample).cpu()
    losses.append(test_loss)
    return dict(initial=initial, losses=losses, final=_state(model), comparison=comparison.numpy(), repr=repr(model),
                sample=sample.view(64, 1, 28, 28).numpy(), train_loss=train_loss)


def _images(rng, n, shape=(1, 28, 28)):
    return rng.uniform(0, 1, (n,) + shape).astype(np.float32)


@pytest.mark.parametrize("continuous", [False, True], ids=["vae", "continuous-bernoulli"])
def test_vae(monkeypatch, default_dtype, continuous):
    rng = np.random.default_rng(0)
    batches = [(_images(rng, 16).astype(default_dtype), rng.integers(0, 10, 16)) for _ in range(3)]
    ref, got = _both(monkeypatch, vae_program, batches, continuous=continuous)
    # the continuous Bernoulli's log-normaliser cancels two terms of ~50 near 0.5, and the loss is a
    # small sum of terms of thousands: in float32 both (on torch as on nerve, whose float32 run is
    # the nearer to float64's) are good to ~1e-3
    _check(ref, got, default_dtype, float32_rtol=1e-3 if continuous else 1e-4,
           float32_final=1e-2 if continuous else 1e-3)
    _close(got["comparison"], ref["comparison"], default_dtype, 3e-3 if continuous else 1e-4)
    _close(got["sample"], ref["sample"], default_dtype, 3e-3 if continuous else 1e-4)
    assert got["comparison"].shape == (16, 1, 28, 28)


# ---------------------------------------------------------------------------------------------------------------
# dcgan/main.py


def dcgan_program(L, batches, init=None, nz=8, ngf=4, ndf=4, nc=3, style="modern"):
    torch, nn, optim = L.torch, L.nn, L.optim
    ngpu = 1
    device = torch.device("cpu")

    # custom weights initialization called on netG and netD
    def weights_init(m):
        classname = m.__class__.__name__
        if style == "modern":
            if classname.find('Conv') != -1:
                torch.nn.init.normal_(m.weight, 0.0, 0.02)
            elif classname.find('BatchNorm') != -1:
                torch.nn.init.normal_(m.weight, 1.0, 0.02)
                torch.nn.init.zeros_(m.bias)
        elif style == "tutorial":
            if classname.find('Conv') != -1:
                nn.init.normal_(m.weight.data, 0.0, 0.02)
            elif classname.find('BatchNorm') != -1:
                nn.init.normal_(m.weight.data, 1.0, 0.02)
                nn.init.constant_(m.bias.data, 0)
        else:
            if classname.find('Conv') != -1:
                m.weight.data.normal_(0.0, 0.02)
            elif classname.find('BatchNorm') != -1:
                m.weight.data.normal_(1.0, 0.02)
                m.bias.data.fill_(0)

    class Generator(nn.Module):
        def __init__(self, ngpu):
            super(Generator, self).__init__()
            self.ngpu = ngpu
            self.main = nn.Sequential(
                # input is Z, going into a convolution
                nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
                nn.BatchNorm2d(ngf * 8),
                nn.ReLU(True),
                # state size. (ngf*8) x 4 x 4
                nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 4),
                nn.ReLU(True),
                # state size. (ngf*4) x 8 x 8
                nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 2),
                nn.ReLU(True),
                # state size. (ngf*2) x 16 x 16
                nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf),
                nn.ReLU(True),
                # state size. (ngf) x 32 x 32
                nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
                nn.Tanh()
                # state size. (nc) x 64 x 64
            )

        def forward(self, input):
            if input.is_cuda and self.ngpu > 1:
                output = nn.parallel.data_parallel(self.main, input, range(self.ngpu))
            else:
                output = self.main(input)
            return output

    netG = Generator(ngpu).to(device)
    netG.apply(weights_init)
    applied = {"G": _state(netG)}
    initial_G = _load(L, netG, None if init is None else init["G"])

    class Discriminator(nn.Module):
        def __init__(self, ngpu):
            super(Discriminator, self).__init__()
            self.ngpu = ngpu
            self.main = nn.Sequential(
                # input is (nc) x 64 x 64
                nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
                nn.LeakyReLU(0.2, inplace=True),
                # state size. (ndf) x 32 x 32
                nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * 2),
                nn.LeakyReLU(0.2, inplace=True),
                # state size. (ndf*2) x 16 x 16
                nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * 4),
                nn.LeakyReLU(0.2, inplace=True),
                # state size. (ndf*4) x 8 x 8
                nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * 8),
                nn.LeakyReLU(0.2, inplace=True),
                # state size. (ndf*8) x 4 x 4
                nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
                nn.Sigmoid()
            )

        def forward(self, input):
            if input.is_cuda and self.ngpu > 1:
                output = nn.parallel.data_parallel(self.main, input, range(self.ngpu))
            else:
                output = self.main(input)

            return output.view(-1, 1).squeeze(1)

    netD = Discriminator(ngpu).to(device)
    netD.apply(weights_init)
    applied["D"] = _state(netD)
    initial_D = _load(L, netD, None if init is None else init["D"])

    criterion = nn.BCELoss()

    fixed_noise = torch.randn(len(batches[0]), nz, 1, 1, device=device)
    real_label = 1
    fake_label = 0

    # setup optimizer
    optimizerD = optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))

    losses = []
    for i, data in enumerate(batches, 0):
        ############################
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        ###########################
        # train with real
        netD.zero_grad()
        real_cpu = torch.from_numpy(data).to(device)
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), real_label,
                           dtype=real_cpu.dtype, device=device)

        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()

        # train with fake
        noise = torch.randn(batch_size, nz, 1, 1, device=device)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()

        ############################
        # (2) Update G network: maximize log(D(G(z)))
        ###########################
        netG.zero_grad()
        label.fill_(real_label)  # fake labels are real for generator cost
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        losses += [errD.item(), errG.item(), D_x, D_G_z1, D_G_z2]
        if i % 100 == 0:
            fake = netG(fixed_noise)
            sample = fake.detach()

    final = {**{"G." + k: v for k, v in _state(netG).items()}, **{"D." + k: v for k, v in _state(netD).items()}}
    initial = {"G": initial_G, "D": initial_D}
    return dict(initial=initial, applied=applied, losses=losses, final=final, sample=sample.numpy(),
                repr=repr(netG) + repr(netD) + repr(criterion),
                flat_initial={**{"G." + k: v for k, v in initial_G.items()},
                              **{"D." + k: v for k, v in initial_D.items()}})


@pytest.mark.parametrize("style", ["modern", "tutorial", "old"])
def test_dcgan(monkeypatch, default_dtype, style):
    rng = np.random.default_rng(1)
    batches = [rng.uniform(-1, 1, (4, 3, 64, 64)).astype(default_dtype) for _ in range(2)]
    ref, got = _both(monkeypatch, dcgan_program, batches, style=style)
    ref["initial"], got["initial"] = ref["flat_initial"], got["flat_initial"]
    _check(ref, got, default_dtype, float32_rtol=2e-4)
    _close(got["sample"], ref["sample"], default_dtype, 2e-4)
    # weights_init really re-initialised nerve's layers (found by class name, written through .data)
    for part in ("G", "D"):
        convs = [v for k, v in got["applied"][part].items() if k.endswith(".weight") and v.ndim == 4]
        bns = [k[:-len(".running_mean")] for k in got["applied"][part] if k.endswith(".running_mean")]
        assert len(convs) == 5 and len(bns) == (4 if part == "G" else 3)
        assert 0.015 < np.concatenate([c.ravel() for c in convs]).std() < 0.025
        for b in bns:
            assert np.all(got["applied"][part][b + ".bias"] == 0)
            w = got["applied"][part][b + ".weight"]
            assert abs(w.mean() - 1) < 0.02 and 0 < w.std() < 0.04


# ---------------------------------------------------------------------------------------------------------------
# word_language_model: data.py (tokenising), model.py, main.py (training step, evaluation), generate.py

TEXT = """the cat sat on the mat
the dog sat on the log
a cat and a dog met on a mat
the log and the mat sat still
""" * 3


def word_lm_program(L, text, init=None, model_type="LSTM", steps=3, words=4):
    torch, nn, F = L.torch, L.nn, L.F
    device = torch.device("cpu")
    emsize, nhid, nlayers, nhead = 16, 16, 2, 2
    lr, clip, bptt, batch_size, eval_batch_size, dropout = 20, 0.25, 5, 4, 2, 0.0

    # data.py
    class Dictionary(object):
        def __init__(self):
            self.word2idx = {}
            self.idx2word = []

        def add_word(self, word):
            if word not in self.word2idx:
                self.idx2word.append(word)
                self.word2idx[word] = len(self.idx2word) - 1
            return self.word2idx[word]

        def __len__(self):
            return len(self.idx2word)

    def tokenize(dictionary, lines):
        for line in lines:
            words = line.split() + ['<eos>']
            for word in words:
                dictionary.add_word(word)
        idss = []
        for line in lines:
            words = line.split() + ['<eos>']
            ids = []
            for word in words:
                ids.append(dictionary.word2idx[word])
            idss.append(torch.tensor(ids).type(torch.int64))
        return torch.cat(idss)

    dictionary = Dictionary()
    corpus_train = tokenize(dictionary, text.splitlines())

    # model.py
    class RNNModel(nn.Module):
        """Container module with an encoder, a recurrent module, and a decoder."""

        def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
            super(RNNModel, self).__init__()
            self.ntoken = ntoken
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            if rnn_type in ['LSTM', 'GRU']:
                self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
            else:
                try:
                    nonlinearity = {'RNN_TANH': 'tanh', 'RNN_RELU': 'relu'}[rnn_type]
                except KeyError as e:
                    raise ValueError("""An invalid option for `--model` was supplied,
                                     options are ['LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU']""") from e
                self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
            self.decoder = nn.Linear(nhid, ntoken)

            if tie_weights:
                if nhid != ninp:
                    raise ValueError('When using the tied flag, nhid must be equal to emsize')
                self.decoder.weight = self.encoder.weight

            self.init_weights()

            self.rnn_type = rnn_type
            self.nhid = nhid
            self.nlayers = nlayers

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.encoder.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, input, hidden):
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            decoded = self.decoder(output)
            decoded = decoded.view(-1, self.ntoken)
            return F.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, bsz):
            weight = next(self.parameters())
            if self.rnn_type == 'LSTM':
                return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                        weight.new_zeros(self.nlayers, bsz, self.nhid))
            else:
                return weight.new_zeros(self.nlayers, bsz, self.nhid)

    class PositionalEncoding(nn.Module):
        def __init__(self, d_model, dropout=0.1, max_len=5000):
            super(PositionalEncoding, self).__init__()
            self.dropout = nn.Dropout(p=dropout)

            pe = torch.zeros(max_len, d_model)
            position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
            pe[:, 0::2] = torch.sin(position * div_term)
            pe[:, 1::2] = torch.cos(position * div_term)
            pe = pe.unsqueeze(0).transpose(0, 1)
            self.register_buffer('pe', pe)

        def forward(self, x):
            x = x + self.pe[:x.size(0), :]
            return self.dropout(x)

    class TransformerModel(nn.Transformer):
        """Container module with an encoder, a recurrent or transformer module, and a decoder."""

        def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
            super(TransformerModel, self).__init__(d_model=ninp, nhead=nhead, dim_feedforward=nhid,
                                                   num_encoder_layers=nlayers)
            self.model_type = 'Transformer'
            self.src_mask = None
            self.pos_encoder = PositionalEncoding(ninp, dropout)

            self.input_emb = nn.Embedding(ntoken, ninp)
            self.ninp = ninp
            self.decoder = nn.Linear(ninp, ntoken)

            self.init_weights()

        def _generate_square_subsequent_mask(self, sz):
            return torch.log(torch.tril(torch.ones(sz, sz)))

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, src, has_mask=True):
            if has_mask:
                device = src.device
                if self.src_mask is None or self.src_mask.size(0) != len(src):
                    mask = self._generate_square_subsequent_mask(len(src)).to(device)
                    self.src_mask = mask
            else:
                self.src_mask = None

            src = self.input_emb(src) * math.sqrt(self.ninp)
            src = self.pos_encoder(src)
            output = self.encoder(src, mask=self.src_mask)
            output = self.decoder(output)
            return F.log_softmax(output, dim=-1)

    class TransformerEncoderModel(nn.Module):
        """The model.py of 2019-2022: an nn.Module around nn.TransformerEncoder."""

        def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
            super(TransformerEncoderModel, self).__init__()
            TransformerEncoder, TransformerEncoderLayer = nn.TransformerEncoder, nn.TransformerEncoderLayer
            self.model_type = 'Transformer'
            self.src_mask = None
            self.pos_encoder = PositionalEncoding(ninp, dropout)
            encoder_layers = TransformerEncoderLayer(ninp, nhead, nhid, dropout)
            self.transformer_encoder = TransformerEncoder(encoder_layers, nlayers)
            self.encoder = nn.Embedding(ntoken, ninp)
            self.ninp = ninp
            self.decoder = nn.Linear(ninp, ntoken)

            self.init_weights()

        def _generate_square_subsequent_mask(self, sz):
            mask = (torch.triu(torch.ones(sz, sz)) == 1).transpose(0, 1)
            mask = mask.float().masked_fill(mask == 0, float('-inf')).masked_fill(mask == 1, float(0.0))
            return mask

        def init_weights(self):
            initrange = 0.1
            self.encoder.weight.data.uniform_(-initrange, initrange)
            self.decoder.bias.data.zero_()
            self.decoder.weight.data.uniform_(-initrange, initrange)

        def forward(self, src, has_mask=True):
            if has_mask:
                device = src.device
                if self.src_mask is None or self.src_mask.size(0) != len(src):
                    mask = self._generate_square_subsequent_mask(len(src)).to(device)
                    self.src_mask = mask
            else:
                self.src_mask = None

            src = self.encoder(src) * math.sqrt(self.ninp)
            src = self.pos_encoder(src)
            output = self.transformer_encoder(src, self.src_mask)
            output = self.decoder(output)
            return F.log_softmax(output, dim=-1)

    # main.py
    def batchify(data, bsz):
        nbatch = data.size(0) // bsz
        data = data.narrow(0, 0, nbatch * bsz)
        data = data.view(bsz, -1).t().contiguous()
        return data.to(device)

    train_data = batchify(corpus_train, batch_size)
    val_data = batchify(corpus_train, eval_batch_size)

    ntokens = len(dictionary)
    if model_type == 'Transformer':
        model = TransformerModel(ntokens, emsize, nhead, nhid, nlayers, dropout).to(device)
    elif model_type == 'TransformerEncoder':
        model = TransformerEncoderModel(ntokens, emsize, nhead, nhid, nlayers, dropout).to(device)
    else:
        model = RNNModel(model_type, ntokens, emsize, nhid, nlayers, dropout).to(device)
    is_transformer = model_type.startswith('Transformer')
    # nn.Transformer's layers keep their default dropout (0.1): off, so that both runs are deterministic
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
        if isinstance(m, nn.MultiheadAttention):
            m.dropout = 0.0
    initial = _load(L, model, init)

    criterion = nn.NLLLoss()

    def repackage_hidden(h):
        """Wraps hidden states in new Tensors, to detach them from their history."""
        if isinstance(h, torch.Tensor):
            return h.detach()
        else:
            return tuple(repackage_hidden(v) for v in h)

    def get_batch(source, i):
        seq_len = min(bptt, len(source) - 1 - i)
        data = source[i:i+seq_len]
        target = source[i+1:i+1+seq_len].view(-1)
        return data, target

    def evaluate(data_source):
        model.eval()
        total_loss = 0.
        ntokens = len(dictionary)
        if not is_transformer:
            hidden = model.init_hidden(eval_batch_size)
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, bptt):
                data, targets = get_batch(data_source, i)
                if is_transformer:
                    output = model(data)
                    output = output.view(-1, ntokens)
                else:
                    output, hidden = model(data, hidden)
                    hidden = repackage_hidden(hidden)
                total_loss += len(data) * criterion(output, targets).item()
        return total_loss / (len(data_source) - 1)

    losses = []
    model.train()
    total_loss = 0.
    if not is_transformer:
        hidden = model.init_hidden(batch_size)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
        if batch == steps:
            break
        data, targets = get_batch(train_data, i)
        model.zero_grad()
        if is_transformer:
            output = model(data)
            output = output.view(-1, ntokens)
        else:
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()

        # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)

        total_loss += loss.item()
        losses.append(loss.item())
    losses.append(evaluate(val_data))

    # generate.py
    model.eval()
    if not is_transformer:
        hidden = model.init_hidden(1)
    input = torch.randint(ntokens, (1, 1), dtype=torch.long).to(device)
    input.fill_(dictionary.word2idx['the'])
    generated = []
    with torch.no_grad():
        for i in range(words):
            if is_transformer:
                output = model(input, False)
                word_weights = output[-1].squeeze().div(1.0).exp().cpu()
                word_idx = torch.multinomial(word_weights, 1)[0]
                word_tensor = torch.Tensor([[word_idx]]).long().to(device)
                input = torch.cat([input, word_tensor], 0)
            else:
                output, hidden = model(input, hidden)
                word_weights = output.squeeze().div(1.0).exp().cpu()
                word_idx = torch.multinomial(word_weights, 1)[0]
                input.fill_(word_idx)
            losses.append(word_weights.max().item())
            generated.append(dictionary.idx2word[word_idx])
    return dict(initial=initial, losses=losses, final=_state(model), generated=generated, repr=repr(model),
                train_data=train_data.numpy())


@pytest.mark.parametrize("model_type", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU", "Transformer", "TransformerEncoder"])
def test_word_language_model(monkeypatch, default_dtype, model_type):
    ref, got = _both(monkeypatch, word_lm_program, TEXT, model_type=model_type, multinomial_argmax=True)
    _check(ref, got, default_dtype)
    assert got["generated"] == ref["generated"]
    np.testing.assert_array_equal(got["train_data"], ref["train_data"])
    assert got["train_data"].dtype == np.int64


# ---------------------------------------------------------------------------------------------------------------
# super_resolution: model.py, main.py's training step and test (PSNR)


def super_resolution_program(L, batches, init=None, upscale_factor=3):
    torch, nn, init_ = L.torch, L.nn, L.init
    device = torch.device("cpu")

    class Net(nn.Module):
        def __init__(self, upscale_factor):
            super(Net, self).__init__()

            self.relu = nn.ReLU()
            self.conv1 = nn.Conv2d(1, 64, (5, 5), (1, 1), (2, 2))
            self.conv2 = nn.Conv2d(64, 64, (3, 3), (1, 1), (1, 1))
            self.conv3 = nn.Conv2d(64, 32, (3, 3), (1, 1), (1, 1))
            self.conv4 = nn.Conv2d(32, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))
            self.pixel_shuffle = nn.PixelShuffle(upscale_factor)

            self._initialize_weights()

        def forward(self, x):
            x = self.relu(self.conv1(x))
            x = self.relu(self.conv2(x))
            x = self.relu(self.conv3(x))
            x = self.pixel_shuffle(self.conv4(x))
            return x

        def _initialize_weights(self):
            init_.orthogonal_(self.conv1.weight, init_.calculate_gain('relu'))
            init_.orthogonal_(self.conv2.weight, init_.calculate_gain('relu'))
            init_.orthogonal_(self.conv3.weight, init_.calculate_gain('relu'))
            init_.orthogonal_(self.conv4.weight)

    model = Net(upscale_factor=upscale_factor).to(device)
    initial = _load(L, model, init)
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    losses = []
    epoch_loss = 0
    for iteration, batch in enumerate(batches, 1):
        input, target = torch.from_numpy(batch[0]).to(device), torch.from_numpy(batch[1]).to(device)

        optimizer.zero_grad()
        loss = criterion(model(input), target)
        epoch_loss += loss.item()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    avg_psnr = 0
    with torch.no_grad():
        for batch in batches:
            input, target = torch.from_numpy(batch[0]).to(device), torch.from_numpy(batch[1]).to(device)

            prediction = model(input)
            mse = criterion(prediction, target)
            psnr = 10 * math.log10(1 / mse.item())
            avg_psnr += psnr
    losses.append(avg_psnr / len(batches))

    # super_resolve.py
    out = model(torch.from_numpy(batches[0][0][:1]))
    out_img_y = out[0].detach().numpy()
    out_img_y *= 255.0
    out_img_y = out_img_y.clip(0, 255)
    return dict(initial=initial, losses=losses, final=_state(model), out=out_img_y, repr=repr(model))


def test_super_resolution(monkeypatch, default_dtype):
    rng = np.random.default_rng(2)
    batches = [(_images(rng, 2, (1, 8, 8)).astype(default_dtype), _images(rng, 2, (1, 24, 24)).astype(default_dtype))
               for _ in range(3)]
    ref, got = _both(monkeypatch, super_resolution_program, batches)
    _check(ref, got, default_dtype, float32_rtol=3e-4)
    # the upscaled image after three Adam steps, in float32: nerve's 3x3 layers run through Winograd,
    # whose rounding (about 2e-6 of the largest magnitude, a few times a direct convolution's) Adam
    # turns into steps of their own wherever a gradient is near 0 (see _check); float64 checks it to 1e-9
    _close(got["out"], ref["out"], default_dtype, 1e-3)
    assert got["out"].shape == (1, 24, 24)
    # init.orthogonal_ with calculate_gain('relu'): orthogonal columns (64 x 25: more rows than columns),
    # orthogonal rows (conv2: 64 x 576), each scaled by the gain sqrt(2)
    w1 = got["initial"]["conv1.weight"].reshape(64, -1)
    np.testing.assert_allclose(w1.T @ w1, 2 * np.eye(25), atol=1e-5)
    w2 = got["initial"]["conv2.weight"].reshape(64, -1)
    np.testing.assert_allclose(w2 @ w2.T, 2 * np.eye(64), atol=1e-5)
    w4 = got["initial"]["conv4.weight"].reshape(9, -1)
    np.testing.assert_allclose(w4 @ w4.T, np.eye(9), atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# fast_neural_style: neural_style/transformer_net.py, utils.py, vgg.py's shape, neural_style.py's train step


def fast_neural_style_program(L, images, style_image, init=None, content_weight=1e5, style_weight=1e10):
    torch = L.torch

    class TransformerNet(torch.nn.Module):
        def __init__(self):
            super(TransformerNet, self).__init__()
            # Initial convolution layers
            self.conv1 = ConvLayer(3, 32, kernel_size=9, stride=1)
            self.in1 = torch.nn.InstanceNorm2d(32, affine=True)
            self.conv2 = ConvLayer(32, 64, kernel_size=3, stride=2)
            self.in2 = torch.nn.InstanceNorm2d(64, affine=True)
            self.conv3 = ConvLayer(64, 128, kernel_size=3, stride=2)
            self.in3 = torch.nn.InstanceNorm2d(128, affine=True)
            # Residual layers
            self.res1 = ResidualBlock(128)
            self.res2 = ResidualBlock(128)
            self.res3 = ResidualBlock(128)
            self.res4 = ResidualBlock(128)
            self.res5 = ResidualBlock(128)
            # Upsampling Layers
            self.deconv1 = UpsampleConvLayer(128, 64, kernel_size=3, stride=1, upsample=2)
            self.in4 = torch.nn.InstanceNorm2d(64, affine=True)
            self.deconv2 = UpsampleConvLayer(64, 32, kernel_size=3, stride=1, upsample=2)
            self.in5 = torch.nn.InstanceNorm2d(32, affine=True)
            self.deconv3 = ConvLayer(32, 3, kernel_size=9, stride=1)
            # Non-linearities
            self.relu = torch.nn.ReLU()

        def forward(self, X):
            y = self.relu(self.in1(self.conv1(X)))
            y = self.relu(self.in2(self.conv2(y)))
            y = self.relu(self.in3(self.conv3(y)))
            y = self.res1(y)
            y = self.res2(y)
            y = self.res3(y)
            y = self.res4(y)
            y = self.res5(y)
            y = self.relu(self.in4(self.deconv1(y)))
            y = self.relu(self.in5(self.deconv2(y)))
            y = self.deconv3(y)
            return y

    class ConvLayer(torch.nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride):
            super(ConvLayer, self).__init__()
            reflection_padding = kernel_size // 2
            self.reflection_pad = torch.nn.ReflectionPad2d(reflection_padding)
            self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

        def forward(self, x):
            out = self.reflection_pad(x)
            out = self.conv2d(out)
            return out

    class ResidualBlock(torch.nn.Module):
        def __init__(self, channels):
            super(ResidualBlock, self).__init__()
            self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
            self.in1 = torch.nn.InstanceNorm2d(channels, affine=True)
            self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
            self.in2 = torch.nn.InstanceNorm2d(channels, affine=True)
            self.relu = torch.nn.ReLU()

        def forward(self, x):
            residual = x
            out = self.relu(self.in1(self.conv1(x)))
            out = self.in2(self.conv2(out))
            out = out + residual
            return out

    class UpsampleConvLayer(torch.nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
            super(UpsampleConvLayer, self).__init__()
            self.upsample = upsample
            reflection_padding = kernel_size // 2
            self.reflection_pad = torch.nn.ReflectionPad2d(reflection_padding)
            self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

        def forward(self, x):
            x_in = x
            if self.upsample:
                x_in = torch.nn.functional.interpolate(x_in, mode='nearest', scale_factor=self.upsample)
            out = self.reflection_pad(x_in)
            out = self.conv2d(out)
            return out

    # vgg.py's Vgg16, over a VGG16-shaped ``features`` (the same 23 layers, fewer channels) in place of
    # torchvision's pretrained one
    def vgg16_features(c=(4, 8, 8, 8)):
        layers, cin = [], 3
        for block, (n, cout) in enumerate(zip((2, 2, 3, 3), c)):
            if block:
                layers.append(torch.nn.MaxPool2d(kernel_size=2, stride=2))
            for _ in range(n):
                layers += [torch.nn.Conv2d(cin, cout, kernel_size=3, padding=1), torch.nn.ReLU(inplace=True)]
                cin = cout
        return torch.nn.Sequential(*layers)

    class Vgg16(torch.nn.Module):
        def __init__(self, requires_grad=False):
            super(Vgg16, self).__init__()
            vgg_pretrained_features = vgg16_features()
            self.slice1 = torch.nn.Sequential()
            self.slice2 = torch.nn.Sequential()
            self.slice3 = torch.nn.Sequential()
            self.slice4 = torch.nn.Sequential()
            for x in range(4):
                self.slice1.add_module(str(x), vgg_pretrained_features[x])
            for x in range(4, 9):
                self.slice2.add_module(str(x), vgg_pretrained_features[x])
            for x in range(9, 16):
                self.slice3.add_module(str(x), vgg_pretrained_features[x])
            for x in range(16, 23):
                self.slice4.add_module(str(x), vgg_pretrained_features[x])
            if not requires_grad:
                for param in self.parameters():
                    param.requires_grad = False

        def forward(self, X):
            h = self.slice1(X)
            h_relu1_2 = h
            h = self.slice2(h)
            h_relu2_2 = h
            h = self.slice3(h)
            h_relu3_3 = h
            h = self.slice4(h)
            h_relu4_3 = h
            vgg_outputs = namedtuple("VggOutputs", ['relu1_2', 'relu2_2', 'relu3_3', 'relu4_3'])
            out = vgg_outputs(h_relu1_2, h_relu2_2, h_relu3_3, h_relu4_3)
            return out

    # utils.py
    def gram_matrix(y):
        (b, ch, h, w) = y.size()
        features = y.view(b, ch, w * h)
        features_t = features.transpose(1, 2)
        gram = features.bmm(features_t) / (ch * h * w)
        return gram

    def normalize_batch(batch):
        # normalize using imagenet mean and std
        mean = batch.new_tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
        std = batch.new_tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
        batch = batch.div_(255.0)
        return (batch - mean) / std

    device = torch.device("cpu")
    batch_size = len(images[0])
    transformer = TransformerNet().to(device)
    vgg = Vgg16(requires_grad=False).to(device)
    initial = _load(L, transformer, None if init is None else init["transformer"])
    initial_vgg = _load(L, vgg, None if init is None else init["vgg"])
    optimizer = torch.optim.Adam(transformer.parameters(), 1e-3)
    mse_loss = torch.nn.MSELoss()

    style = torch.from_numpy(style_image).mul(255)
    style = style.repeat(batch_size, 1, 1, 1).to(device)

    features_style = vgg(normalize_batch(style))
    gram_style = [gram_matrix(y) for y in features_style]

    losses = []
    transformer.train()
    agg_content_loss = 0.
    agg_style_loss = 0.
    count = 0
    for batch_id, x in enumerate(images):
        x = torch.from_numpy(x).mul(255)
        n_batch = len(x)
        count += n_batch
        optimizer.zero_grad()

        x = x.to(device)
        y = transformer(x)

        y = normalize_batch(y)
        x = normalize_batch(x)

        features_y = vgg(y)
        features_x = vgg(x)

        content_loss = content_weight * mse_loss(features_y.relu2_2, features_x.relu2_2)

        style_loss = 0.
        for ft_y, gm_s in zip(features_y, gram_style):
            gm_y = gram_matrix(ft_y)
            style_loss += mse_loss(gm_y, gm_s[:n_batch, :, :])
        style_loss *= style_weight

        total_loss = content_loss + style_loss
        total_loss.backward()
        optimizer.step()

        agg_content_loss += content_loss.item()
        agg_style_loss += style_loss.item()
        losses += [content_loss.item(), style_loss.item()]
    assert all(p.grad is None for p in vgg.parameters())

    # neural_style.py's stylize(): a saved state_dict from before InstanceNorm lost its running stats
    state_dict = transformer.state_dict()
    state_dict["in1.running_mean"] = torch.zeros(32)
    state_dict["in1.running_var"] = torch.ones(32)
    with torch.no_grad():
        style_model = TransformerNet()
        for k in list(state_dict.keys()):
            if re.search(r'in\d+\.running_(mean|var)$', k):
                del state_dict[k]
        style_model.load_state_dict(state_dict)
        style_model.to(device)
        style_model.eval()
        output = style_model(torch.from_numpy(images[0][:1]).mul(255)).cpu()
    img = output[0].clone().clamp(0, 255).numpy()
    img = img.transpose(1, 2, 0).astype("uint8")
    return dict(initial={"transformer": initial, "vgg": initial_vgg}, flat_initial=initial, losses=losses,
                repr=repr(transformer) + repr(vgg),
                final=_state(transformer), output=output.numpy(), img=img)


def test_fast_neural_style(monkeypatch, default_dtype):
    rng = np.random.default_rng(3)
    images = [_images(rng, 2, (3, 16, 16)).astype(default_dtype) for _ in range(2)]
    style = _images(rng, 1, (3, 16, 16))[0].astype(default_dtype)
    ref, got = _both(monkeypatch, fast_neural_style_program, images, style)
    ref["initial"], got["initial"] = ref["flat_initial"], got["flat_initial"]
    # style_weight=1e10, Adam, and biases ahead of InstanceNorm (gradient: rounding noise, so Adam steps
    # of up to lr): float32 runs, torch's as nerve's, end ~5% of their movement away from float64's
    # (nerve's a little closer), and so do their outputs; float64 agrees to 1e-9
    _check(ref, got, default_dtype, float32_rtol=1e-3, float32_final=None,
           noise=r"(^conv\d|^deconv[12]|\.conv[12])\.conv2d\.bias$|^res\d\.in2\.bias$")
    if default_dtype == "float64":
        _close(got["output"], ref["output"], default_dtype)
    assert got["img"].shape == (16, 16, 3) and got["img"].dtype == np.uint8
    assert not any("running" in k for k in got["final"])


# ---------------------------------------------------------------------------------------------------------------
# siamese_network/main.py (torchvision's resnet18; its dataset over a small MNIST-like set; DataLoader)


def siamese_program(L, images, labels, init=None, epochs=1, batch_size=10, double=False):
    """With ``double``, the dataset's images and targets are float64 (``.double()`` for ``.float()``)."""
    import random

    torch, nn, optim, StepLR, Dataset, torchvision = L.torch, L.nn, L.optim, L.StepLR, L.Dataset, L.torchvision
    device = torch.device("cpu")

    class SiameseNetwork(nn.Module):
        def __init__(self):
            super(SiameseNetwork, self).__init__()
            # get resnet model
            self.resnet = torchvision.models.resnet18(pretrained=False)

            # over-write the first conv layer to be able to read MNIST images
            # as resnet18 reads (3,x,x) where 3 is RGB channels
            # whereas MNIST has (1,x,x) where 1 is a gray-scale channel
            self.resnet.conv1 = nn.Conv2d(1, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)
            self.fc_in_features = self.resnet.fc.in_features

            # remove the last layer of resnet18 (linear layer which is before avgpool layer)
            self.resnet = torch.nn.Sequential(*(list(self.resnet.children())[:-1]))

            # add linear layers to compare between the features of the two images
            self.fc = nn.Sequential(
                nn.Linear(self.fc_in_features * 2, 256),
                nn.ReLU(inplace=True),
                nn.Linear(256, 1),
            )

            self.sigmoid = nn.Sigmoid()

            # initialize the weights
            self.resnet.apply(self.init_weights)
            self.fc.apply(self.init_weights)

        def init_weights(self, m):
            if isinstance(m, nn.Linear):
                torch.nn.init.xavier_uniform(m.weight)
                m.bias.data.fill_(0.01)

        def forward_once(self, x):
            output = self.resnet(x)
            output = output.view(output.size()[0], -1)
            return output

        def forward(self, input1, input2):
            # get two images' features
            output1 = self.forward_once(input1)
            output2 = self.forward_once(input2)

            # concatenate both images' features
            output = torch.cat((output1, output2), 1)

            # pass the concatenation to the linear layers
            output = self.fc(output)

            # pass the out of the linear layers to sigmoid layer
            output = self.sigmoid(output)

            return output

    class APP_MATCHER(Dataset):
        def __init__(self, dataset):
            super(APP_MATCHER, self).__init__()
            self.dataset = dataset
            self.data = self.dataset.data.unsqueeze(1).clone()
            self.group_examples()

        def group_examples(self):
            np_arr = np.array(self.dataset.targets.clone())
            self.grouped_examples = {}
            for i in range(0, 10):
                self.grouped_examples[i] = np.where((np_arr == i))[0]

        def __len__(self):
            return self.data.shape[0]

        def __getitem__(self, index):
            selected_class = random.randint(0, 9)
            random_index_1 = random.randint(0, self.grouped_examples[selected_class].shape[0]-1)
            index_1 = self.grouped_examples[selected_class][random_index_1]
            image_1 = self.data[index_1].clone().float()
            if index % 2 == 0:
                random_index_2 = random.randint(0, self.grouped_examples[selected_class].shape[0]-1)
                while random_index_2 == random_index_1:
                    random_index_2 = random.randint(0, self.grouped_examples[selected_class].shape[0]-1)
                index_2 = self.grouped_examples[selected_class][random_index_2]
                image_2 = self.data[index_2].clone().float()
                target = torch.tensor(1, dtype=torch.float)
            else:
                other_selected_class = random.randint(0, 9)
                while other_selected_class == selected_class:
                    other_selected_class = random.randint(0, 9)
                random_index_2 = random.randint(0, self.grouped_examples[other_selected_class].shape[0]-1)
                index_2 = self.grouped_examples[other_selected_class][random_index_2]
                image_2 = self.data[index_2].clone().float()
                target = torch.tensor(0, dtype=torch.float)
            return image_1, image_2, target

    if double:  # the one change: .float() -> .double(), torch.float -> torch.double
        APP_MATCHER.__getitem__ = _doubled(APP_MATCHER.__getitem__, torch)
    mnist = types.SimpleNamespace(data=torch.from_numpy(images), targets=torch.from_numpy(labels))
    random.seed(1)
    train_loader = L.DataLoader(APP_MATCHER(mnist), batch_size=batch_size)
    test_loader = L.DataLoader(APP_MATCHER(mnist), batch_size=2 * batch_size)

    model = SiameseNetwork().to(device)
    initial = _load(L, model, init)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    losses, correct_counts = [], []

    def train(model, device, train_loader, optimizer, epoch):
        model.train()
        criterion = nn.BCELoss()
        for batch_idx, (images_1, images_2, targets) in enumerate(train_loader):
            images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
            optimizer.zero_grad()
            outputs = model(images_1, images_2).squeeze()
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())

    def test(model, device, test_loader):
        model.eval()
        test_loss = 0
        correct = 0
        criterion = nn.BCELoss()
        with torch.no_grad():
            for (images_1, images_2, targets) in test_loader:
                images_1, images_2, targets = images_1.to(device), images_2.to(device), targets.to(device)
                outputs = model(images_1, images_2).squeeze()
                test_loss += criterion(outputs, targets).sum().item()  # sum up batch loss
                pred = torch.where(outputs > 0.5, 1, 0)  # get the index of the max log-probability
                correct += pred.eq(targets.view_as(pred)).sum().item()
        losses.append(test_loss / len(test_loader.dataset))
        correct_counts.append(correct)

    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(1, epochs + 1):
        train(model, device, train_loader, optimizer, epoch)
        test(model, device, test_loader)
        scheduler.step()
    return dict(initial=initial, losses=losses, final=_state(model), correct=correct_counts, repr=repr(model))


def _doubled(getitem, torch):
    def double_getitem(self, index):
        image_1, image_2, target = getitem(self, index)
        return image_1.double(), image_2.double(), target.double()
    return double_getitem


def test_siamese_network(monkeypatch, default_dtype):
    """The example feeds raw 0-255 pixels to a ResNet with batch norm, trains with Adadelta(lr=1.0),
    and its sigmoid saturates after one step: from the second step on, a float32 rounding
    difference decides which outputs round to exactly 0 or 1 (where BCE's logs clamp at -100),
    torch against torch as well. So float32 compares the first step; float64 (images and targets
    made float64) the two training steps and the weights after them, to 1e-9."""
    dtype = default_dtype
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (20, 28, 28)).astype(np.uint8)
    labels = np.arange(20) % 10  # two images of each class: the dataset picks pairs within a class
    steps = 2 if dtype == "float64" else 1
    ref, got = _both(monkeypatch, siamese_program, images, labels, batch_size=20 // steps, double=dtype == "float64")
    assert len(got["losses"]) == steps + 1
    if dtype == "float64":  # the two steps; the evaluation after them is already saturated
        _check(dict(ref, losses=ref["losses"][:steps]), dict(got, losses=got["losses"][:steps]), dtype)
    else:
        assert got["repr"] == ref["repr"] and list(got["final"]) == list(ref["final"])
        np.testing.assert_allclose(got["losses"][0], ref["losses"][0], rtol=1e-5)
        assert np.all(np.isfinite(got["losses"]))
    assert list(got["initial"])[:7] == ["resnet.0.weight", "resnet.1.weight", "resnet.1.bias", "resnet.1.running_mean",
                                        "resnet.1.running_var", "resnet.1.num_batches_tracked", "resnet.4.0.conv1.weight"]


# ---------------------------------------------------------------------------------------------------------------
# mnist_rnn/main.py


def mnist_rnn_program(L, batches, init=None, epochs=2):
    torch, nn, F, optim, StepLR = L.torch, L.nn, L.F, L.optim, L.StepLR
    device = torch.device("cpu")

    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.rnn = nn.LSTM(input_size=28, hidden_size=64, batch_first=True)
            self.batchnorm = nn.BatchNorm1d(64)
            self.dropout1 = nn.Dropout2d(0.25)
            self.dropout2 = nn.Dropout2d(0.5)
            self.fc1 = nn.Linear(64, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, input):
            # Shape of input is (batch_size,1, 28, 28)
            # converting shape of input to (batch_size, 28, 28)
            # as required by RNN when batch_first is set True
            input = input.reshape(-1, 28, 28)
            output, hidden = self.rnn(input)

            # RNN output shape is (seq_len, batch, input_size)
            # Get last output of RNN
            output = output[:, -1, :]
            output = self.batchnorm(output)
            output = self.dropout1(output)
            output = self.fc1(output)
            output = F.relu(output)
            output = self.dropout2(output)
            output = self.fc2(output)
            output = F.log_softmax(output, dim=1)
            return output

    model = Net().to(device)
    model.dropout1.p = model.dropout2.p = 0.0
    initial = _load(L, model, init)
    optimizer = optim.Adadelta(model.parameters(), lr=0.1)

    losses = []

    def train(model, device, train_loader, optimizer, epoch):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = torch.from_numpy(data).to(device), torch.from_numpy(target).to(device)
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())

    def test(model, device, test_loader):
        model.eval()
        test_loss = 0
        correct = 0
        with torch.no_grad():
            for data, target in test_loader:
                data, target = torch.from_numpy(data).to(device), torch.from_numpy(target).to(device)
                output = model(data)
                test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
                pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
                correct += pred.eq(target.view_as(pred)).sum().item()
        losses.append(test_loss)
        return correct

    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    correct = []
    for epoch in range(1, epochs + 1):
        train(model, device, batches, optimizer, epoch)
        correct.append(test(model, device, batches))
        scheduler.step()
    return dict(initial=initial, losses=losses, final=_state(model), correct=correct, repr=repr(model),
                lr=optimizer.param_groups[0]["lr"])


def test_mnist_rnn(monkeypatch, default_dtype):
    rng = np.random.default_rng(4)
    batches = [(_images(rng, 8).astype(default_dtype), rng.integers(0, 10, 8)) for _ in range(2)]
    ref, got = _both(monkeypatch, mnist_rnn_program, batches)
    _check(ref, got, default_dtype)
    assert got["correct"] == ref["correct"]
    assert got["lr"] == pytest.approx(ref["lr"]) == pytest.approx(0.1 * 0.7 ** 2)


def test_dropout2d_of_other_shapes_as_torch():
    """mnist_rnn applies Dropout2d to (N, 64) features. torch warns, and masks (N, C, 1, ...) for
    any input: a 2-D input drops single elements, a 3-D one is taken as (N, C, L)."""
    import nerve

    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        y = nerve.nn.Dropout2d(0.5)(nerve.ones(64, 32)).numpy()
    assert set(np.unique(y)) == {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6
    assert any(len(set(r)) == 2 for r in y)  # not whole rows
    with pytest.warns(UserWarning, match="interpreted as shape \\(N, C, L\\)"):
        y = nerve.nn.functional.dropout2d(nerve.ones(16, 8, 5), 0.5).numpy()
    assert np.all(y.min(-1) == y.max(-1)) and 0.3 < (y[..., 0] == 0).mean() < 0.7
    assert len({tuple(r) for r in (y[..., 0] == 0)}) > 1  # each sample its own channels
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="at least 2 dimensions"):
        nerve.nn.functional.dropout2d(nerve.ones(5), 0.5)
    with pytest.warns(UserWarning):
        x = nerve.ones(5)
        assert nerve.nn.functional.dropout2d(x, 0.5, training=False) is x


# ---------------------------------------------------------------------------------------------------------------
# regression/main.py (to the stop criterion)


def regression_program(L, init=None):
    torch, F = L.torch, L.F

    POLY_DEGREE = 4
    W_target = torch.randn(POLY_DEGREE, 1) * 5
    b_target = torch.randn(1) * 5

    def make_features(x):
        """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
        x = x.unsqueeze(1)
        return torch.cat([x ** i for i in range(1, POLY_DEGREE+1)], 1)

    def f(x):
        """Approximated function."""
        return x.mm(W_target) + b_target.item()

    def poly_desc(W, b):
        """Creates a string description of a polynomial."""
        result = 'y = '
        for i, w in enumerate(W):
            result += '{:+.2f} x^{} '.format(w, i + 1)
        result += '{:+.2f}'.format(b[0])
        return result

    def get_batch(batch_size=32):
        """Builds a batch i.e. (x, f(x)) pair."""
        random = torch.randn(batch_size)
        x = make_features(random)
        y = f(x)
        return x, y

    # Define model
    fc = torch.nn.Linear(W_target.size(0), 1)
    initial = _load(L, fc, init)
    losses = []

    for batch_idx in count(1):
        # Get data
        batch_x, batch_y = get_batch()

        # Reset gradients
        fc.zero_grad()

        # Forward pass
        output = F.smooth_l1_loss(fc(batch_x), batch_y)
        loss = output.item()

        # Backward pass
        output.backward()

        # Apply gradients
        for param in fc.parameters():
            param.data.add_(-0.1 * param.grad)

        losses.append(loss)
        # Stop criterion
        if loss < 1e-3 or batch_idx == 2000:
            break

    report = ['Loss: {:.6f} after {} batches'.format(loss, batch_idx),
              '==> Learned function:\t' + poly_desc(fc.weight.view(-1), fc.bias),
              '==> Actual function:\t' + poly_desc(W_target.view(-1), b_target)]
    return dict(initial=initial, losses=losses, final=_state(fc), report=report, repr=repr(fc))


def test_regression(monkeypatch, default_dtype):
    """SGD(lr=0.1) on features up to x**4 is at the edge of stability (smooth L1 keeps it bounded):
    rounding differences grow by ~1e10 over a few hundred batches and shrink again. So the first
    batches are compared tightly, the whole run loosely, and both must stop at the same batch."""
    ref, got = _both(monkeypatch, regression_program)
    n = len(ref["losses"])
    assert ref["losses"][-1] < 1e-3 and n > 50
    assert got["report"][2] == ref["report"][2]  # the target polynomial (replayed randn, `*`, `.view`, format)
    assert got["report"][1].startswith("==> Learned function:\ty = ") and " x^4 " in got["report"][1]
    assert got["repr"] == ref["repr"]
    if default_dtype == "float64":
        np.testing.assert_allclose(got["losses"][:100], ref["losses"][:100], rtol=1e-9)
        np.testing.assert_allclose(got["losses"], ref["losses"], rtol=1e-3)
        assert got["report"] == ref["report"]  # the same stopping batch, the same polynomial
        for k in ref["final"]:
            np.testing.assert_allclose(got["final"][k], ref["final"][k], rtol=1e-6, err_msg=k)
    else:
        # in float32 the rounding decides when the loss first dips under 1e-3: compare the first
        # batches, and that nerve converges too
        np.testing.assert_allclose(got["losses"][:30], ref["losses"][:30], rtol=1e-3, atol=1e-6)
        assert got["losses"][-1] < 1e-3 and len(got["losses"]) < 2000


# ---------------------------------------------------------------------------------------------------------------
# time_sequence_prediction/train.py (LSTMCell, float64 throughout, LBFGS with a closure)


def time_sequence_program(L, data, init=None, steps=1, future=5):
    torch, nn, optim = L.torch, L.nn, L.optim

    class Sequence(nn.Module):
        def __init__(self):
            super(Sequence, self).__init__()
            self.lstm1 = nn.LSTMCell(1, 51)
            self.lstm2 = nn.LSTMCell(51, 51)
            self.linear = nn.Linear(51, 1)

        def forward(self, input, future=0):
            outputs = []
            h_t = torch.zeros(input.size(0), 51, dtype=torch.double)
            c_t = torch.zeros(input.size(0), 51, dtype=torch.double)
            h_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
            c_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)

            for input_t in input.split(1, dim=1):
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            for i in range(future):  # if we should predict the future
                h_t, c_t = self.lstm1(output, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            outputs = torch.cat(outputs, dim=1)
            return outputs

    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    seq = Sequence()
    seq.double()
    initial = _load(L, seq, init)
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
    losses = []
    for i in range(steps):
        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            losses.append(loss.item())
            loss.backward()
            return loss
        optimizer.step(closure)
        with torch.no_grad():
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            losses.append(loss.item())
            y = pred.detach().numpy()
    return dict(initial=initial, losses=losses, final=_state(seq), y=y, repr=repr(seq))


def test_time_sequence_prediction(monkeypatch):
    T, L, N = 20, 16, 6
    x = np.empty((N, L), "int64")
    x[:] = np.array(range(L)) + np.random.default_rng(5).integers(-4 * T, 4 * T, N).reshape(N, 1)
    data = np.sin(x / 1.0 / T).astype("float64")
    ref, got = _both(monkeypatch, time_sequence_program, data)
    assert len(ref["losses"]) > 10  # LBFGS evaluated the closure many times
    _check(ref, got, "float64")
    np.testing.assert_allclose(got["y"], ref["y"], rtol=1e-8, atol=1e-10)
    assert got["y"].shape == (3, L - 1 + 5)


# ---------------------------------------------------------------------------------------------------------------
# What the programs found missing or different, each on its own


def test_examples_imports_and_device_lines():
    """dcgan: ``import torch.nn.parallel``, ``import torch.backends.cudnn as cudnn``, ``nn.parallel.data_parallel``;
    word_language_model and fast_neural_style: ``import torch.onnx``."""
    import nerve
    import nerve.backends.cudnn as cudnn
    import nerve.nn as nn
    import nerve.nn.parallel
    import nerve.onnx

    cudnn.benchmark = True
    assert nerve.backends.cudnn.benchmark is True and cudnn.is_available() == nerve.cuda.is_available()
    cudnn.benchmark = False
    assert not nerve.backends.mps.is_available() and nerve.backends.cuda.matmul.allow_tf32 is False
    lin = nn.Linear(3, 2)
    x = nerve.ones(4, 3)
    np.testing.assert_array_equal(nn.parallel.data_parallel(lin, x, range(1)).detach().numpy(),
                                  lin(x).detach().numpy())
    wrapped = nn.DataParallel(lin)
    assert list(wrapped.state_dict()) == ["module.weight", "module.bias"]
    np.testing.assert_array_equal(wrapped(x).detach().numpy(), lin(x).detach().numpy())
    with pytest.raises(NotImplementedError, match=r"one device: splitting batches over devices \[0, 1\]"):
        nn.DataParallel(lin, [0, 1])
    with pytest.raises(NotImplementedError, match="nerve cannot export ONNX"):
        nerve.onnx.export(lin, (x,), "model.onnx")
    assert nerve.onnx.is_in_onnx_export() is False


def test_old_init_names_warn_as_torch():
    """super_resolution (before 2018): ``init.orthogonal``; siamese_network: ``init.xavier_uniform``."""
    import torch

    import nerve

    for name in ["uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal", "kaiming_uniform",
                 "kaiming_normal", "orthogonal"]:
        args = (0.5,) if name == "constant" else ()
        shape = (4, 2, 3) if name == "dirac" else (4, 3)
        with pytest.warns(FutureWarning) as theirs:
            getattr(torch.nn.init, name)(torch.empty(*shape), *args)
        with pytest.warns(FutureWarning) as ours:
            w = getattr(nerve.nn.init, name)(nerve.empty(*shape), *args)
        assert [str(m.message) for m in ours] == [str(m.message) for m in theirs], name
        assert tuple(w.shape) == shape
    with pytest.warns(FutureWarning):
        w = nerve.nn.init.orthogonal(nerve.empty(3, 5), nerve.nn.init.calculate_gain("relu")).numpy()
    np.testing.assert_allclose(w @ w.T, 2 * np.eye(3), atol=1e-5)


def test_reassigned_submodule_and_parameter_keep_their_place():
    """word_language_model's TransformerModel(nn.Transformer) replaces ``self.decoder``: torch keeps its place
    in ``state_dict`` and ``parameters()`` (which an optimizer's state follows)."""
    import torch

    import nerve

    def build(lib):
        class M(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.a = lib.nn.Linear(2, 2)
                self.w = lib.nn.Parameter(lib.zeros(2))
                self.b = lib.nn.Linear(2, 2)
                self.register_buffer("r", lib.zeros(1))
                self.a = lib.nn.Linear(2, 3)
                self.w = lib.nn.Parameter(lib.ones(2))
                self.r = lib.ones(1)
        return M()

    ours, theirs = build(nerve), build(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["w", "r", "a.weight", "a.bias", "b.weight", "b.bias"]
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    assert ours.state_dict()["w"].numpy().tolist() == [1.0, 1.0]


def test_log_sqrt_and_bce_at_the_edges_are_quiet_as_torch():
    """word_language_model's mask is ``torch.log(torch.tril(torch.ones(sz, sz)))``: log(0) = -inf, no warning."""
    import torch

    import nerve

    x = np.array([0.0, 1.0, -1.0, 4.0])
    for name in ["log", "log1p", "sqrt", "log2", "log10"]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            a = nerve.tensor(x, requires_grad=True)
            y = getattr(a, name)()
            y.sum().backward()
        b = torch.tensor(x, requires_grad=True)
        getattr(b, name)().sum().backward()
        np.testing.assert_allclose(y.detach().numpy(), getattr(torch.tensor(x), name)().numpy(), rtol=1e-15,
                                   err_msg=name)
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-15, err_msg=name)
    p, t = np.array([0.0, 1.0, 0.5]), np.array([1.0, 0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = nerve.nn.functional.binary_cross_entropy(nerve.tensor(p), nerve.tensor(t), reduction="none")
    theirs = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t), reduction="none")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_resnet18_is_torchvisions():
    """siamese_network builds ``torchvision.models.resnet18(pretrained=False)`` and reads ``fc.in_features``."""
    import torch

    import nerve
    from nerve.vision import models

    with pytest.warns(UserWarning, match="'pretrained' is deprecated"):
        ours = models.resnet18(pretrained=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = TORCH.torchvision.models.resnet18(pretrained=False)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert sum(p.numel() for p in ours.parameters()) == 11_689_512  # torchvision's count
    assert repr(ours) == repr(theirs) and ours.fc.in_features == 512
    conv = ours.layer2[0].conv1.weight.detach().numpy()  # kaiming normal, fan_out, relu: std sqrt(2 / (128 * 9))
    assert abs(conv.std() / np.sqrt(2 / (128 * 9)) - 1) < 0.05
    assert np.all(ours.layer3[1].bn2.weight.detach().numpy() == 1) and np.all(ours.bn1.bias.detach().numpy() == 0)
    ours.load_state_dict({k: nerve.from_numpy(v.numpy().copy()) for k, v in theirs.state_dict().items()})
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(ours(nerve.from_numpy(x)).detach().numpy(), theirs(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(NotImplementedError, match="nerve has no pretrained weights"):
        models.resnet18(weights="DEFAULT")
    assert models.resnet18(num_classes=3).fc.out_features == 3
    assert isinstance(models.resnet50(num_classes=5).layer1[0], models.Bottleneck)


def test_save_image_as_vae_and_dcgan_call_it(tmp_path):
    """vae: ``save_image(comparison.cpu(), path, nrow=n)``; dcgan: ``vutils.save_image(fake.detach(), path,
    normalize=True)`` over ``dset.FakeData``; torchvision's layout and rounding."""
    from PIL import Image

    import nerve
    import nerve.vision.datasets as dset
    import nerve.vision.transforms as transforms
    import nerve.vision.utils as vutils
    from nerve.vision.utils import make_grid, save_image

    rng = np.random.default_rng(0)
    comparison = rng.uniform(0, 1, (16, 1, 28, 28)).astype(np.float32)
    save_image(nerve.from_numpy(comparison), tmp_path / "reconstruction_1.png", nrow=8)
    img = np.asarray(Image.open(tmp_path / "reconstruction_1.png"))
    assert img.shape == (2 * 30 + 2, 8 * 30 + 2, 3)  # 8 a row, 2 pixels of padding
    want = np.floor(comparison * np.float32(255) + np.float32(0.5)).astype(np.uint8)
    np.testing.assert_array_equal(img[2:30, 2:30, 0], want[0, 0])  # first image, top left
    np.testing.assert_array_equal(img[32:60, 32 + 30:60 + 30, 2], want[10, 0])  # 11th: row 2, column 3
    assert np.all(img[:2] == 0) and np.all(img[30:32] == 0)

    dataset = dset.FakeData(size=8, image_size=(3, 16, 16), transform=transforms.Compose([
        transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]))
    batch, labels = next(iter(nerve.utils.data.DataLoader(dataset, batch_size=4)))
    assert tuple(batch.shape) == (4, 3, 16, 16) and labels.dtype == nerve.int64
    np.testing.assert_array_equal(dataset[2][0].numpy(), batch[2].numpy())  # item i is always the same
    assert float(batch.min()) >= -1 and float(batch.max()) <= 1
    vutils.save_image(batch.detach(), tmp_path / "fake_samples_epoch_000.png", normalize=True)
    img = np.asarray(Image.open(tmp_path / "fake_samples_epoch_000.png"))
    assert img.shape == (20, 4 * 18 + 2, 3)
    b = batch.numpy()
    want = np.floor((b[1] - b.min()) / (b.max() - b.min()) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_allclose(img[2:18, 20:36], want, atol=1)

    grid = make_grid([nerve.ones(3, 2, 2)] * 3, nrow=2, padding=1, pad_value=0.5).numpy()
    assert grid.shape == (3, 7, 7) and grid[0, 0, 0] == 0.5 and grid[0, 1, 1] == 1 and grid[0, 4, 4] == 0.5
    assert tuple(make_grid(nerve.ones(1, 1, 4, 4)).shape) == (3, 4, 4)  # one image: no padding
    each = make_grid(nerve.from_numpy(np.stack([np.full((1, 2, 2), 3.0), np.arange(4.0).reshape(1, 2, 2)])),
                     normalize=True, scale_each=True, padding=0).numpy()
    np.testing.assert_allclose(each[0], [[0, 0, 0, 1 / 3], [0, 0, 2 / 3, 1]])
    with pytest.raises(TypeError, match="value_range has to be a tuple"):
        make_grid(nerve.ones(2, 1, 2, 2), normalize=True, value_range=[0, 1])
    with pytest.raises(TypeError, match="tensor or list of tensors expected"):
        make_grid(np.ones((2, 1, 2, 2)))
