"""The rule pages (`rules/<CODE>.md`), in a checkout or in an installed wheel.

The pages live in the repository's top-level `rules/` folder; the wheel carries them as
`bnlint/_rule_pages/`. A rule without a page still gets one, made from its catalogue entry,
so `bnlint rule` and the SARIF help text never come up empty.
"""

from __future__ import annotations

import re
from pathlib import Path

from bnlint.rules import RULES, RULES_BY_NAME, Rule

_PACKAGE_DIR = Path(__file__).resolve().parent

# Where the rule pages are published: `Rules` in pyproject.toml's [project.urls] (a test keeps
# the two equal). A page's address is this plus `CODE.md`.
RULES_URL = "https://github.com/bnlint/bnlint/blob/main/rules/"


def url(rule: Rule) -> str:
    """The address of the rule's page (SARIF `helpUri`, the JSON `url`)."""
    return f"{RULES_URL}{rule.code}.md"


def pages_dir() -> Path | None:
    """The folder holding the pages: the wheel's copy first, then the checkout's (which an
    editable install also uses)."""
    for candidate in (_PACKAGE_DIR / "_rule_pages", _PACKAGE_DIR.parent / "rules"):
        if candidate.is_dir():
            return candidate
    return None


def find_rule(code_or_name: str) -> Rule | None:
    """A rule by code (any case) or by kebab-case name."""
    return RULES.get(code_or_name.upper()) or RULES_BY_NAME.get(code_or_name.lower())


def page(rule: Rule) -> str:
    """The rule's Markdown page, or one built from the catalogue when there is none."""
    folder = pages_dir()
    if folder is not None:
        path = folder / f"{rule.code}.md"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return fallback_page(rule)


def has_page(rule: Rule) -> bool:
    folder = pages_dir()
    return folder is not None and (folder / f"{rule.code}.md").is_file()


def fallback_page(rule: Rule) -> str:
    return (
        f"# {rule.code}: {rule.name}\n\n"
        f"Severity: {rule.severity.value}\n\n"
        f"## What it does\n\n{rule.summary}\n\n"
        f"## How to fix it\n\n{rule.fix}\n"
    )


def section(markdown: str, heading: str) -> str | None:
    """The text under `## heading` (case-insensitive), up to the next heading of that level."""
    pattern = re.compile(
        rf"^##\s+{re.escape(heading)}\s*\??\s*$(?P<body>.*?)(?=^##\s|\Z)",
        re.IGNORECASE | re.MULTILINE | re.DOTALL,
    )
    match = pattern.search(markdown)
    if match is None:
        return None
    body = match.group("body").strip()
    return body or None


def description(rule: Rule) -> str:
    """The page's "What it does" section as one paragraph, or the catalogue summary."""
    text = section(page(rule), "What it does") if has_page(rule) else None
    if not text:
        return rule.summary
    first = text.split("\n\n", 1)[0]
    return " ".join(first.split())
