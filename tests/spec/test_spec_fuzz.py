"""Mutation fuzz of the stack spec: any edit of a shipped stack file's structure ends in a plan or a clear input error.

Hypothesis mutates the shipped stacks' config (replace any value by another of any type, drop a key, add one) and
runs parse -> plan. A result that is neither a plan nor an `LlmstackError` (which the CLI prints as one line naming
the field, the value and the fix) is a traceback for the user, and fails the test. `LLMSTACK_FUZZ_EXAMPLES` raises
the number of cases (CI runs the default; 20,000 were run once, see the closing note of issue 10).
"""

from __future__ import annotations

import copy
import os
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmstack.errors import LlmstackError
from llmstack.spec import parse_spec, resolve_local_gpus, stack_config
from llmstack.stackplan import plan_stack
from tests.conftest import STACKS, stack_file

EXAMPLES = int(os.environ.get("LLMSTACK_FUZZ_EXAMPLES", "300"))
SHIPPED = {name: stack_config(stack_file(name)) for name in STACKS}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.text(min_size=200, max_size=400),  # long names were tried as file paths once
    st.sampled_from(["auto", "vllm", "ollama", "Q4_K_M", "fp8", "awq", "g5.xlarge", "0.0.0.0/0", "latest",
                     "llama-3.1-405b", "org/name", "../../etc/passwd", "x" * 300]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                                             inner, max_size=3),
                      max_leaves=6)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    config = copy.deepcopy(SHIPPED[draw(st.sampled_from(STACKS))])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(config)[1:]))
        parent: Any = config
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(values)
        else:
            parent.append(draw(values))
        if not _paths(config)[1:]:
            break
    return config


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
@example({**SHIPPED["prod"], "backends": [{**SHIPPED["prod"]["backends"][0], "model": "m" * 300}]})
@example({**SHIPPED["dev"], "backends": [{**SHIPPED["dev"]["backends"][0], "model": "a/" + "b" * 300}]})
def test_any_edit_plans_or_says_what_is_wrong(config: dict[str, Any]) -> None:
    try:
        plan_stack(resolve_local_gpus(parse_spec(config, "fuzz"), has_gpu=False))
    except LlmstackError as err:
        assert str(err).strip() and len(str(err)) < 4000
