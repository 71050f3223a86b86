"""Models larger than one node: vLLM's layer split, per-stage memory computed by hand, and the layout search.

Hand-computed figures (BF16, 2 bytes per parameter, every tensor counted from config.json):

Llama-3.1-405B (hidden 16384, intermediate 53248, 126 layers, 128 heads, 8 KV heads, head_dim 128, vocab 128256):
  one layer = q 16384^2 + k, v 16384x1024 each + o 16384^2 = 570,425,344
            + gate/up/down 3 x 16384 x 53248 = 2,617,245,696 + 2 norms x 16384       = 3,187,703,808 params
  embeddings = lm_head = 128256 x 16384 = 2,101,346,304 params; final norm 16384
  P=2 -> 63 + 63 layers; stage 0 = 63 layers + embeddings, stage 1 = 63 layers + head + norm.
  KV per token per GPU and stage = 2 x (8 KV heads / T=8) x 128 x 2 bytes x 63 layers = 32,256 bytes.

DeepSeek-V3 (hidden 7168, 61 layers of which the first 3 dense, 256 routed + 1 shared experts of 2048, MLA with
q_lora 1536, kv_lora 512, rope 64, nope 128, v 128, 128 heads, vocab 129280):
  attention = q_a 7168x1536 + q_a_norm 1536 + q_b 1536x24576 + kv_a 7168x576 + kv_a_norm 512 + kv_b 512x32768
            + o 16384x7168 = 187,107,328; 2 norms = 14,336
  dense layer = 187,121,664 + 3 x 7168 x 18432 = 583,483,392
  MoE layer   = 187,121,664 + 257 x 3 x 7168 x 2048 + router 256 x 7168 + bias 256 = 11,507,286,272
  embeddings = lm_head = 129280 x 7168 = 926,679,040 (total 671,026,419,200 params)
  P=2 -> 31 + 30 layers: stage 0 = 3 dense + 28 MoE + embeddings, stage 1 = 30 MoE + head + norm.
  KV per token per GPU and stage (MLA latent, replicated on every TP rank) = (512 + 64) x 2 bytes x layers.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmstack.catalog import gpu_by_name, instances
from llmstack.errors import InputError
from llmstack.planner import PlanRequest, load_model, plan
from llmstack.planner.engines_memory import CUDA_GRAPH_BYTES, NON_TORCH_TP_MULTI, activation_bytes
from llmstack.planner.multinode import MAX_NODES, NO_EFA
from llmstack.planner.pipeline import stage_estimates, stage_layers, stage_weight_bytes

H100 = gpu_by_name("H100")
LLAMA_LAYER = 3_187_703_808
LLAMA_EMBED = 2_101_346_304
DS_DENSE = 583_483_392
DS_MOE = 11_507_286_272
DS_EMBED = 926_679_040


@pytest.mark.parametrize(("layers", "stages", "split"), [
    (80, 3, (27, 27, 26)), (64, 3, (21, 22, 21)), (61, 4, (15, 15, 16, 15)), (62, 4, (15, 16, 16, 15)),
    (94, 4, (23, 24, 24, 23)), (126, 2, (63, 63)), (61, 2, (31, 30)), (61, 3, (20, 21, 20)), (7, 1, (7,)),
])
def test_layer_split_is_vllms(layers: int, stages: int, split: tuple[int, ...]) -> None:
    """vllm/distributed/utils.py get_pp_indices @ v0.30.0: the remainder goes to the stages counted back from the
    second-to-last."""
    assert stage_layers(layers, stages) == split


def test_llama_405b_bf16_on_two_h100_nodes() -> None:
    model = load_model("llama-3.1-405b")
    assert stage_weight_bytes(model, "bf16", 2) == (2 * (63 * LLAMA_LAYER + LLAMA_EMBED),
                                                    2 * (63 * LLAMA_LAYER + LLAMA_EMBED + 16384))
    stages, worst = stage_estimates(model, "bf16", "vllm", 8192, 8, H100, 8, 2, "auto")
    kv = 32_256 * 8192 * 8
    fixed = activation_bytes(model, H100) + NON_TORCH_TP_MULTI + CUDA_GRAPH_BYTES
    assert [(s.layers, s.weights_bytes, s.kv_cache_bytes, s.total_bytes) for s in stages] == [
        (63, 50_731_671_552, kv, 50_731_671_552 + kv + fixed),
        (63, 50_731_675_648, kv, 50_731_675_648 + kv + fixed)]
    assert worst.fits and worst.total_bytes == stages[1].total_bytes  # 54.86 GiB of 71.26 GiB usable
    # The planner, limited to H100 nodes: one p5.48xlarge can't hold 756 GiB of weights; two can.
    result = plan(PlanRequest(model="llama-3.1-405b", quant="bf16", engine="vllm", context=8192, concurrency=8,
                              gpu="H100", max_nodes=2))
    assert (result.nodes, result.pipeline_parallel, result.tensor_parallel) == (2, 2, 8)
    assert result.instance is not None and result.instance.type == "p5.48xlarge"
    assert result.hourly_usd == pytest.approx(2 * 55.04)
    assert result.total_bytes == stages[1].total_bytes
    assert "1 x p5.48xlarge" not in {r.instance for r in result.rejected}
    assert "p5.48xlarge" in {r.instance for r in result.rejected}
    assert result.to_json()["nodes"] == 2 and result.to_json()["pipeline_parallel"] == 2


def test_deepseek_v3_bf16_needs_three_h100_nodes() -> None:
    model = load_model("deepseek-v3")
    two = stage_weight_bytes(model, "bf16", 2)
    assert two == (2 * (3 * DS_DENSE + 28 * DS_MOE + DS_EMBED), 2 * (30 * DS_MOE + DS_EMBED + 7168))
    stages, worst = stage_estimates(model, "bf16", "vllm", 8192, 8, H100, 8, 2, "auto")
    assert [s.weights_bytes for s in stages] == [81_220_286_208, 86_536_318_592]  # 75.64 and 80.59 GiB per GPU
    assert [s.kv_cache_bytes for s in stages] == [576 * 2 * 31 * 8192 * 8, 576 * 2 * 30 * 8192 * 8]
    assert not worst.fits and "does not fit" in worst.reason  # 80.59 GiB of weights > 71.26 GiB usable
    # Three stages (20, 21, 20 layers): the middle one is the heaviest, 21 MoE layers.
    stages, worst = stage_estimates(model, "bf16", "vllm", 8192, 8, H100, 8, 3, "auto")
    assert [s.layers for s in stages] == [20, 21, 20]
    assert stages[1].weights_bytes == 2 * 21 * DS_MOE // 8 and worst.fits
    result = plan(PlanRequest(model="deepseek-v3", quant="bf16", engine="vllm", context=8192, concurrency=8,
                              gpu="H100", max_nodes=4))
    assert (result.nodes, result.tensor_parallel) == (3, 8)
    assert any(r.instance == "2 x p5.48xlarge" and "worst stage" in r.reason for r in result.rejected)


def test_the_cheapest_fitting_node_pair_wins_without_a_gpu_pin() -> None:
    """DeepSeek-V3 BF16 fits on no single node; two H200 nodes (p5en) are the cheapest pair that fits, and the node
    pool may offer every EFA type where both stages fit."""
    result = plan(PlanRequest(model="deepseek-v3", quant="bf16", engine="vllm", context=8192, concurrency=8,
                              max_nodes=MAX_NODES))
    assert result.nodes == 2 and result.instance is not None and result.instance.type == "p5en.48xlarge"
    assert all(instances()[a.type].efa and a.gpus == 8 for a in result.alternatives)
    assert result.alternatives[0].type == "p5en.48xlarge"


def test_nodes_without_efa_are_refused_for_multi_node() -> None:
    result = plan(PlanRequest(model="llama-3.1-405b", quant="bf16", engine="vllm", context=8192, max_nodes=2,
                              gpu="L4"))
    assert not result.fits
    no_efa = {r.instance for r in result.rejected if r.reason == NO_EFA}
    assert "2 x g6.xlarge" in no_efa and "2 x g6.48xlarge" not in no_efa


def test_one_node_is_the_default() -> None:
    result = plan(PlanRequest(model="deepseek-v3", quant="bf16", engine="vllm", context=8192))
    assert not result.fits and result.nodes == 1
    assert any("allow 2 nodes per replica with max_nodes" in s for s in result.suggestions)


def test_max_nodes_bounds() -> None:
    with pytest.raises(InputError, match="max_nodes"):
        plan(PlanRequest(model="llama-3.1-8b", max_nodes=MAX_NODES + 1))


def test_a_model_that_fits_one_node_stays_on_one() -> None:
    result = plan(PlanRequest(model="llama-3.1-70b", quant="bf16", engine="vllm", context=8192, max_nodes=4))
    assert result.fits and result.nodes == 1 and result.stages == []


# -- properties -----------------------------------------------------------------------------------------------------

BIG = ["llama-3.1-405b", "deepseek-v3", "llama-3.1-70b", "qwen3-32b", "mixtral-8x7b"]


@settings(max_examples=40, deadline=None)
@given(model=st.sampled_from(BIG), quant=st.sampled_from(["bf16", "fp8", "awq"]), tp=st.sampled_from([4, 8]),
       nodes=st.integers(1, MAX_NODES - 1), context=st.sampled_from([2048, 8192, 32768]),
       concurrency=st.integers(1, 16))
def test_more_nodes_never_raise_per_gpu_memory(model: str, quant: str, tp: int, nodes: int, context: int,
                                               concurrency: int) -> None:
    arch = load_model(model)
    _, fewer = stage_estimates(arch, quant, "vllm", context, concurrency, H100, tp, nodes, "auto")
    _, more = stage_estimates(arch, quant, "vllm", context, concurrency, H100, tp, nodes + 1, "auto")
    assert more.total_bytes <= fewer.total_bytes


def fits_on(instance_type: str, nodes: int, **request: object) -> bool:
    """Whether the request fits this instance type with up to `nodes` nodes (a format the GPU can't run: no)."""
    try:
        return plan(PlanRequest(instance_type=instance_type, max_nodes=nodes, **request)).fits  # type: ignore[arg-type]
    except InputError:
        return False


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(["llama-3.1-405b", "deepseek-v3"]), quant=st.sampled_from(["bf16", "fp8"]),
       context=st.sampled_from([4096, 16384]), concurrency=st.integers(1, 8),
       gpu=st.sampled_from([None, "H100", "A100-80GB", "L40S"]))
def test_no_cheaper_layout_with_as_few_nodes_fits(model: str, quant: str, context: int, concurrency: int,
                                                  gpu: str | None) -> None:
    """Fewest nodes first, then cheapest: no instance type (of the pinned GPU) fits with fewer nodes, and none with
    the same count is cheaper."""
    request = {"model": model, "quant": quant, "engine": "vllm", "context": context, "concurrency": concurrency}
    try:
        result = plan(PlanRequest(max_nodes=MAX_NODES, gpu=gpu, **request))  # type: ignore[arg-type]
    except InputError:  # the pinned GPU can't run the format (FP8 on an A100)
        return
    if not result.fits:
        return
    assert result.instance is not None and result.instance.hourly_usd is not None
    for inst in instances().values():
        if not inst.selectable or inst.hourly_usd is None or gpu not in (None, inst.gpu):
            continue
        if result.nodes > 1:
            assert not fits_on(inst.type, result.nodes - 1, **request), f"{inst.type} fits on fewer nodes"
        if inst.hourly_usd < result.instance.hourly_usd:  # the same node count, cheaper nodes
            assert not fits_on(inst.type, result.nodes, **request), f"{result.nodes} x {inst.type} is cheaper"
