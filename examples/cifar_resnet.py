"""A CIFAR-style ResNet trained on the bundled digits resized to 32x32: issue 14's co-design example.

Two commands, run from the repository root (``prepare`` writes into ``results/cifar_resnet`` unless
``--out`` or ``ACCELSIM_RESNET_DIR`` says otherwise; ``resnet()`` reads from the same place)::

    python examples/cifar_resnet.py prepare
    python -m accelsim codesign --model examples/cifar_resnet.py:resnet \\
        --data results/cifar_resnet/digits32.npz --hardware sparse_edge_16x16 \\
        --granularities channel --strategy uniform --out results/resnet_codesign

(docs/user_models.md says why channel pruning and the uniform sweep, and what the run measured.)

The network is the CIFAR-10 ResNet of He et al. 2016 (sec. 4.2): a 3x3 stem conv, three stages of
``n`` basic blocks (two 3x3 convs with BatchNorm) at 16, 32 and 64 channels on 32x32, 16x16 and
8x8 maps, global average pooling and a linear classifier; ResNet-(6n+2), so ``n = 1`` is ResNet-8.
Where a block changes width or stride its shortcut is a 1x1 projection conv with BatchNorm (the
paper's option B): the torch importer has no handler for option A's channel zero-padding (``F.pad``).
The torch importer folds each BatchNorm into the conv before it, so the simulated network has
the convs alone; ``TorchModel`` fine-tunes the unfolded module, BatchNorm statistics included.

The data is the project's fixed digits split (1,257 / 180 / 360 train / val / test images,
``workloads.datasets.load_digits``), each 8x8 image resized bilinearly to 32x32 (half-pixel
centres, edges clamped: ``F.interpolate(mode="bilinear", align_corners=False)`` in numpy float64)
and normalised by the training split's mean and standard deviation. The validation split goes
into the npz, so the co-design search chooses on it and the test split is only reported.

Training is deterministic on CPU: the weights are initialised and trained inside
``workloads.torch_model.deterministic(seed)`` (one thread, ``torch.use_deterministic_algorithms``)
by ``TorchModel.train_with_config``, the project's torch training loop.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from workloads.datasets import load_digits
from workloads.torch_model import TorchModel, deterministic
from workloads.training import SGD, TrainConfig
from workloads.user_data import load_user_data

DEFAULT_DIR = Path("results") / "cifar_resnet"
DIR_VARIABLE = "ACCELSIM_RESNET_DIR"
DATA_FILE, WEIGHTS_FILE, RECIPE_FILE = "digits32.npz", "resnet.pt", "resnet.json"
STAGE_WIDTHS = (1, 2, 4)  # multiples of the stem width: 16, 32, 64 channels in the paper


@dataclass(frozen=True)
class Recipe:
    """What ``prepare`` builds and trains; saved next to the weights so ``resnet()`` rebuilds the same net.

    The optimiser follows He et al. 2016 sec. 4.2 (SGD, momentum 0.9, weight decay 1e-4, batch
    128, initial lr 0.1) with a cosine schedule over far fewer epochs: 1,257 digits are not 50k
    CIFAR images."""

    blocks_per_stage: int = 1
    width: int = 16
    size: int = 32
    epochs: int = 15
    lr: float = 0.1
    weight_decay: float = 1e-4
    batch_size: int = 128
    seed: int = 0
    train_limit: int | None = None  # keep the first N training images: test-sized runs only


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and a shortcut (identity, or a 1x1 projection conv-BN)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs (He et al. 2016, sec. 4.2), ``n = blocks_per_stage``."""

    def __init__(
        self, blocks_per_stage: int, width: int = 16, in_channels: int = 1, classes: int = 10
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        stages, cin = [], width
        for stage, multiple in enumerate(STAGE_WIDTHS):
            blocks = []
            for i in range(blocks_per_stage):
                blocks.append(BasicBlock(cin, width * multiple, 2 if stage > 0 and i == 0 else 1))
                cin = width * multiple
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def bilinear_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) float64 weights of 1-d bilinear resizing with half-pixel centres."""
    src = np.clip((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0.0, size_in - 1)
    low = np.floor(src).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    frac = src - low
    matrix = np.zeros((size_out, size_in))
    np.add.at(matrix, (np.arange(size_out), low), 1.0 - frac)
    np.add.at(matrix, (np.arange(size_out), high), frac)
    return matrix


def digits_arrays(size: int = 32, train_limit: int | None = None) -> dict[str, Any]:
    """The fixed digits split resized to ``size`` x ``size`` and normalised by the training statistics
    (of the first ``train_limit`` training images only, when given: validation and test stay whole)."""
    digits = load_digits()
    resize = bilinear_matrix(digits.input_shape[-1], size)
    splits = {name: digits.split(name) for name in ("train", "val", "test")}
    x_train, y_train = splits["train"]
    splits["train"] = (x_train[:train_limit], y_train[:train_limit])
    resized = {
        name: np.einsum("oi,ncij,pj->ncop", resize, x.astype(np.float64), resize)
        for name, (x, _) in splits.items()
    }
    mean, std = resized["train"].mean(), resized["train"].std()
    arrays: dict[str, Any] = {"num_classes": np.int64(digits.num_classes)}
    for name, x in resized.items():
        arrays[f"x_{name}"] = ((x - mean) / std).astype(np.float32)
        arrays[f"y_{name}"] = splits[name][1]
    return arrays


def example_input(recipe: Recipe) -> torch.Tensor:
    return torch.zeros(1, 1, recipe.size, recipe.size)


def prepare(out: Path, recipe: Recipe = Recipe()) -> TorchModel:
    """Write ``out/digits32.npz``, train the ResNet on it and save its weights and recipe."""
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / DATA_FILE, **digits_arrays(recipe.size, recipe.train_limit))
    dataset = load_user_data(out / DATA_FILE, seed=recipe.seed)
    with deterministic(recipe.seed):  # the initial weights come from the seed too
        module = CifarResNet(recipe.blocks_per_stage, recipe.width, classes=dataset.num_classes)
    config = TrainConfig(
        epochs=recipe.epochs,
        optimizer=SGD(lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay),
        seed=recipe.seed,
        batch_size=recipe.batch_size,
    )
    trained = TorchModel(module, example_input(recipe)).train_with_config(dataset, config).model
    torch.save(trained.module().state_dict(), out / WEIGHTS_FILE)
    (out / RECIPE_FILE).write_text(json.dumps(asdict(recipe), indent=2) + "\n")
    return trained


def weights_dir() -> Path:
    return Path(os.environ.get(DIR_VARIABLE, DEFAULT_DIR))


def resnet() -> tuple[nn.Module, torch.Tensor]:
    """The ``--model`` function: the trained ResNet that ``prepare`` saved, and an example input."""
    directory = weights_dir()
    weights, recipe_file = directory / WEIGHTS_FILE, directory / RECIPE_FILE
    if not weights.is_file() or not recipe_file.is_file():
        raise FileNotFoundError(
            f"no trained ResNet in {directory} ({WEIGHTS_FILE} and {RECIPE_FILE}); make it with "
            f"`python examples/cifar_resnet.py prepare --out {directory}` (or set {DIR_VARIABLE})"
        )
    recipe = Recipe(**json.loads(recipe_file.read_text()))
    module = CifarResNet(recipe.blocks_per_stage, recipe.width)
    module.load_state_dict(torch.load(weights, weights_only=True))
    return module.eval(), example_input(recipe)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CIFAR-style ResNet on the digits resized to 32x32")
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("prepare", help="write the digits npz, train the ResNet, save the weights")
    cmd.add_argument("--out", type=Path, default=weights_dir(), help=f"directory (default {weights_dir()})")
    defaults = Recipe()
    cmd.add_argument("--blocks", type=int, default=defaults.blocks_per_stage, help="n of ResNet-(6n+2)")
    cmd.add_argument("--width", type=int, default=defaults.width, help="stem channels (16 in the paper)")
    cmd.add_argument("--size", type=int, default=defaults.size, help="image side after resizing")
    cmd.add_argument("--epochs", type=int, default=defaults.epochs)
    cmd.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args(argv)
    recipe = Recipe(
        blocks_per_stage=args.blocks, width=args.width, size=args.size, epochs=args.epochs, seed=args.seed
    )
    model = prepare(args.out, recipe)
    dataset = load_user_data(args.out / DATA_FILE, seed=recipe.seed)
    print(
        f"ResNet-{6 * recipe.blocks_per_stage + 2} (width {recipe.width}) on {recipe.size}x{recipe.size} digits: "
        f"validation accuracy {model.accuracy(dataset, 'val'):.4f}; "
        f"wrote {args.out / DATA_FILE}, {args.out / WEIGHTS_FILE}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
