"""DMA processes: one loader per input operand, and the write-back of outputs.

Loaders walk the fold stream in order. For each fold a loader takes a free half of its buffer,
wakes the buffer if it sleeps, and moves the fold's bytes over the shared DRAM channel; then the
fold is resident. The filter loader runs ahead across layer boundaries (the next layer's weights
prefetch into a free half). The ifmap loader does not: a layer's inputs are read only once every
earlier layer's outputs are written back (layers are in topological order, so this covers every
predecessor, residual branches included). The write-back drains computed folds through the same
channel and frees their ofmap half.
"""

from __future__ import annotations

from accelsim.timing.engine.buffers import DoubleBuffer
from accelsim.timing.engine.dram import DramChannel
from accelsim.timing.engine.phases import PhaseLog
from accelsim.timing.engine.trace import Activity


class _DmaProcess:
    """What a loader and the write-back share: their fold cursor, buffer, the DRAM channel, the
    layers' written events and the optional activity log."""

    name: str

    def __init__(
        self,
        env,
        folds,
        buffer: DoubleBuffer,
        dram: DramChannel,
        layers_written: list,
        layer_names,
        activities: list | None,
    ):
        self.env = env
        self.folds = folds
        self.buffer = buffer
        self.dram = dram
        self.layers_written = layers_written
        self.layer_names = layer_names
        self.activities = activities
        self.phases = PhaseLog()

    def _record(self, fold, start) -> None:
        if self.activities is not None:
            self.activities.append(
                Activity(self.name, self.layer_names[fold.layer], fold.index, start, self.env.now)
            )

    def skip(self, folds: int) -> None:
        """Folds moved without events (`accelsim.timing.engine.coalesce`)."""
        self.folds.skip(folds)


class Loader(_DmaProcess):
    def __init__(
        self,
        env,
        operand: str,
        folds,
        buffer: DoubleBuffer,
        dram: DramChannel,
        layers_written: list,
        layer_names,
        activities: list | None,
    ):
        super().__init__(env, folds, buffer, dram, layers_written, layer_names, activities)
        # `folds` is a FoldCursor: the fold is taken once a half is free.
        self.waiting_for_half = False
        self.operand = operand
        self.name = f"load_{operand}"
        self.process = env.process(self._run(folds))

    def _run(self, folds):
        env, buffer, operand, phases = self.env, self.buffer, self.operand, self.phases
        waits_for_inputs = operand == "ifmap"
        while folds:
            self.waiting_for_half = True
            yield buffer.halves.get(1)
            self.waiting_for_half = False
            fold = folds.next()
            if waits_for_inputs and fold.first and fold.layer > 0:
                inputs_written = self.layers_written[fold.layer - 1]
                if not inputs_written.triggered:
                    start = env.now
                    yield inputs_written
                    phases.add(start, env.now, "dependency")
            start = env.now
            wake = buffer.take_half(fold.working_set_bytes[operand])
            if wake:
                yield env.timeout(wake)
                phases.add(start, env.now, "wake_up")
            num_bytes = fold.read_bytes[operand]
            if num_bytes:
                yield from self.dram.transfer(num_bytes, phases, write=False)
            self._record(fold, start)
            buffer.resident.put(fold)

    def waits_for(self, g: int) -> bool:
        """Blocked on a free half for fold `g`, every fold before it loaded."""
        return self.waiting_for_half and self.folds.position == g


class WriteBack(_DmaProcess):
    name = "write_back"

    def __init__(
        self,
        env,
        folds,
        buffer: DoubleBuffer,
        dram: DramChannel,
        layers_written: list,
        layer_names,
        activities: list | None,
    ):
        super().__init__(env, folds, buffer, dram, layers_written, layer_names, activities)
        # `folds` is a FoldCursor, used only to count the folds left.
        self.waiting_for_fold = False
        self.process = env.process(self._run(folds))

    def _run(self, folds):
        env, buffer = self.env, self.buffer
        while folds:
            folds.skip(1)
            self.waiting_for_fold = True
            fold = yield buffer.resident.get()
            self.waiting_for_fold = False
            start = env.now
            if fold.write_bytes:
                yield from self.dram.transfer(fold.write_bytes, self.phases, write=True)
            self._record(fold, start)
            buffer.free_half(fold.working_set_bytes["ofmap"])
            if fold.last:
                self.layers_written[fold.layer].succeed()

    def waits_for(self, g: int) -> bool:
        """Blocked on fold `g`'s outputs, every fold before it written back."""
        return self.waiting_for_fold and self.folds.position == g + 1
