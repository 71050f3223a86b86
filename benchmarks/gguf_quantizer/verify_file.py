"""Check a really-quantized GGUF against the dry-run accounting: file = header/KV/tensor-info + padded tensor data.

Run: .venv/bin/python benchmarks/gguf_quantizer/verify_file.py /tmp/gq/q05-q4km.gguf
Prints the data offset, the sum of tensor bytes (what run_check.py compares), alignment padding and file size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_gguf import _gguf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("gguf", type=Path)
    args = ap.parse_args()
    gguf = _gguf()
    r = gguf.GGUFReader(str(args.gguf))
    data = sum(int(t.n_bytes) for t in r.tensors)
    align = 32
    padded = sum((int(t.n_bytes) + align - 1) // align * align for t in r.tensors)
    size = args.gguf.stat().st_size
    hist: dict[str, int] = {}
    for t in r.tensors:
        hist[t.tensor_type.name] = hist.get(t.tensor_type.name, 0) + 1
    print(f"file {size:,} B = data_offset {r.data_offset:,} + padded tensor data {padded:,} "
          f"(tensor bytes {data:,}, padding {padded - data:,}); check {r.data_offset + padded == size}")  # fmt: skip
    print("types:", dict(sorted(hist.items())))


if __name__ == "__main__":
    main()
