"""Prompts for `llmstack bench`: synthetic ones of a given token length, or read from a file."""

from __future__ import annotations

import json
import random
from pathlib import Path

from llmstack.errors import InputError

# Short, common English words: each is one token in the GPT-2/Llama/Qwen BPE vocabularies (with its leading
# space), so N words is ~N prompt tokens. Close enough for load shape; the server's `usage` has the truth.
_TEXT = (
    "the of and to in is was for on are with as at be by this from or have an they which one you were her all "
    "she there would their we him been has when who will more no if out so said what up its about into than "
    "them can only other new some could time these two may then do first any my now such like our over man "
    "me even most made after also did many before must through back years where much your way well down"
)
_WORDS = _TEXT.split()


def synthetic_prompts(count: int, tokens: int, seed: int = 0) -> list[str]:
    """`count` distinct prompts of about `tokens` tokens; a unique leading number defeats prefix caching."""
    if tokens < 1:
        raise InputError("--prompt-tokens", tokens, "Use at least 1 token.")
    rng = random.Random(seed)
    prompts = []
    for i in range(count):
        body = " ".join(rng.choice(_WORDS) for _ in range(max(tokens - 1, 0)))
        prompts.append(f"{i} {body}".strip())
    return prompts


def load_prompts(path: Path) -> list[str]:
    """One prompt per line; `.jsonl` lines are objects with `prompt` or `text` (or a JSON string)."""
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError as err:
        raise InputError("--prompts", str(path), f"Cannot read it ({err.strerror}).") from err
    if not lines:
        raise InputError("--prompts", str(path), "The file has no prompts: write one per line (or JSONL).")
    if path.suffix != ".jsonl":
        return lines
    prompts = []
    for n, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"--prompts {path}:{n}", line[:60], f"Not JSON ({err.msg}).") from err
        text = item.get("prompt", item.get("text")) if isinstance(item, dict) else item
        if not isinstance(text, str) or not text:
            raise InputError(f"--prompts {path}:{n}", line[:60], 'Each JSONL line needs {"prompt": "..."}.')
        prompts.append(text)
    return prompts
