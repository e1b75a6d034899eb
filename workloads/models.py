"""Trainable numpy models: a ``Network`` of layer specs plus float32 weights.

A ``Model`` is immutable: training (``workloads.training``) returns a new one. Its ``weights`` are
the contract the sparse ``execute(network, weights, masks, inputs)`` consumes: layer name -> weight
of exactly ``network[name].weight_shape``, and ``"<layer>.bias"`` -> bias of shape (out,). Because
the forward pass is interpreted from the same ``Network`` the simulator sees, layer names and shapes
line up with masks and reports by construction.

Masks map a layer name to a bool array of its weight shape (True = kept); layers without a mask are
dense, and biases are never masked. ``bits`` (``workloads.quantization``) fake-quantize weights and
layer inputs; activation ranges are calibrated on the training split (``calibrate``), never on the
split being measured. Quantization follows masking, so a pruned weight stays exactly 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

from workloads import nn
from workloads.evaluation import EvaluatedModel, Evaluation
from workloads.layers import Conv2d, Linear, Pair, Pool
from workloads.network import Network
from workloads.quantization import (
    ActivationRanges,
    Bits,
    LayerBits,
    calibrate,
    calibration_subset,
    check_bits,
    fake_quantize_weights,
    input_quantizers,
    needs_ranges,
    quantize_inputs_hook,
)

DTYPE = np.float32
# Inference batch: bounds the im2col buffer (MNIST LeNet conv2: 150 x 1024*196 floats = 120 MB).
EVAL_BATCH = 512


# ---------------------------------------------------------------------------------- networks


def _pair(value: int | Pair, what: str) -> Pair:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")


def mlp_network(
    *,
    input_hw: int | Pair = (8, 8),
    in_channels: int = 1,
    hidden: tuple[int, ...] = (300, 100),
    num_classes: int = 10,
    name: str = "mlp_digits",
) -> Network:
    """LeNet-300-100 shape on flattened images: 64-300-100-10 on digits, 784-300-100-10 on MNIST."""
    h, w = _pair(input_hw, "input_hw")
    widths = (in_channels * h * w, *hidden, num_classes)
    last = len(widths) - 2
    return Network.sequential(name, [
        Linear(f"fc{i + 1}", widths[i], widths[i + 1], activation=None if i == last else "relu")
        for i in range(len(widths) - 1)
    ])  # fmt: skip


def lenet_network(
    *,
    input_hw: int | Pair = (8, 8),
    in_channels: int = 1,
    num_classes: int = 10,
    channels: tuple[int, int] = (6, 16),
    kernel_size: int = 3,
    name: str = "lenet_digits",
) -> Network:
    """LeNet-5 adapted to small inputs: same-padded convs so an 8x8 image survives two 2x2 max pools.

    conv1 6@3x3 pad 1 -> relu -> pool1 max 2 -> conv2 16@3x3 pad 1 -> relu -> pool2 max 2 ->
    fc1 120 -> fc2 84 -> fc3 classes. On 8x8 that is 16x2x2 = 64 features into fc1; on 28x28 it is
    16x7x7 = 784. (The zoo's 5x5 unpadded LeNet-5 cannot take an 8x8 input.)
    """
    hw = _pair(input_hw, "input_hw")
    pad = kernel_size // 2
    c1, c2 = channels
    conv1 = Conv2d("conv1", in_channels, c1, kernel_size, hw, padding=pad, activation="relu")
    pool1 = Pool("pool1", c1, conv1.output_hw, 2, 2, kind="max")
    conv2 = Conv2d("conv2", c1, c2, kernel_size, pool1.output_hw, padding=pad, activation="relu")
    pool2 = Pool("pool2", c2, conv2.output_hw, 2, 2, kind="max")
    flat = c2 * pool2.output_hw[0] * pool2.output_hw[1]
    return Network.sequential(name, [
        conv1, pool1, conv2, pool2,
        Linear("fc1", flat, 120, activation="relu"),
        Linear("fc2", 120, 84, activation="relu"),
        Linear("fc3", 84, num_classes),
    ])  # fmt: skip


# ------------------------------------------------------------------------------------- masks


def check_masks(network: Network, masks: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Validate ``masks`` against ``network``; return a plain dict of bool arrays (empty if None)."""
    shapes = {layer.name: layer.weight_shape for layer in network.layers()}
    return check_mask_shapes(masks, shapes, owner=f"network {network.name!r}")


def check_mask_shapes(
    masks: Mapping[str, np.ndarray] | None, shapes: Mapping[str, tuple[int, ...] | None], *, owner: str
) -> dict[str, np.ndarray]:
    """Validate ``masks`` against layer name -> weight shape (None: no weight) of ``owner``."""
    if masks is None:
        return {}
    if not isinstance(masks, Mapping):
        raise TypeError(f"masks must be a mapping layer name -> bool ndarray, got {type(masks).__name__}")
    checked = {}
    for name, mask in masks.items():
        if name not in shapes:
            raise ValueError(f"mask for {name!r}: {owner} has no such layer")
        shape = shapes[name]
        if shape is None:
            raise ValueError(f"mask for {name!r}: layer has no weight to mask")
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise ValueError(f"mask for {name!r}: dtype must be bool, got {mask.dtype}")
        if mask.shape != tuple(shape):
            raise ValueError(
                f"mask for {name!r}: shape must be the weight shape {tuple(shape)}, got {mask.shape}"
            )
        checked[name] = mask
    return checked


def apply_masks(weights: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Weights with every pruned entry set to +0.0 (``np.where``, so no ``-0.0`` from a product)."""
    return {
        key: (np.where(masks[key], value, value.dtype.type(0)) if key in masks else value)
        for key, value in weights.items()
    }


def magnitude_masks(
    weights: Mapping[str, np.ndarray], amount: float, *, layers: list[str] | None = None
) -> dict[str, np.ndarray]:
    """Per-layer unstructured magnitude pruning: drop the ``amount`` fraction of smallest ``|w|``.

    A small utility for tests and benchmarks until the ``pruning`` package lands. ``layers``
    defaults to every weight (not bias) key. Ties break by flat index (stable sort), so the result
    is deterministic.
    """
    if not (0 <= amount <= 1):
        raise ValueError(f"amount must be a fraction in [0, 1], got {amount!r}")
    names = layers if layers is not None else [k for k in weights if not k.endswith(".bias")]
    masks = {}
    for name in names:
        w = np.asarray(weights[name])
        pruned = int(round(amount * w.size))
        order = np.argsort(np.abs(w), axis=None, kind="stable")
        keep = np.ones(w.size, dtype=bool)
        keep[order[:pruned]] = False
        masks[name] = keep.reshape(w.shape)
    return masks


# ------------------------------------------------------------------------------------- model


def init_weights(network: Network, *, seed: int, dtype=DTYPE) -> dict[str, np.ndarray]:
    """He-normal weights (std sqrt(2 / fan_in), suits ReLU) and zero biases, drawn in layer order."""
    rng = np.random.default_rng(seed)
    weights = {}
    for layer in network.layers():
        shape = layer.weight_shape
        if shape is None:
            continue
        fan_in = int(np.prod(shape[1:]))
        weights[layer.name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
        weights[nn.bias_key(layer.name)] = np.zeros(shape[0], dtype=dtype)
    return weights


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.flags.writeable = False
    return array


class Model(EvaluatedModel):
    """An immutable ``Network`` + weights with forward, backward and evaluation in numpy."""

    __slots__ = ("_network", "_weights")

    def __init__(self, network: Network, weights: Mapping[str, np.ndarray]) -> None:
        nn.check_trainable(network)
        expected = {}
        for layer in network.layers():
            if layer.weight_shape is not None:
                expected[layer.name] = tuple(layer.weight_shape)
                expected[nn.bias_key(layer.name)] = (layer.weight_shape[0],)
        missing = sorted(set(expected) - set(weights))
        extra = sorted(set(weights) - set(expected))
        if missing or extra:
            raise ValueError(f"model {network.name!r}: weights missing {missing}, unexpected {extra}")
        checked = {}
        for key, shape in expected.items():
            value = np.asarray(weights[key])
            if value.shape != shape:
                raise ValueError(
                    f"model {network.name!r}: weight {key!r} must have shape {shape}, got {value.shape}"
                )
            if value.dtype != DTYPE:
                raise ValueError(
                    f"model {network.name!r}: weight {key!r} must be {np.dtype(DTYPE)}, got {value.dtype}"
                )
            checked[key] = _readonly(value)
        self._network = network
        self._weights = checked

    # ------------------------------------------------------------------ access

    @property
    def name(self) -> str:
        return self._network.name

    @property
    def network(self) -> Network:
        return self._network

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """Layer name -> weight, ``"<layer>.bias"`` -> bias; a fresh dict of read-only arrays."""
        return dict(self._weights)

    @property
    def parameter_count(self) -> int:
        return sum(w.size for w in self._weights.values())

    def with_weights(self, weights: Mapping[str, np.ndarray]) -> Model:
        return Model(self._network, weights)

    def masked_weights(self, masks: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        return apply_masks(self._weights, check_masks(self._network, masks))

    @property
    def input_layout(self) -> str:
        """``"NCHW"`` if the first layer is spatial, ``"NF"`` (N, features) if it is a Linear."""
        return "NF" if isinstance(self._network.layers()[0], Linear) else "NCHW"

    def prepare_inputs(self, x: np.ndarray) -> np.ndarray:
        """``x`` (N, C, H, W) as the first layer takes it: flattened to (N, C*H*W) for an MLP."""
        x = np.asarray(x, dtype=DTYPE)
        return x.reshape(len(x), -1) if self.input_layout == "NF" else x

    def digest(self) -> str:
        """sha256 of the network spec and the weights' bytes: a content address for caching."""
        h = hashlib.sha256(network_spec(self._network).encode())
        for key in sorted(self._weights):
            value = self._weights[key]
            h.update(f"|{key}|{value.dtype.str}{value.shape}|".encode())
            h.update(np.ascontiguousarray(value).tobytes())
        return h.hexdigest()

    def check_bits(self, bits: Bits | None) -> dict[str, LayerBits]:
        """Validate ``bits`` (weighted layer name -> LayerBits); a plain dict, empty if None."""
        layers = {layer.name for layer in self._network.layers() if layer.weight_shape is not None}
        return check_bits(bits, dict.fromkeys(layers), owner=f"network {self._network.name!r}")

    def quantized_weights(
        self, masks: Mapping[str, np.ndarray] | None = None, bits: Bits | None = None
    ) -> dict[str, np.ndarray]:
        """The weights the forward pass uses: masked, then fake-quantized per ``bits``."""
        return fake_quantize_weights(self.masked_weights(masks), self.check_bits(bits))

    def calibrate(
        self, x_train: np.ndarray, *, masks: Mapping[str, np.ndarray] | None = None, bits: Bits | None = None
    ) -> ActivationRanges:
        """Input range of every weighted layer on the fixed calibration subset of ``x_train``."""
        x = self.prepare_inputs(calibration_subset(x_train))
        return calibrate(self._network, self.quantized_weights(masks, bits), x, self.check_bits(bits))

    # ------------------------------------------------------------------ compute

    def forward(self, x: np.ndarray, *, masks: Mapping[str, np.ndarray] | None = None):
        """Logits and the tape for :meth:`backward`, with ``masks`` applied to the weights."""
        return nn.forward(self._network, self.masked_weights(masks), self.prepare_inputs(x))

    def backward(self, tape: nn.Tape, dlogits: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients keyed like ``weights`` (unmasked: training masks them, see ``workloads.training``)."""
        return nn.backward(tape, dlogits)

    def logits(
        self,
        x: np.ndarray,
        *,
        masks: Mapping[str, np.ndarray] | None = None,
        bits: Bits | None = None,
        ranges: ActivationRanges | None = None,
        batch_size: int = EVAL_BATCH,
    ) -> np.ndarray:
        """Logits (N, classes); ``ranges`` (from :meth:`calibrate`) are needed when ``bits`` quantize inputs."""
        params = self.quantized_weights(masks, bits)
        checked = self.check_bits(bits)
        hook = quantize_inputs_hook(input_quantizers(checked, ranges)) if needs_ranges(checked) else None
        x = self.prepare_inputs(x)
        with nn.single_threaded_blas():
            parts = [
                nn.forward(self._network, params, x[i : i + batch_size], keep_tape=False, input_hook=hook)[0]
                for i in range(0, len(x), batch_size)
            ]
        return (
            np.concatenate(parts)
            if parts
            else np.zeros((0, self._network.layers()[-1].output_shape[-1]), DTYPE)
        )

    def __repr__(self) -> str:
        return f"Model({self.name!r}, {self.parameter_count:,} parameters)"


def network_spec(network: Network) -> str:
    """A canonical text of a chain network: its name and each layer's dataclass repr, in order."""
    return "\n".join([network.name, *(repr(layer) for layer in network.layers())])


# ------------------------------------------------------------------------------- factories


def mlp_digits(*, input_hw: int | Pair = (8, 8), num_classes: int = 10, seed: int = 0) -> Model:
    """LeNet-300-100 on digits (64-300-100-10); ``input_hw=28`` gives the MNIST 784-300-100-10."""
    network = mlp_network(input_hw=input_hw, num_classes=num_classes)
    return Model(network, init_weights(network, seed=seed))


def lenet_digits(*, input_hw: int | Pair = (8, 8), num_classes: int = 10, seed: int = 0) -> Model:
    """The LeNet-5-style CNN of :func:`lenet_network`; ``input_hw=28`` gives the MNIST variant."""
    network = lenet_network(input_hw=input_hw, num_classes=num_classes)
    return Model(network, init_weights(network, seed=seed))


MODELS = {"mlp_digits": mlp_digits, "lenet_digits": lenet_digits}


def build_model(name: str, *, seed: int = 0, **kwargs) -> Model:
    """A freshly initialised model by name (see ``MODELS``)."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}") from None
    return factory(seed=seed, **kwargs)


__all__ = [
    "DTYPE",
    "Evaluation",
    "MODELS",
    "Model",
    "apply_masks",
    "build_model",
    "check_mask_shapes",
    "check_masks",
    "init_weights",
    "lenet_digits",
    "lenet_network",
    "magnitude_masks",
    "mlp_digits",
    "mlp_network",
    "network_spec",
]
