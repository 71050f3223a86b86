"""Snapshot the NIM_* environment variables of the NIM LLM container (model-free NIM), from its public docs.

NIM has no public parser or source: the names below are the ones NVIDIA's NIM LLM 2.x documentation lists (the
generated API indexes, which list every variable of `nim_llm.utils.envs` and the documented built-ins, and the
environment-variables reference), each with the page it was read from. The indexes were read for 2.0.1, 2.0.4-pb6
and 2.0.10 and are cut off after NIM_SSL_MODE in the stored copies, so the list is `complete: false`: a NIM_* name not
in it is reported as undocumented, not as certainly wrong. NIM_PASSTHROUGH_ARGS is parsed "as CLI-style arguments"
for the active backend (the docs' advanced-configuration page); for the vLLM model-free image that is vLLM's parser,
so the checker reads it with the vLLM snapshot.

    python nim_env.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _snapshot  # sibling module: these files run as scripts

DOCS = "https://docs.nvidia.com/nim/large-language-models"
INDEX_201 = f"{DOCS}/2.0.1/genindex.html"
INDEX_204 = f"{DOCS}/2.0.4-pb6/genindex.html"
INDEX_210 = f"{DOCS}/2.0.10/genindex.html"
ENV_PAGE = f"{DOCS}/reference/environment-variables.md"  # "This page is for version 2.1.6 (Latest)"
ADVANCED = f"{DOCS}/latest/reference/advanced-configuration.html"

# name -> where it is documented (first page found)
DOCUMENTED: dict[str, str] = {
    **{name: INDEX_201 for name in (
        "NIM_CACHE_PATH", "NIM_CORS_ALLOW_HEADERS", "NIM_CORS_ALLOW_METHODS", "NIM_CORS_ALLOW_ORIGINS",
        "NIM_CORS_EXPOSE_HEADERS", "NIM_CORS_MAX_AGE", "NIM_DISABLE_CUDA_GRAPH", "NIM_DISABLE_MODEL_DOWNLOAD",
        "NIM_HEALTH_PORT", "NIM_JSONL_LOGGING", "NIM_LOG_LEVEL", "NIM_MAX_MODEL_LEN", "NIM_MODEL_PATH",
        "NIM_MODEL_PROFILE", "NIM_NUM_COMPUTE_NODES", "NIM_PASSTHROUGH_ARGS", "NIM_PEFT_API_TIMEOUT_SECS",
        "NIM_PEFT_REFRESH_INTERVAL", "NIM_PEFT_SOURCE", "NIM_PIPELINE_PARALLEL_SIZE", "NIM_REPOSITORY_OVERRIDE",
        "NIM_SERVED_MODEL_NAME", "NIM_SERVER_PORT", "NIM_SSL_CA_CERTS_PATH", "NIM_SSL_CERTS_PATH", "NIM_SSL_KEY_PATH",
        "NIM_SSL_MODE")},
    **{name: INDEX_204 for name in ("NIM_CACHE_PROBE_TIMEOUT", "NIM_SAGEMAKER_MODE")},
    **{name: INDEX_210 for name in ("NIM_CAPTURE_ARGS", "NIM_CAPTURE_ENABLE", "NIM_DRAFT_MODEL_PATH",
                                    "NIM_MIDDLEWARE_CONFIG_PATH", "NIM_NGINX_DIR")},
    "NIM_SPECDEC_ARGS": ENV_PAGE,
}
# Non-NIM_ variables the same indexes document for the container (credentials, telemetry opt-out).
OTHER = {"HF_TOKEN": INDEX_201, "NGC_API_KEY": INDEX_201, "NGC_CLI_API_KEY": INDEX_201,
         "MODELSCOPE_API_TOKEN": INDEX_201, "DO_NOT_TRACK": INDEX_204}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=_snapshot.OUT_DIR)
    args = ap.parse_args()
    image, tag = _snapshot.engines_yaml_image("nim")
    snapshot = {
        "engine": "nim",
        "upstream_version": tag,
        "image": f"{image}:{tag}",
        "image_tag": tag,
        "source": f"NVIDIA NIM LLM docs: {INDEX_201}, {INDEX_204}, {INDEX_210}, {ENV_PAGE}, {ADVANCED}",
        "command": _snapshot.invocation(),
        "generated": _snapshot.today(),
        "parser": {"style": "nim", "program": ["nim-serve"], "allow_abbrev": True, "underscore_to_dash": True,
                   "dotted_json_args": True, "equals_form": True, "launcher_prefixes": [["nim-serve"]],
                   "argv_engine": "vllm", "passthrough_env": "NIM_PASSTHROUGH_ARGS"},
        "positionals": [],
        "env": {"prefixes": ["NIM_"], "names": sorted(set(DOCUMENTED) | set(OTHER)), "complete": False,
                "documented_at": dict(sorted({**DOCUMENTED, **OTHER}.items())),
                "source": "NIM LLM 2.x docs (generated indexes + environment-variables reference)"},
        "notes": [
            "Arguments after the image (or NIM_PASSTHROUGH_ARGS) go to the backend's own parser: vLLM's for the "
            "vLLM model-free image. Which vLLM release NIM 2.1.6 bundles is not documented here; the checker uses "
            "the vllm snapshot.",
            "Backend version: the NIM VLM 2.1.0 release notes say the vLLM model-free NIM 'uses the vLLM 0.24.0 "
            "backend' (https://docs.nvidia.com/nim/vision-language-models/2.1.0/release-notes.html); the 2.1.x "
            "support matrices name the images nvcr.io/nim/nvidia/vllm-model-free-nim and sglang-model-free-nim.",
            "The env list is partial (see the generator's docstring): unknown NIM_* names are reported as "
            "'not documented', not as errors NIM is known to raise.",
        ],
        "options": [],
    }
    _snapshot.write("nim", snapshot, args.out_dir)


if __name__ == "__main__":
    main()
