"""The model cache follows the champion alias and keeps serving through registry trouble."""

from __future__ import annotations

import pytest

from cardvalue_dagster.serving.models import ModelCache, RegistryUnavailable


class Registry:
    """A stand-in registry: the alias's version, and which versions fail to load."""

    def __init__(self) -> None:
        self.champion: str | None = "1"
        self.broken: set[str] = set()
        self.unreachable = False

    def resolve(self, uri: str, asset_class: str) -> str | None:
        if self.unreachable:
            raise ConnectionError("registry unreachable")
        return self.champion

    def load(self, uri: str, asset_class: str, version: str) -> str:
        if version in self.broken:
            raise OSError(f"version {version} has no artifact")
        return f"model v{version}"


def _cache(registry: Registry) -> ModelCache:
    return ModelCache("sqlite://", check_seconds=0.0, resolve=registry.resolve, load=registry.load)


def test_a_broken_promoted_version_keeps_the_loaded_one() -> None:
    registry = Registry()
    cache = _cache(registry)
    assert cache.get("sneakers").version == "1"

    registry.champion, registry.broken = "2", {"2"}
    assert cache.get("sneakers").version == "1"

    registry.broken = set()
    assert cache.get("sneakers").version == "2"


def test_an_unreachable_registry_keeps_the_loaded_one() -> None:
    registry = Registry()
    cache = _cache(registry)
    assert cache.get("sneakers").version == "1"

    registry.unreachable = True
    assert cache.get("sneakers").version == "1"


@pytest.mark.parametrize("trouble", ["broken", "unreachable"])
def test_trouble_before_any_model_is_loaded_says_so(trouble: str) -> None:
    registry = Registry()
    registry.broken = {"1"} if trouble == "broken" else set()
    registry.unreachable = trouble == "unreachable"

    with pytest.raises(RegistryUnavailable):
        _cache(registry).get("sneakers")
