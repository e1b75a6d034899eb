"""``Concat``: the layer that joins tensors (imported networks' ``torch.cat`` / ONNX ``Concat``)."""

from __future__ import annotations

from dataclasses import dataclass

from workloads.layer_checks import NoGemm, check_name, check_positive


@dataclass(frozen=True, slots=True)
class Concat(NoGemm):
    """Joins its operands along ``axis`` of the per-sample shapes: data moves, nothing is computed.

    ``input_shapes`` are in operand order; the operands are the layer's predecessors in insertion
    order, except where the network holds a constant operand (see ``accelsim.sparse.execute``).
    """

    name: str
    input_shapes: tuple[tuple[int, ...], ...]
    axis: int

    def __post_init__(self) -> None:
        check_name(self.name)
        shapes = self.input_shapes
        if not isinstance(shapes, (tuple, list)) or len(shapes) < 2:
            raise ValueError(f"layer {self.name!r}: input_shapes must hold at least 2 shapes, got {shapes!r}")
        rank = len(shapes[0]) if isinstance(shapes[0], (tuple, list)) else 0
        if isinstance(self.axis, bool) or not isinstance(self.axis, int) or not 0 <= self.axis < max(rank, 1):
            raise ValueError(f"layer {self.name!r}: axis must be an int in [0, {rank}), got {self.axis!r}")
        normalised = []
        for shape in shapes:
            if not isinstance(shape, (tuple, list)) or len(shape) != rank:
                raise ValueError(
                    f"layer {self.name!r}: input_shapes must all have rank {rank}, got {shapes!r}"
                )
            for v in shape:
                check_positive(self.name, "input_shapes", v)
            if any(a != b for i, (a, b) in enumerate(zip(shape, shapes[0])) if i != self.axis):
                raise ValueError(
                    f"layer {self.name!r}: input_shapes {shapes!r} differ outside axis {self.axis}"
                )
            normalised.append(tuple(shape))
        object.__setattr__(self, "input_shapes", tuple(normalised))

    @property
    def output_shape(self) -> tuple[int, ...]:
        out = list(self.input_shapes[0])
        out[self.axis] = sum(shape[self.axis] for shape in self.input_shapes)
        return tuple(out)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Every operand element is read once, so the words read equal the output's."""
        return self.output_shape

    @property
    def ops(self) -> int:
        return 0


__all__ = ["Concat"]
