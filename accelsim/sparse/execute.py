"""Functional execution of a whole network with pruned weights: ``execute(network, weights, masks, inputs)``.

Pruned layers run through the sparse kernels of :mod:`accelsim.sparse.kernels` in the format chosen per
layer; unpruned ones run dense (BLAS).  The result is functionally exact: the same numbers (up to
floating-point summation order) as a dense forward pass with ``weights * masks``.
This module validates, chooses formats and walks the graph; the arithmetic of each layer type is in
:mod:`accelsim.sparse.operators`.

Conventions
-----------
* Tensors carry an optional leading batch dimension.  ``inputs`` of exactly the source layer's
  ``input_shape`` (or of its size, e.g. a ``(784,)`` MNIST image for ``mlp``) is one sample and
  the outputs have no batch dimension; ``(B, ...)`` with ``B*prod(input_shape)`` elements is a
  batch and every output keeps ``B`` in front.  Each layer's output has ``layer.output_shape``.
* Compute dtype: float32 inputs run in float32, anything else in float64; weights are cast to it.
* ``weights[name]`` has the layer's ``weight_shape``; ``weights[f"{name}.bias"]`` (out,) is
  optional.  LayerNorm takes optional ``f"{name}.weight"`` / ``f"{name}.bias"`` (last-axis
  size, eps 1e-5).  Batch-norm is not modelled (the zoo has none; fold it into the conv).
* ``masks[name]``: a bool array of the weight shape; missing or ``None`` means dense.
* Layers: Conv2d (incl. grouped / depthwise), Linear (its input is flattened per sample, or a
  MatMul's ``(heads, tokens, d)`` output has its heads merged back to ``(tokens, heads*d)``),
  MatMul, Pool (max pads with -inf; avg counts the padding, PyTorch's default), Add (sum of its
  two predecessors, then its activation), Softmax and LayerNorm over the last axis.  Activations:
  relu, relu6, exact (erf) gelu, silu and hardswish.  Concat joins its predecessors (insertion
  order) along its axis; operand ``i`` that is a constant of the source model (a class token)
  comes from ``weights[f"{name}.operand{i}"]`` instead.
* Sources (layers without predecessors) are fed ``inputs`` (one array for every source, or a
  mapping ``source name -> array``).  An Add with a single predecessor adds the network input as
  its other operand (BERT's ``attention.add``: the encoder input is implicit), or
  ``weights[f"{name}.operand"]`` when the network holds that constant (a position embedding).
* MatMul operands: the graph does not record operand order, so both predecessors are tried as
  the left ``(heads, m, k)`` and right ``(heads, k, n)`` operands.  A 2-d ``(tokens, heads*d)``
  projection is split into heads; as the right operand it is used transposed, ``(heads, d,
  tokens)``, when the left operand is a projection too (``Q @ K^T``), else as ``(heads, tokens,
  d)`` (``P @ V``).  When both assignments fit, a 3-d left operand wins (``P @ V``), then the
  predecessors' insertion order.

Formats (``formats[name]``): ``"dense"``, ``"csr"``, ``"bitmap"``, ``("bsr", (br, bc))`` or
``("nm", n, m)``.  The default, :func:`choose_format`, reads the mask:
no mask or all kept -> dense; density above ``AUTO_DENSE_ABOVE`` (0.5: sparse kernels lose to
BLAS there, see docs/machine.md) -> dense; an exact N:M pattern along the reduction axis (every group
keeps exactly n of m, tried in ``AUTO_NM`` order) -> N:M; whole blocks kept or pruned (tried in
``AUTO_BLOCKS`` order, blocks not straddling conv groups) -> BSR; anything else -> CSR.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from accelsim.sparse.format_spec import FormatSpec, as_format, block_mask, check_mask
from accelsim.sparse.formats import encode, gemm_view
from accelsim.sparse.operators import (
    LAYERNORM_EPS,
    activate,
    optional_entry,
    reshape_input,
    run_concat,
    run_conv,
    run_layernorm,
    run_linear,
    run_matmul,
    run_pool,
    run_softmax,
)
from accelsim.sparse.quantized import prepare_quantized
from workloads.layers import Add, Concat, Conv2d, LayerNorm, Linear, MatMul, Pool, Softmax
from workloads.quantization import ActivationRanges, Bits, check_bits, input_quantizers

__all__ = ["execute", "choose_format", "AUTO_DENSE_ABOVE", "AUTO_NM", "AUTO_BLOCKS", "LAYERNORM_EPS"]

AUTO_DENSE_ABOVE = 0.5
AUTO_NM = ((1, 4), (2, 4), (1, 8), (2, 8), (4, 8))
AUTO_BLOCKS = ((16, 16), (8, 8), (4, 4))


# ----------------------------------------------------------------------------- formats


def _is_exact_nm(m2: np.ndarray, nnz: int, n: int, m: int) -> bool:
    rows, cols = m2.shape
    if cols % m or nnz * m != rows * cols * n:  # cheap rejections first: the density must be n/m
        return False
    return bool((np.count_nonzero(m2.reshape(rows, cols // m, m), axis=2) == n).all())


def _is_whole_blocks(m2: np.ndarray, nnz: int, br: int, bc: int) -> bool:
    if nnz % (br * bc):
        return False
    # The first block row rejects a random mask at a fraction of the full check's cost.
    for part in (m2[:br], m2):
        grid = block_mask(part, (br, bc))
        if np.count_nonzero(grid) * br * bc != np.count_nonzero(part):
            return False
    return True


def choose_format(mask: np.ndarray | None, *, groups: int = 1, layer: str | None = None):
    """The default format of a weight with ``mask`` (see the module docstring for the rules)."""
    if mask is None:
        return "dense"
    m2 = gemm_view(mask, layer=layer, what="mask")
    nnz = int(np.count_nonzero(m2))
    if nnz == m2.size or nnz > AUTO_DENSE_ABOVE * m2.size:
        return "dense"
    for n, m in AUTO_NM:
        if _is_exact_nm(m2, nnz, n, m):
            return ("nm", n, m)
    rows, cols = m2.shape
    for br, bc in AUTO_BLOCKS:
        if (rows // groups) % br or cols % bc:
            continue
        if _is_whole_blocks(m2, nnz, br, bc):
            return ("bsr", (br, bc))
    return "csr"


def _check_format(fmt: object, layer: str) -> FormatSpec:
    """``"dense"`` or a compressed format (`accelsim.sparse.formats.as_format`; lists are read as tuples)."""
    if fmt == "dense":
        return "dense"
    return as_format(tuple(fmt) if isinstance(fmt, list) else fmt, layer=layer)


# ----------------------------------------------------------------------------- preparation


def _prepare_weights(network, weights, masks, formats, dtype, bits=None, quantizers=None):
    """Validate every weight / mask / format and encode each weighted layer once (quantized per ``bits``)."""
    if not isinstance(weights, Mapping):
        raise ValueError(f"weights must be a mapping layer name -> ndarray, got {type(weights).__name__}")
    formats = {} if formats is None else dict(formats)
    known = set(network.layer_names)
    for name in formats:
        if name not in known:
            raise ValueError(f"formats: network {network.name!r} has no layer {name!r}")
    if masks is not None:
        for name in masks:
            if name not in known:
                raise ValueError(f"masks: network {network.name!r} has no layer {name!r}")
            if network[name].weight_shape is None and masks[name] is not None:
                raise ValueError(f"layer {name!r}: has no weights, so it cannot take a mask")
    prepared: dict[str, tuple] = {}
    for layer in network.layers():
        name = layer.name
        if not isinstance(layer, (Conv2d, Linear)):
            if name in formats:
                raise ValueError(
                    f"layer {name!r}: has no weights, so it cannot take a format ({formats[name]!r})"
                )
            continue
        if name not in weights:
            raise ValueError(f"layer {name!r}: missing from weights")
        w = np.asarray(weights[name])
        if w.shape != tuple(layer.weight_shape):
            raise ValueError(
                f"layer {name!r}: weight shape {w.shape} does not match weight_shape {layer.weight_shape}"
            )
        if w.dtype.kind not in "fiu":
            raise ValueError(f"layer {name!r}: weights must be numeric, got dtype {w.dtype}")
        w = w.astype(dtype, copy=False)
        mask = optional_entry(masks, name)
        if mask is not None:
            check_mask(w, mask, layer=name)
        groups = layer.groups if isinstance(layer, Conv2d) else 1
        fmt = (
            _check_format(formats[name], name)
            if name in formats
            else choose_format(mask, groups=groups, layer=name)
        )
        quant = None
        if bits and name in bits:
            # Masking first keeps a pruned weight out of its channel's scale and its code at 0.
            masked = w if mask is None else np.where(mask, w, w.dtype.type(0))
            w, quant = prepare_quantized(masked, bits[name], quantizers.get(name), dtype)
        if fmt == "dense":
            enc = np.ascontiguousarray(w if mask is None else np.where(mask, w, 0))
        else:
            enc = encode(w, np.ones(w.shape, dtype=bool) if mask is None else mask, fmt, layer=name)
        bias = optional_entry(weights, f"{name}.bias")
        out_features = layer.weight_shape[0]
        if bias is not None:
            bias = np.asarray(bias)
            if bias.shape != (out_features,):
                raise ValueError(f"layer {name!r}: bias shape {bias.shape} does not match ({out_features},)")
            bias = bias.astype(dtype)
        prepared[name] = (enc, fmt, bias, quant)
    return prepared


def _compute_dtype(inputs) -> np.dtype:
    arrays = list(inputs.values()) if isinstance(inputs, Mapping) else [inputs]
    dtypes = {np.asarray(a).dtype for a in arrays}
    return np.dtype(np.float32) if dtypes == {np.dtype(np.float32)} else np.dtype(np.float64)


def _feed(name: str, shape: tuple[int, ...], array, dtype) -> tuple[np.ndarray, bool]:
    """(B, *shape) view of one source's input, and whether the caller passed a batch.

    In order: exactly ``shape`` -> one sample; ``(B, *shape)`` -> a batch; ``prod(shape)``
    elements -> one sample; ``(B, ...)`` with ``prod(shape)`` elements per row -> a batch.
    """
    a = np.asarray(array, dtype=dtype)
    size = math.prod(shape)
    if a.shape == shape:
        return a.reshape(1, *shape), False
    if a.ndim >= 1 and a.shape[1:] == shape:
        return a, True
    if a.size == size:
        return a.reshape(1, *shape), False
    if a.ndim >= 2 and math.prod(a.shape[1:]) == size:
        return a.reshape(a.shape[0], *shape), True
    raise ValueError(f"layer {name!r}: input shape {a.shape} fits neither {shape} nor (batch, *{shape})")


# ----------------------------------------------------------------------------- driver


def execute(
    network,
    weights,
    masks=None,
    inputs=None,
    *,
    formats=None,
    return_all: bool = False,
    bits: Bits | None = None,
    ranges: ActivationRanges | None = None,
):
    """Run ``network`` forward on ``inputs`` with ``weights`` pruned by ``masks``.

    Returns the output of the network's sink layer (a dict ``name -> array`` when it has several),
    or with ``return_all=True`` a dict of every layer's output in topological order.  See the
    module docstring for shapes, dtypes, formats and how operands are wired.  ``bits`` (conv /
    linear layer name -> ``LayerBits``) run those layers quantized (:mod:`accelsim.sparse.quantized`),
    with input ranges from ``ranges`` (``Model.calibrate`` on the training split).
    """
    if inputs is None:
        raise ValueError(f"network {network.name!r}: inputs are required")
    dtype = _compute_dtype(inputs)
    weighted = {layer.name: layer for layer in network.layers() if isinstance(layer, (Conv2d, Linear))}
    checked_bits = check_bits(bits, weighted, owner=f"network {network.name!r}")
    quantizers = input_quantizers(checked_bits, ranges)
    prepared = _prepare_weights(network, weights, masks, formats, dtype, checked_bits, quantizers)

    sources = [name for name in network.layer_names if not network.predecessors(name)]
    feeds: dict[str, np.ndarray] = {}
    batched: set[bool] = set()
    for name in sources:
        layer = network[name]
        if isinstance(inputs, Mapping):
            if name not in inputs:
                raise ValueError(f"layer {name!r}: source layer missing from inputs (have {sorted(inputs)})")
            array = inputs[name]
        else:
            array = inputs
        feeds[name], is_batch = _feed(name, tuple(layer.input_shape), array, dtype)
        batched.add(is_batch)
    if len(batched) > 1 or len({f.shape[0] for f in feeds.values()}) > 1:
        raise ValueError(f"network {network.name!r}: sources disagree on the batch size")
    is_batched = batched.pop()
    batch = next(iter(feeds.values())).shape[0]

    outputs: dict[str, np.ndarray] = {}
    remaining = {name: len(network.successors(name)) for name in network.layer_names}
    sinks = [name for name in network.layer_names if not network.successors(name)]
    for layer in network.layers():
        name = layer.name
        preds = network.predecessors(name)
        if not preds:
            xs = [feeds[name]]
        else:
            xs = [outputs[p] for p in preds]
        if isinstance(layer, MatMul):
            y = run_matmul(layer, list(zip(preds, xs)))
        elif isinstance(layer, Add):
            constant = optional_entry(weights, f"{name}.operand")
            if len(xs) == 1 and constant is not None:
                xs.append(np.broadcast_to(np.asarray(constant, dtype=dtype), (batch, *layer.shape)))
            elif len(xs) == 1:  # the other operand is the network input (BERT's attention.add)
                if isinstance(inputs, Mapping):
                    if name not in inputs:
                        raise ValueError(
                            f"layer {name!r}: Add has one predecessor and inputs has no {name!r} entry"
                        )
                    other = inputs[name]
                else:
                    other = inputs
                xs.append(_feed(name, tuple(layer.shape), other, dtype)[0])
            if len(xs) != 2:
                raise ValueError(f"layer {name!r}: Add needs 2 operands, got predecessors {preds}")
            a, b = (reshape_input(x, layer.shape, name) for x in xs)
            if a.shape[0] != b.shape[0]:
                raise ValueError(f"layer {name!r}: operands have batch sizes {a.shape[0]} and {b.shape[0]}")
            y = activate(a + b, layer.activation)
        elif isinstance(layer, Concat):
            y = run_concat(layer, xs, weights, batch, dtype)
        else:
            if len(xs) != 1:
                raise ValueError(
                    f"layer {name!r}: {type(layer).__name__} takes 1 input, got predecessors {preds}"
                )
            x = xs[0]
            if isinstance(layer, Conv2d):
                y = run_conv(layer, x, prepared)
            elif isinstance(layer, Linear):
                y = run_linear(layer, x, prepared, network[preds[0]] if preds else None)
            elif isinstance(layer, Pool):
                y = run_pool(layer, x)
            elif isinstance(layer, Softmax):
                y = run_softmax(layer, x)
            elif isinstance(layer, LayerNorm):
                y = run_layernorm(layer, x, weights, dtype)
            else:  # pragma: no cover - every LAYER_TYPE is handled above
                raise ValueError(f"layer {name!r}: unsupported layer type {type(layer).__name__}")
        y = y.reshape(batch, *layer.output_shape)
        outputs[name] = y
        if not return_all:  # free activations nobody needs any more
            for p in preds:
                remaining[p] -= 1
                if remaining[p] == 0 and p not in sinks:
                    del outputs[p]

    def public(a: np.ndarray) -> np.ndarray:
        return a if is_batched else a[0]

    if return_all:
        return {name: public(outputs[name]) for name in network.layer_names}
    if len(sinks) == 1:
        return public(outputs[sinks[0]])
    return {name: public(outputs[name]) for name in sinks}
