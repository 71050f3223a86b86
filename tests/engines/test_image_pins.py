"""What counts as a pinned image (llmstack/images.py): a release, not a release line or a channel (issue 11 item 8).

TEI publishes `cpu-1.9` next to `cpu-1.9.3`: the first follows every 1.9.x patch, so it moves like `latest`.
"""

from __future__ import annotations

import pytest

from llmstack.engines import engines
from llmstack.images import MOVING_TAGS, check_pinned, floating_tag, parse_image
from llmstack.monitoring import dcgm_exporter
from llmstack.monitoring.exporters import prometheus


@pytest.mark.parametrize(("tag", "why"), [
    ("cpu-1.9", "names only the 1.9 line"), ("1.9", "names only the 1.9 line"), ("hopper-1.9", "1.9 line"),
    ("v0.30", "names only the 0.30 line"), ("3.3-cuda", "3.3 line"), ("server-cuda", "names a channel"),
    ("rocm", "names a channel"),
])
def test_release_lines_and_channels_move(tag: str, why: str) -> None:
    assert why in (floating_tag(tag) or "")
    assert parse_image(f"ghcr.io/org/img:{tag}").moves
    assert not parse_image(f"ghcr.io/org/img:{tag}@sha256:{'a' * 64}").moves  # a digest pins whatever the tag
    with pytest.raises(ValueError, match="pin the full release"):
        check_pinned(f"ghcr.io/org/img:{tag}")


@pytest.mark.parametrize("tag", ["cpu-1.9.3", "v0.30.0-cu129", "server-cuda-b11206", "server-b11206", "0.12.10",
                                 "v0.5.10.post1", "main-v1.108.7-stable", "4.2.3-4.1.3-ubuntu22.04", "20260501"])
def test_releases_builds_and_dates_are_pinned(tag: str) -> None:
    assert floating_tag(tag) is None
    assert not parse_image(f"ghcr.io/org/img:{tag}").moves
    assert check_pinned(f"ghcr.io/org/img:{tag}") == f"ghcr.io/org/img:{tag}"


def test_every_image_the_project_pins_is_a_release() -> None:
    tags = {f"{e.name}": e.tag for e in engines().values()} | {
        f"{e.name} cpu": e.cpu_tag for e in engines().values() if e.cpu_tag}
    tags |= {"prometheus": prometheus().tag, "dcgm-exporter": dcgm_exporter().tag}
    assert {name: tag for name, tag in tags.items() if tag in MOVING_TAGS or floating_tag(tag)} == {}


def test_tei_is_pinned_to_its_patch_release() -> None:
    tei = engines()["tei"]
    assert tei.tag == "cpu-1.9.3" and tei.digest is not None
    assert tei.image_ref(gpu=False) == f"{tei.image}:cpu-1.9.3@{tei.digest}"
