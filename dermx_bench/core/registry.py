"""A tiny name -> object registry, in the style of timm's ``list_models``/``create_model``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from dermx_bench.core.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named, ordered collection of pluggable parts (fusion rules, CAM methods, metrics)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        self.register(name)(obj)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise RegistryError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
