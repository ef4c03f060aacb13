"""One registry of every component, fed by the plugin hooks; loader and listings share it."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .errors import DuplicateComponentError, HarnessError, MissingDependencyError, UnknownComponentError

KINDS = ("task", "retriever", "critic", "generator", "prompt_style", "preset")
KIND_PLURALS = {
    "tasks": "task",
    "retrievers": "retriever",
    "critics": "critic",
    "generators": "generator",
    "prompt-styles": "prompt_style",
    "prompt_styles": "prompt_style",
    "presets": "preset",
}
LIST_NAMES = {kind: plural for plural, kind in KIND_PLURALS.items() if "_" not in plural}

# Which optional extra provides a missing top-level module.
EXTRA_FOR_MODULE = {
    "torch": "models",
    "torchvision": "models",
    "transformers": "models",
    "open_clip": "models",
    "faiss": "models",
    "timm": "models",
    "spacy": "models",
    "tensorflow": "evqa",
    "tensorflow_text": "evqa",
    "tensorflow_hub": "evqa",
    "vllm": "vllm",
    "openai": "api",
    "pyarrow": "data",
    "datasets": "data",
    "bm25s": "retrieval",
    "sentence_transformers": "retrieval",
}


@dataclass
class Entry:
    """A registered component: where it comes from and how to build it."""

    kind: str
    name: str
    factory: Any  # callable, "module:attr" string, or (presets) a dict
    aliases: tuple[str, ...] = ()
    description: str = ""
    plugin: str = ""
    distribution: str | None = None
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        """The factory, importing it if it was registered by name."""
        if not isinstance(self.factory, str):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            top = (exc.name or "").split(".")[0]
            if top in EXTRA_FOR_MODULE:
                raise MissingDependencyError(
                    f"{self.kind} '{self.name}' needs the Python package '{top}': "
                    f"pip install 'reag-harness[{EXTRA_FOR_MODULE[top]}]'"
                ) from exc
            raise HarnessError(
                f"{self.kind} '{self.name}' from plugin {self.origin()} failed to import: {exc}"
            ) from exc
        try:
            return getattr(module, attr) if attr else module
        except AttributeError as exc:
            raise HarnessError(f"{self.kind} '{self.name}' from plugin {self.origin()}: {exc}") from exc

    def origin(self) -> str:
        dist = f", distribution {self.distribution} {self.version or ''}".rstrip() if self.distribution else ""
        return f"'{self.plugin}'{dist}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "aliases": list(self.aliases),
            "description": self.description,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
        }


class Registry:
    """Components by kind and name (aliases resolve to the same entry)."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self._aliases: dict[str, dict[str, str]] = {k: {} for k in KINDS}
        self._ambiguous: dict[str, dict[str, str]] = {k: {} for k in KINDS}

    def add(self, entry: Entry) -> None:
        if entry.kind not in KINDS:
            raise HarnessError(f"plugin {entry.origin()} registered unknown kind '{entry.kind}'")
        for key in (entry.name, *entry.aliases):
            other = self._lookup(entry.kind, key)
            if other is not None:
                raise DuplicateComponentError(
                    f"{entry.kind} '{key}' is registered twice: "
                    f"by plugin {other.origin()} and by plugin {entry.origin()}"
                )
        self._entries[entry.kind][entry.name] = entry
        for alias in entry.aliases:
            self._aliases[entry.kind][alias] = entry.name

    def mark_ambiguous(self, entry: Entry, message: str) -> None:
        """Names of ``entry`` that another plugin already registered: using them fails with ``message``."""
        for key in (entry.name, *entry.aliases):
            if self._lookup(entry.kind, key) is not None:
                self._ambiguous[entry.kind][key] = message

    def _lookup(self, kind: str, name: str) -> Entry | None:
        name = self._aliases[kind].get(name, name)
        return self._entries[kind].get(name)

    def __contains__(self, item: tuple[str, str]) -> bool:
        return self._lookup(*item) is not None

    def get(self, kind: str, name: str) -> Entry:
        if name in self._ambiguous[kind]:
            raise DuplicateComponentError(f"{self._ambiguous[kind][name]}: block one of them with "
                                          f"REAG_HARNESS_BLOCK_PLUGINS=<plugin> to use '{name}'")
        entry = self._lookup(kind, name)
        if entry is None:
            known = sorted([*self._entries[kind], *self._aliases[kind]])
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownComponentError(
                f"unknown {kind.replace('_', ' ')} '{name}'{hint} (see: reag-eval ls {LIST_NAMES[kind]})"
            )
        return entry

    def entries(self, kind: str | None = None) -> Iterator[Entry]:
        kinds = [kind] if kind else list(KINDS)
        for k in kinds:
            yield from sorted(self._entries[k].values(), key=lambda e: e.name)

    def create(self, kind: str, name: str, runtime: Any, args: dict[str, Any]) -> Any:
        """Build a component: ``factory(runtime, **args)``; records its registered name."""
        entry = self.get(kind, name)
        factory: Callable[..., Any] = entry.load()
        try:
            component = factory(runtime, **args)
        except TypeError as exc:
            raise HarnessError(f"{kind} '{entry.name}': bad arguments {sorted(args)}: {exc}") from exc
        if not getattr(component, "name", None):
            component.name = entry.name
        return component
