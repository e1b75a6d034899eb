"""The DRAM channel shared by all traffic: a port held for the streaming time, then latency.

A transfer of `b` bytes holds the channel's port for `ceil(b / bandwidth)` cycles (requests
queue, so concurrent loads and write-backs contend for bandwidth), then its data needs
`latency_cycles` more to arrive. Latency is pipelined: it does not hold the port, so several
transfers can be in flight. Unbounded bandwidth (`inf`) streams in zero cycles.
"""

from __future__ import annotations

import math

import simpy

from accelsim.timing.engine.clock import now_cycles
from accelsim.timing.engine.phases import PhaseLog
from accelsim.timing.engine.power import PowerState


class DramChannel:
    def __init__(
        self, env: simpy.Environment, bandwidth_bytes_per_cycle: float, latency_cycles: int, power: PowerState
    ) -> None:
        if not bandwidth_bytes_per_cycle > 0:
            raise ValueError(
                f"dram.bandwidth_bytes_per_cycle must be positive, got {bandwidth_bytes_per_cycle!r}"
            )
        if latency_cycles < 0:
            raise ValueError(f"dram.latency_cycles must be non-negative, got {latency_cycles!r}")
        self.env = env
        self.bandwidth = bandwidth_bytes_per_cycle
        self.latency = latency_cycles
        self.power = power
        self.port = simpy.Resource(env, capacity=1)
        self.read_bytes = 0
        self.write_bytes = 0

    def idle(self) -> bool:
        """No transfer holds or waits for the port."""
        port = self.port
        return not port.count and not port.queue

    def count_bytes(self, read_bytes: int, write_bytes: int) -> None:
        """Count transfers made without events (`accelsim.timing.engine.coalesce`)."""
        self.read_bytes += read_bytes
        self.write_bytes += write_bytes

    def streaming_cycles(self, num_bytes: int) -> int:
        if math.isinf(self.bandwidth):
            return 0
        return math.ceil(num_bytes / self.bandwidth)

    def transfer(self, num_bytes: int, phases: PhaseLog, *, write: bool):
        """Process body: move `num_bytes`, logging wake-up, bandwidth and latency phases."""
        env = self.env
        if write:
            self.write_bytes += num_bytes
        else:
            self.read_bytes += num_bytes
        wake = self.power.acquire()
        if wake:
            start = now_cycles(env)
            yield env.timeout(wake)
            phases.add(start, now_cycles(env), "wake_up")
        stream = self.streaming_cycles(num_bytes)
        if stream:
            start = now_cycles(env)
            with self.port.request() as request:
                yield request
                yield env.timeout(stream)
            phases.add(start, now_cycles(env), "dram_bandwidth")
        if self.latency:
            start = now_cycles(env)
            yield env.timeout(self.latency)
            phases.add(start, now_cycles(env), "dram_latency")
        self.power.release()
