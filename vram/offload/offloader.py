"""The offloader: one model's wrapped layers, placed by a strategy, streamed with prefetch, with an OOM ladder.

Plain torch, no ComfyUI import. ``Offloader`` owns, for each wrapped layer, the CPU master copy of its weights (in
a ``HostArena``: a few large blocks, pinned when CUDA is used), its ``Placement`` under the current strategy and,
when resident, its device copy. ``run_step`` runs one forward of the model under the ladder; ``run_layer`` is
what each wrapper calls. ``wrap_model`` applies all of this to any ``torch.nn.Module`` without modifying it.

Master source: ``master_source(name, layer) -> {"weight": ..., "bias": ...}`` gives the unpatched weights to copy
(default: the layer's own parameters), read when the master copy is made, on the first placement.

Weight hooks: ``weight_hook(name, key, tensor) -> tensor`` is applied to each weight on the compute device after
its transfer (the master copy never changes), returning a new tensor; ``hook_token()`` returns a value that
changes when the hook's result would (resident copies are re-made then). The ComfyUI adapter uses this to apply
LoRA patches to offloaded layers.

Example::

    model = wrap_model(unet, OffloadConfig(strategy="offload", budget_gb=3, prefetch=2), device="cuda")
    out = model(x, t, context=c)             # same maths; VRAM as planned
    model.offloader.report()
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import traceback
from typing import Callable

import torch

from .arena import HostArena, nbytes
from .config import OffloadConfig, Placement, Strategy
from .planner import BudgetTooSmall, DeviceSpeed, LayerCost, OffloadPlan, plan_offload
from .prefetch import PrefetchScheduler, layout_parts
from .quantize import QuantizedWeight, dequantize, quantize_fp8, quantize_nf4
from .ladder import MEMORY, Attempt, LadderMemory, available_rungs, describe_path, is_oom, rungs_from
from .transport import SyncTransport, measure_speed, transport_for
from .layers import LayerOp, find_layers, structural_copy, unwrapped_bytes, wrapper_class

logger = logging.getLogger(__name__)
MIB = 1024 * 1024


class StrategyUnavailable(RuntimeError):
    pass


@dataclasses.dataclass
class Layer:
    index: int
    name: str
    inner: torch.nn.Module
    op: LayerOp
    kind: str
    master: dict[str, torch.Tensor]
    quantizable: bool
    placement: Placement | None = None
    resident: dict | None = None  # key -> device Tensor or QuantizedWeight
    resident_token: object = None
    flops: float = 0.0  # per forward, measured on the last profiled forward


def _bytes_of(value) -> int:
    return value.nbytes if isinstance(value, QuantizedWeight) else nbytes(value)


def fingerprint(layers: list[tuple[str, torch.nn.Module, LayerOp, str]], extra: str = "") -> str:
    """A stable key for 'this model' in the ladder memory: layer names, shapes and dtypes."""
    h = hashlib.blake2b(digest_size=12)
    for name, module, _op, _kind in layers:
        for key, p in module.named_parameters(recurse=False):
            h.update(f"{name}.{key}:{tuple(p.shape)}:{p.dtype};".encode())
    h.update(extra.encode())
    return h.hexdigest()


class Offloader:
    def __init__(self, layers: list[tuple[str, torch.nn.Module, LayerOp, str]], config: OffloadConfig,
                 device: torch.device | str, offload_device: torch.device | str = "cpu",
                 weight_hook: Callable[[str, str, torch.Tensor], torch.Tensor] | None = None,
                 hook_token: Callable[[], object] | None = None, other_resident_bytes: int = 0,
                 speed: DeviceSpeed | None = None, memory: LadderMemory = MEMORY, model_key: str | None = None,
                 label: str = "model", reserve_bytes: int = 0,
                 master_source: Callable[[str, torch.nn.Module], dict[str, torch.Tensor]] | None = None,
                 is_patched: Callable[[str], bool] | None = None, transport: SyncTransport | None = None):
        if not isinstance(config, OffloadConfig):
            raise TypeError(f"config must be an OffloadConfig, got {type(config).__name__}")
        if not layers:
            raise ValueError("no layer to offload: the model has no Linear/Conv layer with plain float weights")
        self.config = config
        self.device = torch.device(device)
        self.offload_device = torch.device(offload_device)
        self.weight_hook = weight_hook
        self.hook_token = hook_token or (lambda: None)
        self.master_source = master_source
        self.is_patched = is_patched
        self.other_resident_bytes = int(other_resident_bytes)
        self.reserve_bytes = int(reserve_bytes)
        self.speed = speed or DeviceSpeed()
        self._speed_known = speed is not None
        self.memory = memory
        self.model_key = model_key or fingerprint(layers, extra=repr(config))
        self.label = label
        self.transport: SyncTransport = transport or transport_for(self.device, self.offload_device)
        self.pin = config.pin_memory if config.pin_memory is not None else self.transport.asynchronous
        self.layers: list[Layer] = []
        for i, (name, module, op, kind) in enumerate(layers):
            params = {k: p for k, p in module.named_parameters(recurse=False)}
            w = params["weight"]
            quantizable = (w.ndim >= 2 and w.numel() >= config.min_quant_numel
                           and not config.keeps_high_precision(name))
            self.layers.append(Layer(i, name, module, op, kind, params, quantizable))
        self.arena: HostArena | None = None
        self.fp8_arena: HostArena | None = None
        self._fp8_host: dict[int, QuantizedWeight] = {}
        self.strategy: Strategy | None = None
        self._plan_token = None
        self.plan: OffloadPlan | None = None
        self.scheduler: PrefetchScheduler | None = None
        self.path: list[Attempt] = []
        self.exec_order: list[int] = []
        self._exec_new: list[int] = []
        self._exec_seen: set[int] = set()
        self.forwards = 0
        self._profiling = False
        self._replan_pending = False
        self._warned_device = False
        self.on_path: Callable[[list[Attempt]], None] | None = None
        self.remember = True  # use and update the ladder memory (off: always start at the configured strategy)
        rungs, skipped = available_rungs(cuda=self.device.type == "cuda")
        self.available, self.skipped = rungs, skipped
        self.rungs = list(rungs)  # the ladder after a failure ([] : no ladder, the error stops the run)

    # --- master copy ------------------------------------------------------------------------------------------
    def master(self, index: int) -> dict[str, torch.Tensor]:
        return self.layers[index].master

    def _ensure_masters(self) -> None:
        if self.arena is not None:
            return
        tensors, keys = [], []
        for layer in self.layers:
            if self.master_source is not None:
                layer.master = dict(self.master_source(layer.name, layer.inner))
            else:
                layer.master = {k: p for k, p in layer.inner.named_parameters(recurse=False)}
            for key, t in layer.master.items():
                tensors.append(t.detach())
                keys.append((layer.index, key))
        self.arena = HostArena.build(tensors, chunk_bytes=self.config.chunk_mb * MIB, pin=self.pin)
        for (index, key), view in zip(keys, self.arena.views):
            self.layers[index].master[key] = view
        logger.info("[Loadout] offload %s: CPU master copy of %d layers, %.0f MB in %d blocks%s", self.label,
                    len(self.layers), self.arena.used_bytes / MIB, len(self.arena.chunks),
                    " (pinned)" if self.arena.pinned else "")

    def _fp8_sources(self) -> None:
        """FP8 copies of the streamable weights on the host, for stream_precision "fp8" (made once)."""
        if self.fp8_arena is not None:
            return
        qws, tensors = {}, []
        for layer in self.layers:
            if layer.quantizable:
                qw = quantize_fp8(layer.master["weight"], self.config.fp8_dtype, self.config.fp8_scale == "channel")
                qws[layer.index] = qw
                tensors += [qw.tensors["q"], qw.tensors["scale"]]
        self.fp8_arena = HostArena.build(tensors, chunk_bytes=self.config.chunk_mb * MIB, pin=self.pin)
        views = iter(self.fp8_arena.views)
        for index, qw in qws.items():
            qw.tensors = {"q": next(views), "scale": next(views)}
        self._fp8_host = qws

    # --- placement --------------------------------------------------------------------------------------------
    def _placement(self, layer: Layer, strategy: Strategy, resident: bool) -> Placement:
        model_dtype = layer.master["weight"].dtype
        onload = model_dtype
        offload = model_dtype
        if layer.quantizable:
            if strategy == Strategy.FP8:
                onload = self.config.fp8_dtype
            elif strategy == Strategy.NF4:
                onload = "nf4"
            elif not resident and self._streams_fp8(layer):
                onload = offload = self.config.fp8_dtype
        return Placement(self.offload_device, offload, self.device, onload, self.config.compute_dtype, resident)

    def _stream_tensors(self, layer: Layer) -> dict[str, torch.Tensor]:
        if isinstance(layer.placement.offload_dtype, torch.dtype) and layer.placement.offload_dtype in (
                torch.float8_e4m3fn, torch.float8_e5m2):
            qw = self._fp8_host[layer.index]
            out = {"weight.q": qw.tensors["q"], "weight.scale": qw.tensors["scale"]}
        else:
            out = {"weight": layer.master["weight"]}
        if "bias" in layer.master:
            out["bias"] = layer.master["bias"]
        return out

    def _streams_fp8(self, layer: Layer) -> bool:
        """Whether the layer, when streamed, travels as FP8 (stream_precision "fp8"; never the kept layers)."""
        return layer.quantizable and self.config.stream_precision == "fp8"

    def _stream_bytes(self, layer: Layer) -> int:
        """Slot bytes the layer needs when streamed (the layout ``_stream_tensors`` will have; computed from
        shapes, so it holds before the FP8 copies exist)."""
        w = layer.master["weight"]
        if self._streams_fp8(layer):
            rows = w.shape[0] if self.config.fp8_scale == "channel" else 1
            parts = {"weight.q": torch.empty(w.numel(), dtype=torch.uint8, device="meta"),
                     "weight.scale": torch.empty(rows, dtype=torch.float32, device="meta")}
        else:
            parts = {"weight": w}
        if "bias" in layer.master:
            parts["bias"] = layer.master["bias"]
        return layout_parts(parts)[1]

    def _resident_bytes(self, layer: Layer, strategy: Strategy) -> int:
        w = layer.master["weight"]
        if layer.quantizable and strategy == Strategy.FP8:
            size = w.numel() + 4 * (w.shape[0] if self.config.fp8_scale == "channel" else 1)
        elif layer.quantizable and strategy == Strategy.NF4:
            size = w.numel() // 2 + 4 * (w.numel() // 64 + 1)
        else:
            size = nbytes(w)
        return size + (nbytes(layer.master["bias"]) if "bias" in layer.master else 0)

    def _transient_bytes(self, layer: Layer, streamed: bool, strategy: Strategy) -> int:
        """Device bytes a layer builds while it runs: a patched float32 pair under a weight hook, plus the
        compute-dtype weight when it is stored in another form."""
        w = layer.master["weight"]
        extra = 0
        hooked = self.weight_hook is not None and (self.is_patched is None or self.is_patched(layer.name))
        patched = hooked and (streamed or strategy in (Strategy.FP8, Strategy.NF4))
        if patched:
            extra += 2 * 4 * w.numel()
        stored_other = (layer.quantizable and strategy in (Strategy.FP8, Strategy.NF4)) or \
            (streamed and self._streams_fp8(layer))
        if stored_other or self.config.compute_dtype not in (None, w.dtype):
            extra += 4 * w.numel()  # compute dtype at most float32
        return extra

    def costs(self, strategy: Strategy) -> list[LayerCost]:
        positions = self._positions()
        return [LayerCost(layer.index, layer.name, self._resident_bytes(layer, strategy),
                          self._stream_bytes(layer), self._transient_bytes(layer, True, strategy),
                          layer.flops, positions.get(layer.index, layer.index)) for layer in self.layers]

    def _positions(self) -> dict[int, int]:
        """Each layer's place in the execution order (learned on the first forward; registration order before)."""
        pos = {idx: i for i, idx in enumerate(self.exec_order)}
        nxt = len(pos)
        for layer in self.layers:
            if layer.index not in pos:
                pos[layer.index] = nxt
                nxt += 1
        return pos

    def device_estimate(self, strategy: Strategy) -> int:
        """Bytes this strategy would put on the device (for ``auto`` and for ComfyUI's memory accounting)."""
        strategy = Strategy(strategy)
        if strategy in (Strategy.FP16_FULL, Strategy.FP8, Strategy.NF4):
            return (sum(self._resident_bytes(layer, strategy) for layer in self.layers) + self.other_resident_bytes
                    + max(self._transient_bytes(layer, False, strategy) for layer in self.layers))
        if strategy == Strategy.SEQUENTIAL:
            return (self.other_resident_bytes + max(self._stream_bytes(layer) for layer in self.layers)
                    + max(self._transient_bytes(layer, True, strategy) for layer in self.layers))
        budget = self._budget_for_offload()
        if budget is None:
            return self.device_estimate(Strategy.FP16_FULL)
        return min(budget, self.device_estimate(Strategy.FP16_FULL))

    def _budget_for_offload(self) -> int | None:
        if self.config.budget_bytes:
            return self.config.budget_bytes
        free = self.transport.free_bytes()
        if free is None:
            return None
        return max(0, free - self.reserve_bytes)

    def apply_strategy(self, strategy: Strategy) -> None:
        """Place every layer for ``strategy`` (device copies and staging slots are made here)."""
        strategy = Strategy(strategy)
        if strategy.value in self.skipped and strategy == Strategy.NF4:
            raise StrategyUnavailable(self.skipped[strategy.value])
        self.release_device()
        self._ensure_masters()
        if strategy == Strategy.OFFLOAD and self.transport.asynchronous and not self._speed_known:
            self._speed_known = True
            try:
                measured = measure_speed(self.device, pinned=self.pin)
                self.speed = dataclasses.replace(self.speed, h2d_bytes_per_s=measured.h2d_bytes_per_s,
                                                 flops_per_s=measured.flops_per_s)
                logger.info("[Loadout] offload %s: measured %.1f GB/s host to device, %.0f TFLOP/s", self.label,
                            measured.h2d_bytes_per_s / 1e9, measured.flops_per_s / 1e12)
            except Exception as e:  # noqa: BLE001 - the defaults still give a valid plan
                logger.warning("[Loadout] offload %s: could not measure the device (%s); using defaults",
                               self.label, e)
        if strategy == Strategy.OFFLOAD:
            self.plan = plan_offload(self.costs(strategy), self._budget_for_offload(), self.config.prefetch,
                                     self.other_resident_bytes, self.speed)
            depth = self.config.prefetch
        elif strategy == Strategy.SEQUENTIAL:
            self.plan = plan_offload(self.costs(strategy), None, 0, self.other_resident_bytes, self.speed,
                                     resident_none=True)
            depth = 0
        else:
            self.plan = None
            depth = 0
        resident = {layer.index for layer in self.layers} if self.plan is None else set(self.plan.resident)
        if self.config.stream_precision == "fp8" and len(resident) < len(self.layers):
            self._fp8_sources()
        token = self.hook_token()
        for layer in self.layers:
            layer.placement = self._placement(layer, strategy, layer.index in resident)
            if layer.index in resident:
                self._make_resident(layer, token)
        sources = {layer.index: layout_parts(self._stream_tensors(layer))[0]
                   for layer in self.layers if layer.index not in resident}
        slot_bytes = max((self._stream_bytes(self.layers[i]) for i in sources), default=0)
        order = [i for i in self.exec_order if i in sources] if self.exec_order else None
        self.scheduler = PrefetchScheduler(self.transport, depth, slot_bytes, sources, order=order)
        self.strategy = strategy
        self._plan_token = token
        logger.info("[Loadout] offload %s: %s", self.label, self.summary())

    def _make_resident(self, layer: Layer, token) -> None:
        quant = layer.placement.onload_dtype if layer.placement.quantized else None
        out = {}
        for key, t in layer.master.items():
            d = self.transport.to_device(t)
            d = self._hooked(layer, key, d)
            if key == "weight" and quant is not None:
                if quant == "nf4":
                    qw = quantize_nf4(d)
                else:
                    qw = quantize_fp8(d, quant, self.config.fp8_scale == "channel")
                for t in qw.tensors.values():
                    self.transport.adopt(t)
                out[key] = qw
                del d
            else:
                out[key] = d
        layer.resident = out
        layer.resident_token = token

    def _hooked(self, layer: Layer, key: str, t: torch.Tensor) -> torch.Tensor:
        if self.weight_hook is None:
            return t
        return self.weight_hook(layer.name, key, t)

    def release_device(self) -> None:
        """Drop every device copy and staging slot (the master copy stays)."""
        if self.scheduler is not None:
            self.scheduler.close()
        self.scheduler = None
        for layer in self.layers:
            layer.resident = None
        self.strategy = None
        self.transport.empty_cache()

    def refresh_hooks(self) -> None:
        """Re-make resident copies whose hook result changed (new LoRA patches); under offload, plan again (the
        transient bytes of patched layers count against the budget)."""
        token = self.hook_token()
        if self.strategy == Strategy.OFFLOAD and self._plan_token != token:
            self.apply_strategy(Strategy.OFFLOAD)
            return
        for layer in self.layers:
            if layer.resident is not None and layer.resident_token != token:
                self._make_resident(layer, token)

    # --- running ----------------------------------------------------------------------------------------------
    def _materialize(self, layer: Layer, tensors: dict, dtype: torch.dtype | None, hooked: bool,
                     device: torch.device) -> tuple:
        """(weight, bias) ready for the op: dequantised, hook applied (unless baked), in ``dtype`` on ``device``."""
        if "weight.q" in tensors:
            qw = QuantizedWeight("fp8", tuple(layer.master["weight"].shape), layer.master["weight"].dtype,
                                 {"q": tensors["weight.q"], "scale": tensors["weight.scale"]})
            weight = dequantize(qw, layer.master["weight"].dtype)
        else:
            weight = tensors["weight"]
            if isinstance(weight, QuantizedWeight):
                weight = dequantize(weight, weight.dtype)
        bias = tensors.get("bias")
        if not hooked:
            weight = self._hooked(layer, "weight", weight)
            if bias is not None:
                bias = self._hooked(layer, "bias", bias)
        weight = weight.to(device=device, dtype=dtype)
        bias = bias.to(device=device, dtype=dtype) if bias is not None else None
        return weight, bias

    def run_layer(self, index: int, x: torch.Tensor) -> torch.Tensor:
        layer = self.layers[index]
        if self.strategy is None:
            # used outside run_step (a wrapped submodule called directly): place with the configured strategy
            self.apply_strategy(self.config.strategy)
        dtype = self.config.compute_dtype or (x.dtype if x.is_floating_point() else None)
        x_in = x.to(dtype) if (self.config.compute_dtype is not None and x.dtype != dtype) else x
        if x_in.device != self.device and not self._warned_device:
            self._warned_device = True
            logger.warning("[Loadout] offload %s: input on %s but weights placed for %s; copying per call",
                           self.label, x_in.device, self.device)
        if torch.is_grad_enabled() and x.requires_grad:
            raise RuntimeError(f"[Loadout] offload {self.label}: offloaded layers are for inference (staging buffers "
                               "are reused, so autograd would see overwritten weights); run under torch.no_grad()")
        streamed = layer.resident is None
        tensors = self.scheduler.acquire(index) if streamed else layer.resident
        try:
            weight, bias = self._materialize(layer, tensors, dtype, hooked=not streamed, device=x_in.device)
            out = layer.op(layer.inner, x_in, weight, bias)
        finally:
            if streamed:
                self.scheduler.release(index)
        if self._profiling:
            layer.flops += _flops(layer, x_in, out)
            if index not in self._exec_seen:
                self._exec_seen.add(index)
                self._exec_new.append(index)
        if out.dtype != x.dtype and self.config.compute_dtype is not None and x.is_floating_point():
            out = out.to(x.dtype)
        return out

    def begin_forward(self) -> None:
        if self._replan_pending:
            self._replan_pending = False
            self._replan()
        if self.forwards == 0:
            self._profiling = True
            self._exec_new, self._exec_seen = [], set()
            for layer in self.layers:
                layer.flops = 0.0
        if self.strategy is not None:
            self.refresh_hooks()

    def end_forward(self) -> None:
        if self.scheduler is not None:
            self.scheduler.end_forward()
        self.forwards += 1
        if self._profiling:
            self._profiling = False
            if self._exec_new:
                self.exec_order = self._exec_new + [i for i in self.exec_order if i not in self._exec_seen]
            if self.strategy == Strategy.OFFLOAD:
                # at the next forward: the caller may still hold this one's tensors
                self._replan_pending = True

    def abort_forward(self) -> None:
        self._profiling = False
        if self.scheduler is not None:
            self.scheduler.abort_forward()

    def _replan(self) -> None:
        """With the first forward's FLOPs and order known, plan again; re-place only if the choice changed."""
        try:
            plan = plan_offload(self.costs(Strategy.OFFLOAD), self._budget_for_offload(), self.config.prefetch,
                                self.other_resident_bytes, self.speed)
        except BudgetTooSmall:
            return
        if self.plan is not None and plan.resident == self.plan.resident:
            self.plan = plan
            return
        logger.info("[Loadout] offload %s: re-planned with the first forward's FLOPs and order", self.label)
        self.apply_strategy(Strategy.OFFLOAD)

    def auto_strategy(self) -> Strategy:
        """The first rung whose estimate fits the device's free memory (less the activation reserve)."""
        free = self.transport.free_bytes()
        if free is None:
            return Strategy.FP16_FULL
        for rung in self.available:
            if rung in (Strategy.OFFLOAD, Strategy.SEQUENTIAL):
                return rung
            if self.device_estimate(rung) + self.reserve_bytes <= free:
                return rung
        return Strategy.SEQUENTIAL

    def run_step(self, fn: Callable[[], object], shape_key: tuple | None = None, auto: bool = False):
        """Run one forward ``fn()`` under the ladder: start at the strategy remembered for this model and input
        shape (else the configured one, or the first that fits when ``auto``); on an out-of-memory error drop
        every device copy, step down and run ``fn`` again."""
        remember = shape_key is not None and self.remember
        start = self.memory.get(self.model_key, shape_key) if remember else None
        if start is None:
            start = self.strategy or (self.auto_strategy() if auto else self.config.strategy)
        candidates = rungs_from(start, self.rungs)
        fresh_path = []
        for strategy in candidates:
            try:
                if self.strategy != strategy:
                    self.apply_strategy(strategy)
                self.begin_forward()
                out = fn()
                self.end_forward()
            except (StrategyUnavailable, BudgetTooSmall) as e:
                self.abort_forward()
                kind = "unavailable" if isinstance(e, StrategyUnavailable) else "budget too small"
                fresh_path.append(Attempt(strategy, f"{kind}: {e}"))
                continue
            except BaseException as e:  # noqa: BLE001 - re-raised unless it is an out-of-memory error
                self.abort_forward()
                if not is_oom(e):
                    raise
                fresh_path.append(Attempt(strategy, f"out of memory ({(str(e).splitlines() or [''])[0][:120]})"))
                # the traceback's frames hold the tensors allocated before the failure: let them go now, or
                # the next rung finds the memory still taken
                traceback.clear_frames(e.__traceback__)
                del e
                self.release_device()
                logger.warning("[Loadout] offload %s: %s ran out of memory; trying the next strategy",
                               self.label, strategy.value)
                continue
            if fresh_path or not self.path or self.path[-1].strategy != strategy:
                fresh_path.append(Attempt(strategy, "ok"))
                self.path = fresh_path
                if self.on_path is not None:
                    self.on_path(self.path)
            if remember:
                self.memory.put(self.model_key, shape_key, strategy)
            return out
        self.path = fresh_path
        if self.on_path is not None:
            self.on_path(self.path)
        raise MemoryError(f"[Loadout] offload {self.label}: every strategy failed: {describe_path(fresh_path)}")

    # --- reporting --------------------------------------------------------------------------------------------
    def device_bytes(self) -> int:
        resident = sum(sum(_bytes_of(v) for v in layer.resident.values())
                       for layer in self.layers if layer.resident is not None)
        staging = self.scheduler.device_bytes if self.scheduler is not None else 0
        return resident + staging

    def summary(self) -> str:
        if self.strategy is None:
            return "not placed"
        n_res = sum(1 for layer in self.layers if layer.resident is not None)
        text = (f"{self.strategy.value}: {n_res} of {len(self.layers)} layers resident, "
                f"{self.device_bytes() / MIB:,.1f} MB on {self.device}")
        if self.plan is not None and self.plan.streamed:
            text += (f"; {len(self.plan.streamed)} streamed ({self.plan.streamed_bytes / MIB:,.1f} MB per forward, "
                     f"{self.plan.slots} slots of {self.plan.slot_bytes / MIB:,.2f} MB, prefetch "
                     f"{self.scheduler.depth if self.scheduler else 0})")
            if self.plan.budget_bytes is not None:
                text += (f"; budget {self.plan.budget_bytes / MIB:,.1f} MB, planned "
                         f"{self.plan.device_bytes / MIB:,.1f} MB")
        return text

    def report(self) -> dict:
        stats = dataclasses.asdict(self.scheduler.stats) if self.scheduler is not None else {}
        return {
            "label": self.label,
            "strategy": self.strategy.value if self.strategy else None,
            "path": describe_path(self.path),
            "layers": len(self.layers),
            "resident_layers": sum(1 for layer in self.layers if layer.resident is not None),
            "device_bytes": self.device_bytes(),
            "master_bytes": self.arena.used_bytes if self.arena else 0,
            "master_reserved_bytes": self.arena.reserved_bytes if self.arena else 0,
            "master_blocks": len(self.arena.chunks) if self.arena else 0,
            "master_pinned": bool(self.arena and self.arena.pinned),
            "forwards": self.forwards,
            "prefetch": stats,
            "bytes_copied": self.transport.bytes_copied,
            "skipped": dict(self.skipped),
            "summary": self.summary(),
        }


