"""The measured points of the llama.cpp GPU sweep (shared by sweep.py on the GPU machine and compare.py here).

Per model: contexts 4k to the model's trained context (max_position_embeddings), 1 and 4 slots, flash
attention as `llmstack/launch.py` leaves it (no `-fa`, i.e. the server default `auto`), f16 KV. Extra points,
for the record: flash attention forced off, a q8_0 KV cache (launch.py adds `-ctk q8_0 -ctv q8_0 -fa on`), a
request that fills most of one slot, and Gemma-2 past its 8k trained context (sliding-window cache sizing).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# model -> (vocab_size, trained context)
MODELS: dict[str, tuple[int, int]] = {
    "qwen2.5-0.5b": (151936, 32768),
    "mistral-7b-v0.3": (32768, 32768),
    "llama-3.1-8b": (128256, 131072),
    "gemma-2-9b": (256000, 8192),
    "qwen3-30b-a3b": (151936, 40960),
}
CONTEXTS = (4096, 16384, 32768, 65536, 131072)


@dataclass(frozen=True)
class Point:
    model: str
    context: int  # per slot; the server gets -c context*slots
    slots: int
    fa: str = "default"  # default (no -fa: auto) | on | off
    kv: str = "f16"  # f16 | q8_0 (q8_0 adds -ctk q8_0 -ctv q8_0 -fa on)
    fill: bool = False  # also send a request filling most of one slot
    extra: str = ""  # why the point is not a plain launch.py point ("" = it is one)

    @property
    def vocab(self) -> int:
        return MODELS[self.model][0]

    @property
    def key(self) -> str:
        k = f"{self.model}_c{self.context}_np{self.slots}"
        if self.fa != "default":
            k += f"_fa{self.fa}"
        if self.kv != "f16":
            k += f"_kv{self.kv}"
        return k

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "key": self.key}


def _main_points() -> list[Point]:
    pts: list[Point] = []
    for model, (_, trained) in MODELS.items():
        ctxs = [c for c in CONTEXTS if c <= trained]
        if trained not in ctxs and trained < max(CONTEXTS):
            ctxs.append(trained)
        for c in ctxs:
            for n in (1, 4):
                fill = n == 1 and (
                    (model == "llama-3.1-8b" and c in (32768, 131072))
                    or (model == "qwen3-30b-a3b" and c == 40960)
                    or (model == "gemma-2-9b" and c == 8192)
                )
                pts.append(Point(model, c, n, fill=fill))
    return pts


EXTRA: list[Point] = [
    Point("llama-3.1-8b", 4096, 1, fa="off", extra="flash attention off"),
    Point("llama-3.1-8b", 32768, 1, fa="off", extra="flash attention off"),
    Point("llama-3.1-8b", 32768, 1, kv="q8_0", fill=True, extra="q8_0 KV"),
    Point("llama-3.1-8b", 131072, 1, kv="q8_0", fill=True, extra="q8_0 KV"),
    Point("llama-3.1-8b", 32768, 1, fa="on", extra="flash attention forced on (-fa on)"),
    Point("llama-3.1-8b", 32768, 1, kv="q4_0", extra="q4_0 KV"),
    Point("mistral-7b-v0.3", 32768, 4, kv="q8_0", extra="q8_0 KV"),
    Point("gemma-2-9b", 8192, 1, fa="off", extra="flash attention off"),
    Point("gemma-2-9b", 32768, 1, extra="past the trained context"),
    Point("gemma-2-9b", 32768, 4, extra="past the trained context"),
]


def _ordered() -> list[Point]:
    allp = _main_points() + EXTRA
    order = list(MODELS)
    return sorted(allp, key=lambda p: order.index(p.model))  # stable: one model's points together


POINTS: list[Point] = _ordered()
