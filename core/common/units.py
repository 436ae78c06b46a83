"""Byte units and how the pack prints them: binary multiples (a "MB" in a Loadout config or report is 2**20 bytes)."""
from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


def mb_to_bytes(mb: float) -> int:
    """``cache_max_mb``-style settings (MiB, fractions allowed) as whole bytes; negative counts as 0."""
    return max(0, int(float(mb) * MIB))


def format_bytes(n: float) -> str:
    """``512 B``, ``12.5 KiB``, ``1.2 MiB``, ``3.00 GiB``: the largest unit below the value, 3 significant digits."""
    sign, n = ("-" if n < 0 else ""), abs(n)
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= size:
            value = n / size
            return f"{sign}{value:.{2 if value < 10 else 1 if value < 100 else 0}f} {unit}"
    return f"{sign}{int(n)} B"
