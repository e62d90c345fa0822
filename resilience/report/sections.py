"""Optional report sections beyond the experiments, such as capacity.

A section is plain data (paragraphs, a facts table, chart PNGs); the HTML template renders and escapes
it. ``extra_sections`` asks each provider in ``SECTION_PROVIDERS`` in turn; a provider returns None when
its input is not in the run folder, so a run without ``capacity.json`` simply has no capacity section.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SECTION_PROVIDERS", "Section", "SectionProvider", "extra_sections", "sections_markdown"]


@dataclass(frozen=True)
class Section:
    """A report section: anchor id, title, paragraphs, (label, value) facts and chart PNG paths."""

    id: str
    title: str
    text: tuple[str, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()
    charts: tuple[Path, ...] = ()


SectionProvider = Callable[[Path, Path], "Section | None"]
"""``provider(run_dir, charts_dir) -> Section | None``; it may write PNGs into ``charts_dir``."""

SECTION_PROVIDERS: tuple[str, ...] = ("resilience.report.capacity:capacity_section",)
"""Providers as ``module:function``, imported lazily; add one line here to add a section."""


def _load(spec: str) -> SectionProvider:
    module, _, name = spec.partition(":")
    provider: SectionProvider = getattr(importlib.import_module(module), name)
    return provider


def extra_sections(run_dir: Path, charts_dir: Path) -> list[Section]:
    """The sections every provider has for this run folder, in provider order."""
    sections = []
    for spec in SECTION_PROVIDERS:
        section = _load(spec)(run_dir, charts_dir)
        if section is not None:
            sections.append(section)
    return sections


def sections_markdown(sections: list[Section]) -> str:
    """The sections as Markdown for summary.md: a heading and the facts table each (charts stay in the HTML)."""
    out: list[str] = []
    for section in sections:
        out += ["", f"### {section.title}", ""]
        if section.facts:
            out += ["| | |", "|---|---|"]
            out += [f"| {label} | {value.replace('|', '/')} |" for label, value in section.facts]
    return "\n".join(out) + "\n" if out else ""
