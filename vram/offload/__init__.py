"""The VRAM offloader: config, planner, prefetch, transport, host arena, quantize, ladder, wrapped layers."""