def _flops(layer: Layer, x: torch.Tensor, out: torch.Tensor) -> float:
    w = layer.master["weight"]
    if layer.kind == "linear":
        return 2.0 * out.numel() * w.shape[1]
    if layer.kind == "conv":
        return 2.0 * out.numel() * (w.numel() // w.shape[0])
    return 2.0 * out.numel() * max(1, w.numel() // max(1, w.shape[0]))


class OffloadedModel(torch.nn.Module):
    """``wrap_model``'s result: calls the wrapped copy of the model under the offloader's ladder."""

    def __init__(self, root: torch.nn.Module, offloader: Offloader, auto: bool):
        super().__init__()
        object.__setattr__(self, "root", root)
        object.__setattr__(self, "offloader", offloader)
        object.__setattr__(self, "auto", auto)

    def forward(self, *args, **kwargs):
        first = next((a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)), None)
        shape = tuple(first.shape) if first is not None else None
        with torch.no_grad():  # inference only: see Offloader.run_layer
            return self.offloader.run_step(lambda: self.root(*args, **kwargs), shape, auto=self.auto)


def wrap_model(model: torch.nn.Module, config: OffloadConfig, device: torch.device | str,
               auto: bool = False, **offloader_kwargs) -> OffloadedModel:
    """Offload any module: its Linear/Conv layers (and declared ones) are wrapped in a structural copy of
    ``model`` (which itself is never modified); the other parameters must already be on ``device``."""
    found = find_layers(model)
    other = unwrapped_bytes(model, found)
    offloader = Offloader(found, config, device, other_resident_bytes=other, **offloader_kwargs)
    replacements = {name: wrapper_class(kind)(module, i, op, offloader)
                    for i, (name, module, op, kind) in enumerate(found)}
    return OffloadedModel(structural_copy(model, replacements), offloader, auto)
