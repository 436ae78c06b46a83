"""Seam-free tiled VAE decode/encode and its memory budget."""
