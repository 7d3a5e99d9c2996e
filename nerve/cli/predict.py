"""``nerve predict MODEL IMAGE...``: the most likely classes of each image, with probabilities."""

from __future__ import annotations

import os

import numpy as np

from .common import CLIError, one_line
from .data import IMAGE_EXTENSIONS, image_files, image_transform, normalise


def _collect(paths: list[str]) -> list[str]:
    files = []
    for p in paths:
        if os.path.isdir(p):
            found = image_files(p)
            if not found:
                raise CLIError(f"{p}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
            files += found
        elif os.path.isfile(p):
            files.append(p)
        else:
            raise CLIError(f"{p}: no such file or folder")
    return files


class Predictor:
    """A model saved by ``nerve train``, rebuilt, with the image conversion it was trained with."""

    def __init__(self, saved: dict, device="cpu"):
        from .models import build_keras, build_torch

        meta = saved["meta"]
        self.meta = meta
        self.classes = list(meta["classes"])
        self.preprocess = meta["preprocess"]
        self.transform = image_transform(self.preprocess)
        c, h, w = meta["input_shape"]
        self.api = meta.get("api", "torch")
        try:
            if self.api == "keras":
                from nerve import keras

                keras.backend.set_device(device)
                self.model = build_keras(meta["architecture"], (h, w, c), len(self.classes))
                self.model.set_weights([np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in saved["weights"]])
            else:
                import nerve

                self.device = nerve.device(device)
                self.model = build_torch(meta["architecture"], (c, h, w), len(self.classes)).to(self.device)
                self.model.load_state_dict(saved["weights"])
                self.model.eval()
        except CLIError:
            raise
        except Exception as e:
            raise CLIError(f"the saved weights do not fit a {meta.get('architecture')!r} model: {one_line(e)}") from None

    def load_image(self, path: str) -> np.ndarray:
        """One image as uint8 (H, W, C) the way the model saw its training images."""
        from PIL import Image

        try:
            with Image.open(path) as im:
                im.load()
                return self.transform(im)
        except Exception as e:
            raise CLIError(f"{path}: cannot read it as an image ({one_line(e)})") from None

    def probabilities(self, images_uint8: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) for uint8 NHWC images."""
        x = normalise(images_uint8, self.preprocess)
        if self.api == "keras":
            logits = np.asarray(self.model.predict(x, verbose=0))
        else:
            import nerve

            with nerve.no_grad():
                t = nerve.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(self.device)
                logits = self.model(t).cpu().numpy()
        z = logits - logits.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)


def predict_command(args) -> int:
    """Print one line per image: the top classes with their probabilities."""
    from .train import _device, load_model_file

    if not os.path.exists(args.model):
        raise CLIError(f"{args.model}: no such model file or run folder")
    files = _collect(args.images)  # check the images before the (slower) model load
    predictor = Predictor(load_model_file(args.model), device=_device(args.device))
    top = min(args.top, len(predictor.classes))
    width = max(len(f) for f in files)
    for start in range(0, len(files), 256):
        chunk = files[start:start + 256]
        probs = predictor.probabilities(np.stack([predictor.load_image(f) for f in chunk]))
        for f, p in zip(chunk, probs):
            best = np.argsort(-p, kind="stable")[:top]
            ranked = ", ".join(f"{predictor.classes[i]} {p[i]:.1%}" for i in best)
            print(f"{f:<{width}}  {ranked}", flush=True)
    return 0
