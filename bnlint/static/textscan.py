"""What a file's text says about it, without parsing it: the names it defines at the top
level and the modules it imports.

The engine uses these facts to decide which files it must parse at all: a file can change a
verdict on another file only if it imports that file's module (directly, through a package
or through a re-exporting module) and names something defined there. Reading the text is a
hundred times cheaper than parsing it, and the facts depend on the bytes alone, so they are
cached by content hash. They over-approximate: an import written in a docstring counts.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Top-level definitions and assignments, at column 0 (indented code is inside a class, a
# function or a block, and binds nothing a caller can import by name).
_DEFINITION = re.compile(r"^(?:async[ \t]+def|def|class)[ \t]+([^\W\d]\w*)", re.MULTILINE)
_ASSIGNMENT = re.compile(r"^([^\W\d]\w*)[ \t]*(?::[^=\n]*)?=(?!=)", re.MULTILINE)
_PLAIN_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#;]+)", re.MULTILINE)
_FROM_IMPORT = re.compile(
    r"^[ \t]*from[ \t]+(\.*)[ \t]*([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]+)", re.MULTILINE
)
_CONTINUATION = re.compile(r"\\\r?\n")
_DEFINES = re.compile(r"\b(?:def|class)\b")
_WORD = re.compile(r"[^\W\d]\w*")
# A file that never says `class` cannot define an nn.Module; it is parsed only if another
# file's verdicts need it, or if its functions may build the layers of a model themselves
# (`def conv_bn(i, o): return nn.Sequential(nn.Conv2d(i, o, 3), nn.BatchNorm2d(o))`): a
# BatchNorm made there is reported there.
_MAY_DEFINE_MODULE = re.compile(rb"^\s*class\s", re.MULTILINE)
_DEFINES_FUNCTION = re.compile(rb"^\s*def\s", re.MULTILINE)
_NAMES_A_NORM = re.compile(rb"(?i)norm|\bbn")


def content_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def may_build_model(data: bytes) -> bool:
    """Whether the file may define a module class, or functions that build norm layers."""
    return _MAY_DEFINE_MODULE.search(data) is not None or (
        _DEFINES_FUNCTION.search(data) is not None and _NAMES_A_NORM.search(data) is not None
    )


@dataclass(frozen=True)
class ImportFacts:
    """One import statement as written: `from ..pkg import a, b` is (2, "pkg", ("a", "b")),
    `import a.b as c` is (0, "a.b", None, alias=True), a star import has names ("*",).
    `binds`: the names the statement binds, in order (`from m import a as x, b` binds
    ("x", "b"); `import a.b` binds ("a",))."""

    level: int
    module: str
    names: tuple[str, ...] | None
    alias: bool = False
    binds: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextFacts:
    names: frozenset[str]  # defined at the top level: classes, functions, assignments
    bound: frozenset[str]  # bound by imports (what the file re-exports)
    imports: tuple[ImportFacts, ...]
    defines: bool = True  # says `def` or `class` somewhere: it may build a model


def scan_text(data: bytes) -> TextFacts:
    text = _CONTINUATION.sub(" ", data.decode("utf-8", errors="replace"))
    names = set(_DEFINITION.findall(text)) | set(_ASSIGNMENT.findall(text))
    bound: set[str] = set()
    imports: list[ImportFacts] = []
    for found in _PLAIN_IMPORT.finditer(text):
        for part in found.group(1).split(","):
            words = part.split()
            if words and _is_dotted(words[0]):
                alias = len(words) == 3 and words[1] == "as"
                binds = words[2] if alias else words[0].split(".")[0]
                imports.append(ImportFacts(0, words[0], None, alias=alias, binds=(binds,)))
                bound.add(binds)
    for found in _FROM_IMPORT.finditer(text):
        level, module, tail = len(found.group(1)), found.group(2), found.group(3)
        if tail.strip() == "*":
            imports.append(ImportFacts(level, module, ("*",)))
            continue
        imported, binds = [], []
        for part in tail.strip("() \t\r\n").split(","):
            words = part.split()
            if words and _WORD.fullmatch(words[0]):
                imported.append(words[0])
                binds.append(words[2] if len(words) == 3 and words[1] == "as" else words[0])
        bound.update(binds)
        imports.append(ImportFacts(level, module, tuple(imported), binds=tuple(binds)))
    return TextFacts(
        frozenset(names), frozenset(bound), tuple(imports), _DEFINES.search(text) is not None
    )


def identifiers(data: bytes) -> frozenset[str]:
    """Every word of the text: what it can name."""
    return frozenset(_WORD.findall(data.decode("utf-8", errors="replace")))


def attribute_names(data: bytes, bound: str) -> frozenset[str]:
    """The names read as attributes of `bound` in the text: `pkg.models.resnet50(...)` gives
    models and resnet50 for pkg. A module held as an object gives its caller only these (a
    word in a string or a comment that a module also defines is no use of it)."""
    text = data.decode("utf-8", errors="replace")
    found: set[str] = set()
    for match in re.finditer(rf"(?<![\w.]){re.escape(bound)}((?:[ \t]*\.[ \t]*[^\W\d]\w*)+)", text):
        found.update(part.strip() for part in match.group(1).split(".")[1:])
    return frozenset(found)


def attribute_reads(data: bytes) -> dict[str, frozenset[str]]:
    """attribute_names for every name of the text at once: name -> the names read as its
    attributes."""
    text = data.decode("utf-8", errors="replace")
    found: dict[str, set[str]] = {}
    for match in _ATTRIBUTE_CHAIN.finditer(text):
        parts = [part.strip() for part in match.group(2).split(".")[1:]]
        found.setdefault(match.group(1), set()).update(parts)
    return {name: frozenset(parts) for name, parts in found.items()}


# A name not itself an attribute, then one or more `.attribute`: `pkg.models.resnet50`. The
# chain is looked ahead at, not consumed, so that a name inside it that is not glued to its
# dot starts a chain of its own, as attribute_names would find it.
_ATTRIBUTE_CHAIN = re.compile(r"(?<![\w.])([^\W\d]\w*)(?=((?:[ \t]*\.[ \t]*[^\W\d]\w*)+))")


def _is_dotted(word: str) -> bool:
    return all(_WORD.fullmatch(part) for part in word.split("."))


def import_targets(
    facts: TextFacts, module_name: str, is_package: bool
) -> tuple[set[str], set[str]]:
    """The dotted names the file's imports can resolve, as (exact, subtree): an exact target
    reaches that module and the packages above it; a subtree target reaches every module
    under it too (attribute access on an imported module loads its submodules)."""
    exact: set[str] = set()
    subtree: set[str] = set()
    for item in facts.imports:
        base = absolute_module(module_name, is_package, item.module, item.level)
        if item.names is None:
            # `import a.b.c` binds `a`: code can reach anything under it by attributes.
            subtree.add(base if item.alias else base.split(".")[0])
        elif item.names == ("*",):
            subtree.add(base)
        else:
            exact.add(base)
            subtree.update(f"{base}.{name}" if base else name for name in item.names)
    exact.discard("")
    subtree.discard("")
    return exact, subtree


def absolute_module(module_name: str, is_package: bool, module: str, level: int) -> str:
    if level == 0:
        return module
    package = module_name.split(".")
    if not is_package:
        package = package[:-1]
    if level > 1:
        package = package[: max(0, len(package) - (level - 1))]
    return ".".join(part for part in [*package, module] if part)


def star_imports(facts: TextFacts, module_name: str, is_package: bool) -> set[str]:
    return {
        absolute_module(module_name, is_package, item.module, item.level)
        for item in facts.imports
        if item.names == ("*",)
    }
