"""A trained network that can be evaluated but not trained: an ONNX file's graph and initializers.

`ExecutedModel` gives the co-design loop what it needs from a model -- the weights keyed by layer
name, and top-1 predictions under a mask set -- by running `execute` (the sparse kernels) on the
imported network. It has no backward pass, so a run with it prunes one-shot: no candidate or final
fine-tune (`OneShotAccuracy` is its search oracle). Like the other models it is immutable.

Inputs must already be in the graph's layout and normalisation: an ONNX graph names its input shape
but not the preprocessing its exporter applied. The shape is checked (examples may drop or add
size-1 axes, e.g. the ``(1, 1, F)`` feature vectors ``load_user_data`` gives for a ``(F,)`` input);
anything else is an error naming both shapes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from accelsim.codesign.accuracy import executed_logits
from workloads.datasets import Dataset
from workloads.evaluation import EvaluatedModel
from workloads.models import check_mask_shapes
from workloads.network import Network
from workloads.quantization import ActivationRanges, Bits, LayerBits, QuantizationError


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(v for v in shape if v != 1)


class ExecutedModel(EvaluatedModel):
    """A ``Network`` with trained weights, evaluated under masks through `execute`; never fine-tuned."""

    __slots__ = ("_input_shape", "_layers", "_network", "_weights")

    def __init__(self, network: Network, weights: Mapping[str, np.ndarray]) -> None:
        sources = [name for name in network.layer_names if not network.predecessors(name)]
        if len(sources) != 1:
            raise ValueError(f"network {network.name!r} must have one input layer, got {sources}")
        self._layers = {
            layer.name: tuple(layer.weight_shape) for layer in network if layer.weight_shape is not None
        }
        missing = sorted(name for name in self._layers if name not in weights)
        if missing:
            raise ValueError(f"network {network.name!r}: no weights for layers {missing}")
        self._network = network
        self._weights = {key: np.asarray(value) for key, value in weights.items()}
        self._input_shape = tuple(int(v) for v in network[sources[0]].input_shape)

    @property
    def name(self) -> str:
        return self._network.name

    @property
    def network(self) -> Network:
        return self._network

    @property
    def weights(self) -> dict[str, np.ndarray]:
        return dict(self._weights)

    @property
    def layers(self) -> dict[str, tuple[int, ...]]:
        """Weighted layer name -> weight shape (the keys and shapes masks must have)."""
        return dict(self._layers)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape as the graph takes it (without the batch axis)."""
        return self._input_shape

    def prepare_inputs(self, x: np.ndarray) -> np.ndarray:
        """``x`` (N, ...) reshaped to (N, *input_shape) when the two differ only in size-1 axes."""
        x = np.asarray(x, dtype=np.float32)
        got = tuple(x.shape[1:])
        if got != self._input_shape and _squeezed(got) != _squeezed(self._input_shape):
            raise ValueError(
                f"model {self.name!r} takes inputs of shape {self._input_shape}, got examples of shape {got}"
            )
        return x.reshape(len(x), *self._input_shape)

    def check_bits(self, bits: Bits | None) -> dict[str, LayerBits]:
        """Only ``None`` or no widths: the imported graph has no training graph to calibrate on."""
        if bits:
            raise QuantizationError(
                f"model {self.name!r}: bits={dict(bits)!r}: an ONNX model runs one-shot in float "
                "(no training graph to calibrate quantized inputs on)"
            )
        return {}

    def calibrate(
        self, x_train: np.ndarray, *, masks: Mapping[str, np.ndarray] | None = None, bits: Bits | None = None
    ) -> ActivationRanges:
        self.check_bits(bits)
        return {}

    def logits(
        self,
        x: np.ndarray,
        *,
        masks: Mapping[str, np.ndarray] | None = None,
        bits: Bits | None = None,
        ranges: ActivationRanges | None = None,
    ) -> np.ndarray:
        self.check_bits(bits)
        checked = check_mask_shapes(masks, self._layers, owner=f"model {self.name!r}")
        return executed_logits(self._network, self._weights, checked or None, self.prepare_inputs(x))

    def __repr__(self) -> str:
        return f"ExecutedModel({self.name!r}, {len(self._layers)} weighted layers)"


class OneShotAccuracy:
    """The search oracle of a model that cannot be fine-tuned: top-1 on ``split`` right after pruning."""

    def __init__(self, model: ExecutedModel, dataset: Dataset, *, split: str = "val") -> None:
        self.model, self.dataset, self.split = model, dataset, split

    def tuned_model(self, masks: Mapping[str, np.ndarray], bits: Bits | None = None) -> ExecutedModel:
        """The model itself: nothing is tuned, the masks are applied at evaluation."""
        self.model.check_bits(bits)
        return self.model

    def __call__(self, masks: Mapping[str, np.ndarray], bits: Bits | None = None) -> float:
        return self.model.accuracy(self.dataset, self.split, masks=dict(masks), bits=bits)


__all__ = ["ExecutedModel", "OneShotAccuracy"]
