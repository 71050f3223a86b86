"""Container image references: the grammar, what counts as pinned, and the tags that move.

One home for these facts: the spec refuses unpinned images, the policy pack (`images-pinned`,
`litellm-version-safe`) reports them, both with this list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Tags that move, so a deploy would not be reproducible (docs/engines.md §7.10): Docker's default, the branch tags
# of vLLM/LiteLLM images (LiteLLM publishes main-latest, main-stable and main-dev), and the floating channels.
MOVING_TAGS = ("latest", "main", "main-latest", "main-stable", "main-dev", "stable", "nightly")

# [registry[:port]/]path[:tag][@sha256:digest], the reference grammar of github.com/distribution/reference.
_REFERENCE = re.compile(
    r"^(?:[\w.-]+(?::\d+)?/)?[a-z0-9._/-]+(?::(?P<tag>[\w][\w.-]{0,127}))?(?P<digest>@sha256:[0-9a-f]{64})?$"
)


@dataclass(frozen=True)
class ImageRef:
    repo: str  # registry/path without tag or digest
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return self.repo.rsplit("/", 1)[-1]

    @property
    def moves(self) -> bool:
        """No digest, and no tag or a tag that moves."""
        return self.digest is None and (self.tag is None or self.tag in MOVING_TAGS)


def parse_image(ref: str) -> ImageRef:
    """`ghcr.io/org/img:tag@sha256:..` -> repo, tag, digest (a registry port is not a tag)."""
    rest, _, digest = ref.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return ImageRef(rest[:colon], rest[colon + 1:] or None, digest or None)
    return ImageRef(rest, None, digest or None)


def check_pinned(ref: str) -> str:
    """`ref` if it is a valid reference pinned by a release tag or a digest; else ValueError with the fix."""
    match = _REFERENCE.match(ref)
    if not match or not (match["tag"] or match["digest"]):
        raise ValueError("pin the image by release tag or digest, e.g. vllm/vllm-openai:v0.30.0 or "
                         "repo@sha256:<64 hex>")
    if match["tag"] in MOVING_TAGS and not match["digest"]:
        raise ValueError(f"':{match['tag']}' moves; pin a release tag or add @sha256:<digest>")
    return ref


def same_repo(a: str, b: str) -> bool:
    """Whether two repositories are the same image, ignoring Docker Hub's implicit prefixes."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/"):
        a, b = a.removeprefix(prefix), b.removeprefix(prefix)
    return a == b
