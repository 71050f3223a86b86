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
# Tags that move without being on that list: a release line rather than a release. `cpu-1.9`, `1.9`, `hopper-1.9`
# follow every 1.9.x patch (TEI publishes `cpu-1.9` and `cpu-1.9.3`), `server-cuda` or `rocm` every build. A tag
# counts as a release when one of its `-`/`_` parts is a full X.Y.Z version (`v0.5.10.post1`, `4.2.3`), a build
# number (llama.cpp `b11206`) or a date (`20260501`).
_RELEASE_PART = re.compile(r"^v?\d+\.\d+\.\d+|^b\d{3,}$|^\d{6,}$")
_LINE_PART = re.compile(r"^v?\d+(?:\.\d+)?$")

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
        """No digest, and no tag or a tag that moves (`MOVING_TAGS`, or a release line: `floating_tag`)."""
        if self.digest is not None:
            return False
        return self.tag is None or self.tag in MOVING_TAGS or floating_tag(self.tag) is not None


def floating_tag(tag: str) -> str | None:
    """Why `tag` moves though it is not on `MOVING_TAGS` (it names a release line or a channel), or None."""
    parts = re.split(r"[-_]", tag)
    if any(_RELEASE_PART.match(part) for part in parts):
        return None
    if line := [part for part in parts if _LINE_PART.match(part)]:
        return f"names only the {line[-1].lstrip('v')} line, which moves with every patch release"
    if not any(c.isdigit() for c in tag):
        return "names a channel, not a release"
    return None


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
    if match["tag"] and not match["digest"] and (why := floating_tag(match["tag"])):
        raise ValueError(f"':{match['tag']}' {why}; pin the full release (e.g. cpu-1.9.3, not cpu-1.9) or add "
                         "@sha256:<digest>")
    return ref


def same_repo(a: str, b: str) -> bool:
    """Whether two repositories are the same image, ignoring Docker Hub's implicit prefixes."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/"):
        a, b = a.removeprefix(prefix), b.removeprefix(prefix)
    return a == b
