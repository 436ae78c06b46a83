"""Whether a LoRA patch's tensors can be applied to the weight it targets, from their shapes alone (no ComfyUI).

ComfyUI computes a patch only when the model is loaded for sampling; a patch whose factors do not fit its weight
(``up`` [4,768] stored as [8,384]: the same bytes, other shapes) then fails with "shapes cannot be multiplied",
is logged and left out, while the LoRA was reported applied. ``shape_problem`` makes the same products on shapes
first, so the Apply node can refuse (or skip and list) those keys before it adds any patch.

A patch is described by its kind and the shapes of its tensors (``None`` for an absent one):

- ``lora``: ``up``, ``down``, optional ``mid`` (LoCon), optional ``reshape`` (the target shape ComfyUI pads to):
  the delta is ``up.flatten(1) @ down'.flatten(1)`` reshaped to the weight;
- ``loha``: ``w1a @ w1b`` times ``w2a @ w2b`` elementwise (Tucker ``t1``/``t2`` factors are not checked);
- ``lokr``: ``kron(w1, w2)`` with ``w1 = w1a @ w1b`` / ``w2 = w2a @ w2b`` when given as factors;
- ``diff`` / ``set``: a full tensor of the weight's shape.

Any other kind (OFT, BOFT, GLoRA, ...) is not checked (``None``).
"""
from __future__ import annotations

import math


def _numel(shape) -> int:
    return math.prod(shape) if shape is not None else 0


def _mm(a, b, what: str) -> tuple[tuple | None, str | None]:
    """The shape of ``a.flatten(1) @ b.flatten(1)``, or the reason it cannot be made."""
    inner = _numel(a[1:])
    if inner != b[0]:
        return None, f"{what}: {list(a)} × {list(b)} cannot be multiplied"
    return (a[0], _numel(b[1:])), None


def _fits(product_numel: int, target, what: str) -> str | None:
    if product_numel != _numel(target):
        return f"{what} has {product_numel} values, the weight {list(target)} has {_numel(target)}"
    return None


def shape_problem(kind: str, shapes: dict, target) -> str | None:
    """Why a patch of ``kind`` with tensor ``shapes`` cannot be applied to a weight of shape ``target``, or None."""
    target = tuple(target)
    if kind == "lora":
        up, down, mid = shapes.get("up"), shapes.get("down"), shapes.get("mid")
        if up is None or down is None or len(up) < 2 or len(down) < 2:
            return "up/down are not matrices"
        reshape = shapes.get("reshape")
        goal = tuple(reshape) if reshape else target
        if mid is not None:
            if len(mid) != 4 or mid[0] != down[0] or mid[1] != down[0]:
                return f"mid {list(mid)} does not fit down {list(down)}"
            down = (down[0], down[1], mid[2], mid[3])
        product, problem = _mm(up, down, "up × down")
        if problem:
            return problem
        if up[0] != goal[0]:
            return f"up {list(up)} has {up[0]} outputs, the weight {list(goal)} has {goal[0]}"
        return _fits(_numel(product), goal, f"up {list(up)} × down {list(down)}")
    if kind == "loha":
        if shapes.get("t1") is not None or shapes.get("t2") is not None:
            return None
        w1, problem = _mm(shapes["w1a"], shapes["w1b"], "w1a × w1b")
        if problem:
            return problem
        w2, problem = _mm(shapes["w2a"], shapes["w2b"], "w2a × w2b")
        if problem:
            return problem
        if w1 != w2:
            return f"w1a × w1b is {list(w1)}, w2a × w2b is {list(w2)}: they must be equal"
        return _fits(_numel(w1), target, f"the LoHa product {list(w1)}")
    if kind == "lokr":
        numels = []
        for n in ("1", "2"):
            whole, a, b = shapes.get(f"w{n}"), shapes.get(f"w{n}a"), shapes.get(f"w{n}b")
            if whole is not None:
                numels.append(_numel(whole))
            elif n == "2" and shapes.get("t2") is not None:
                return None
            elif a is not None and b is not None:
                product, problem = _mm(a, b, f"w{n}a × w{n}b")
                if problem:
                    return problem
                numels.append(_numel(product))
            else:
                return f"w{n} is missing"
        return _fits(numels[0] * numels[1], target, "the LoKr product")
    if kind in ("diff", "set"):
        tensor = shapes.get("tensor")
        if tensor is not None and tuple(tensor) != target:
            return f"{kind} tensor {list(tensor)} is not the weight's shape {list(target)}"
        return None
    return None


def narrowed(shape, offset) -> tuple:
    """The shape of ``weight.narrow(dim, start, length)`` for a patch key with an ``offset`` (dim, start, length)."""
    shape = list(shape)
    if offset is not None:
        shape[offset[0]] = offset[2]
    return tuple(shape)
