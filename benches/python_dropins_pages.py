#!/usr/bin/env python3
"""b2a_qp per byte: 16 MiB of text as one call (the piecewise path, writing
into a fresh output) against the same text as calls of at most 1 MiB (the
Vec path, whose outputs malloc reuses). The gap is what a fresh large
output costs (page faults), which no codec change removes. Release build:

    python benches/python_dropins_pages.py
"""
import os
import sys, timeit, statistics
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_dropins as b
import mimeflow.binascii as mb
for kind, words, seed in (("English", b.ENGLISH, 1), ("Cyrillic", b.CYRILLIC, 3)):
    big = b.text(words, 16 << 20, seed)
    cut = big.rindex(b"\n", 0, 1 << 20) + 1   # <= 1 MiB: the Vec path
    small = big[:cut]
    pieces = [big[i:i + cut] for i in range(0, len(big), cut)]
    t_vec = statistics.median(timeit.repeat(lambda: [mb.b2a_qp(p) for p in pieces], number=1, repeat=7))
    t_big = statistics.median(timeit.repeat(lambda: mb.b2a_qp(big), number=1, repeat=7))
    print(kind, f"16 x <=1MiB (Vec path) {len(big)/t_vec/1e9:.3f} GB/s   one 16 MiB (pieces path) {len(big)/t_big/1e9:.3f} GB/s")
