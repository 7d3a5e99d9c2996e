"""Model architectures, as ``torchvision.models``: the ResNets.

Built with random weights (``weights=None``), initialised as torchvision's, with torchvision's
module and parameter names, so a state dict converted from torchvision loads with
``load_state_dict``. nerve downloads no pretrained weights.
"""

from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50"]
