"""Reading a schedule file's YAML while remembering which line every value came from.

``yaml.safe_load`` throws line numbers away, so we compose the node tree ourselves
(SafeLoader only: no Python object tags) and read values from nodes. Every problem is
collected, never raised, so one run reports everything wrong with a file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from bot.campaigns import text_rules
from bot.campaigns.specs import Location, Problem

Node = yaml.Node
MAPPING = "a set of 'name: value' lines"

# A schedule nests a few levels deep (posts → post → text → platform); far deeper is a
# mistake or an attack, and the readers below recurse once per level.
MAX_DEPTH = 32
# Aliases ('*name') reuse a value written once. Counted as if each were written out, a
# file may hold this many values: a real schedule of 20,000 posts has ~200,000, while a
# "billion laughs" file of ten nested aliases would have a billion.
MAX_EXPANDED_VALUES = 1_000_000
MAX_ALIASES = 50_000
SHOWN_CHARS = 200
_FORBIDDEN = re.compile(text_rules.FORBIDDEN_CHARACTERS)


class Refused(Exception):
    """The document breaks a limit; ``line`` is 1-based (None: the whole file)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _parser() -> Any:
    # libyaml's scanner and parser (C, when PyYAML was built with it) feed the pure-Python
    # composer below, which counts aliases and depth as it goes: the speed of C with the
    # limits enforced before anything large is built.
    try:
        from yaml.cyaml import CParser  # type: ignore[attr-defined]
    except ImportError:  # PyYAML without libyaml
        from yaml.parser import Parser
        from yaml.reader import Reader as StreamReader
        from yaml.scanner import Scanner

        class PurePython(StreamReader, Scanner, Parser):
            def __init__(self, stream: str) -> None:
                StreamReader.__init__(self, stream)
                Scanner.__init__(self)
                Parser.__init__(self)

        return PurePython
    return CParser


_Parser: Any = _parser()


class BoundedLoader(Composer, _Parser, SafeConstructor, Resolver):
    """Composes a YAML document into nodes (plain YAML types only), refusing one nested
    deeper than MAX_DEPTH, with more than MAX_ALIASES aliases, whose aliases would expand
    to more than MAX_EXPANDED_VALUES values, or with an alias inside the value it names
    (which never ends)."""

    def __init__(self, text: str) -> None:
        _Parser.__init__(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0
        self._deepest = 0
        self._values = 0
        self._aliases = 0
        self._open: set[str] = set()
        self._size: dict[str, tuple[int, int]] = {}  # anchor → (values, levels)

    def compose_node(self, parent: Node | None, index: Any) -> Any:
        event: Any = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        anchor: str | None = event.anchor
        if isinstance(event, yaml.AliasEvent):
            if anchor in self._open:
                raise Refused(
                    line,
                    f"the alias *{anchor} is inside the value &{anchor} names, so that value "
                    "would never end; copy the value out instead",
                )
            self._aliases += 1
            values, levels = self._size.get(anchor or "", (1, 1))
            self._count(line, values, self._depth + levels)
            if self._aliases > MAX_ALIASES:
                raise Refused(
                    line, f"has more than {MAX_ALIASES:,} aliases ('*name'); write values out"
                )
            return super().compose_node(parent, index)
        before, deepest = self._values, self._deepest
        self._depth += 1
        self._deepest = self._depth
        self._count(line, 1, self._depth)
        if anchor is not None:
            self._open.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            if anchor is not None:
                self._open.discard(anchor)
        if anchor is not None:
            self._size[anchor] = (self._values - before, self._deepest - self._depth + 1)
        self._depth -= 1
        self._deepest = max(deepest, self._deepest)
        return node

    def _count(self, line: int | None, values: int, depth: int) -> None:
        self._values += values
        self._deepest = max(self._deepest, depth)
        if depth > MAX_DEPTH:
            raise Refused(
                line,
                f"is nested more than {MAX_DEPTH} levels deep; a schedule needs only a few "
                "(posts, a post, its fields)",
            )
        if self._values > MAX_EXPANDED_VALUES:
            raise Refused(
                line,
                f"its aliases ('*name') would expand to more than {MAX_EXPANDED_VALUES:,} "
                "values; write the values out, or split the file",
            )


def kind_of(node: Node) -> str:
    """How a volunteer would describe what they wrote."""
    if isinstance(node, yaml.MappingNode):
        return MAPPING
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "empty"
    return "text"


def shown(node: Node, limit: int = SHOWN_CHARS) -> str:
    """The value as written, compactly, cut at about ``limit`` characters: for
    Problem.value (a list of 20,000 posts is not repeated in full)."""
    if isinstance(node, yaml.ScalarNode):
        value = str(node.value)
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(node, yaml.SequenceNode):
        items = node.value
        opening, closing = "[", "]"
    else:
        items = node.value
        opening, closing = "{", "}"
    parts: list[str] = []
    used = 0
    for item in items:
        if used >= limit:
            parts.append("…")
            break
        if isinstance(node, yaml.SequenceNode):
            part = shown(item, limit - used)
        else:
            key, value = item
            part = f"{shown(key, limit - used)}: {shown(value, limit - used)}"
        parts.append(part)
        used += len(part) + 2
    return opening + ", ".join(parts) + closing


def closest(
    word: str, choices: Iterable[str], aliases: Mapping[str, str] | None = None
) -> str | None:
    """The choice the volunteer most likely meant by ``word``, if any is close.

    ``aliases`` maps other words people use (and their typos) to a choice: "mesage" is
    close to the alias "message", which means "text".
    """
    lowered = word.lower()
    aliases = {k.lower(): v for k, v in (aliases or {}).items()}
    if lowered in aliases:
        return aliases[lowered]
    by_lower = {choice.lower(): choice for choice in choices}
    if lowered in by_lower:
        return by_lower[lowered]
    close = difflib.get_close_matches(lowered, [*by_lower, *aliases], n=1, cutoff=0.6)
    if not close:
        return None
    return by_lower.get(close[0]) or aliases[close[0]]


def suggest(word: str, choices: Iterable[str], aliases: Mapping[str, str] | None = None) -> str:
    """ "; did you mean 'x'?" when something close exists, else ""."""
    match = closest(word, choices, aliases)
    return f"; did you mean {match!r}?" if match else ""


class Reader:
    """Problems found in one source, and helpers that read typed values from nodes."""

    def __init__(
        self, source: str, *, folder: Path | None = None, now: datetime | None = None
    ) -> None:
        self.source = source
        # When the source is read: days written as "+7d 18:00" count from its date.
        self.now = now if now is not None else datetime.now(UTC)
        # Where paths written in the source (a pledge campaign's image) start: the file's
        # own folder, or for text pasted in the console the schedules folder.
        self.folder = folder if folder is not None else Path(source).parent
        self.problems: list[Problem] = []
        # Used only for its node helpers; SafeConstructor builds plain values only.
        self._constructor = yaml.constructor.SafeConstructor()
        self._lines: list[str] = []

    def today(self, tz: ZoneInfo) -> date:
        """The date in ``tz`` on which the source is read."""
        return self.now.astimezone(tz).date()

    def where(self, node: Node | None) -> Location:
        line = node.start_mark.line + 1 if node is not None else None
        return Location(self.source, line)

    @staticmethod
    def lines(fields: Mapping[str, Node], **extra: Node) -> dict[str, int]:
        """The line of each field, for problems found later against the database."""
        found = {name: node.start_mark.line + 1 for name, node in fields.items()}
        found.update({name: node.start_mark.line + 1 for name, node in extra.items()})
        if "thread" in found:
            found.setdefault("text", found["thread"])
        return found

    def problem(self, node: Node | None, field: str, value: str, message: str) -> None:
        # A key written as nothing ('': 1, or ': 1') still gets a name to point at.
        self.problems.append(Problem(self.where(node), field or "file", value, message))

    def compose(self, text: str) -> Node | None:
        """The document's root node, or None (with a problem) if the YAML is broken/empty."""
        self._lines = text.splitlines()
        if self._forbidden_characters(text):
            return None
        loader: BoundedLoader | None = None
        try:
            loader = BoundedLoader(text)
            root = loader.get_single_node()
        except Refused as refused:
            line = refused.line
            written = self._lines[line - 1].strip() if line and line <= len(self._lines) else ""
            self.problems.append(
                Problem(Location(self.source, line), "YAML", written, refused.message)
            )
            return None
        except RecursionError:  # nothing should nest this deep below MAX_DEPTH; belt and braces
            self.problems.append(
                Problem(
                    Location(self.source),
                    "YAML",
                    "",
                    f"is nested too deeply (over {MAX_DEPTH} levels)",
                )
            )
            return None
        except yaml.MarkedYAMLError as error:
            self.problems.append(self._syntax_problem(text, error))
            return None
        except yaml.YAMLError as error:
            self.problems.append(
                Problem(Location(self.source), "YAML", "", f"the file is not valid YAML: {error}")
            )
            return None
        finally:
            if loader is not None:
                loader.dispose()
        if root is None:
            self.problems.append(
                Problem(
                    Location(self.source, 1),
                    "file",
                    "",
                    "the file is empty; see docs/schedule-files.md for an example",
                )
            )
        return root

    def _forbidden_characters(self, text: str) -> bool:
        """Report where control characters (other than tab and line breaks) or unpaired
        surrogates are, which no post, name or time needs: True if there are any."""
        found = 0
        for match in _FORBIDDEN.finditer(text):
            found += 1
            if found > 5:  # enough to show what is wrong
                break
            start = text.rfind("\n", 0, match.start()) + 1
            line = text.count("\n", 0, match.start()) + 1
            end = text.find("\n", match.start())
            written = text[start : end if end >= 0 else len(text)]
            self.problems.append(
                Problem(
                    Location(self.source, line),
                    "file",
                    written.strip(),
                    f"contains the character {text_rules.describe(match.group())} at "
                    f"column {match.start() - start + 1}; remove it (it is invisible in most "
                    "editors: retype the line)",
                )
            )
        return found > 0

    def _syntax_problem(self, text: str, error: yaml.MarkedYAMLError) -> Problem:
        """Where the parser gave up (problem_mark), plus where the construct it was reading
        began (context_mark): for an unclosed quote that is the line to fix."""
        lines = text.splitlines()
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        written = lines[line - 1].strip() if line and line <= len(lines) else ""
        detail = str(error.problem or error.context or "unreadable")
        context = error.context_mark
        if error.context and context is not None and context is not mark:
            detail += f" ({error.context} that starts on line {context.line + 1})"
        if "'\\t'" in detail or "tab character" in detail:
            detail += "; indent with spaces, never tabs"
        return Problem(
            Location(self.source, line),
            "YAML",
            written,
            f"the file is not valid YAML: {detail}; check the indentation, and put text "
            "containing ': ' or ' #' in quotes or after 'text: >'",
        )

    def mapping(
        self,
        node: Node,
        field: str,
        allowed: Sequence[str],
        *,
        required: Mapping[str, str] | None = None,
        aliases: Mapping[str, str] | None = None,
        hint: str = "",
    ) -> dict[str, Node] | None:
        """The node's keys (as written) → value nodes. Unknown and duplicate keys and
        missing ``required`` keys (key → what to write) are problems; None if the node is
        not a mapping at all."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(
                node, field or "file", shown(node), f"must be {MAPPING}, not {kind_of(node)}{hint}"
            )
            return None
        explicit = {id(key) for key, _ in node.value}
        try:  # '<<: *common' merge keys, as PyYAML's own constructor allows them.
            self._constructor.flatten_mapping(node)
        except yaml.constructor.ConstructorError as error:
            self.problem(node, field, shown(node), f"{error.problem}; merge ('<<') a mapping")
        result: dict[str, Node] = {}
        key_nodes: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else shown(key_node)
            name = f"{field}.{key}" if field else key
            if key in result:
                # A key written here overrides one merged in with '<<'; written twice is a slip.
                if id(key_node) in explicit and id(key_nodes[key]) not in explicit:
                    result[key], key_nodes[key] = value_node, key_node
                elif id(key_node) in explicit:
                    self.problem(key_node, name, key, f"{key!r} is given twice here; keep one")
            elif key not in allowed:
                self.problem(
                    key_node,
                    name,
                    key,
                    f"unknown setting {key!r}{suggest(key, allowed, aliases)} "
                    f"(allowed here: {', '.join(allowed)})",
                )
            else:
                result[key], key_nodes[key] = value_node, key_node
        for key, advice in (required or {}).items():
            if key not in result:
                name = f"{field}.{key}" if field else key
                self.problem(node, name, "", f"{key!r} is missing; {advice}")
        return result

    def sequence(self, node: Node, field: str, example: str) -> list[Node] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(
                node,
                field,
                shown(node),
                f"must be a list, not {kind_of(node)}; for example: {example}",
            )
            return None
        return list(node.value)

    def text(self, node: Node, field: str, example: str = "") -> str | None:
        """A scalar as written (so `id: 007` stays '007'); None (with a problem) otherwise."""
        if not _plain_tag(node):
            self.problem(
                node,
                field,
                shown(node),
                f"uses the YAML tag {node.tag!r}, which Clarion does not accept; remove it",
            )
            return None
        if isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:null":
            value = str(node.value)
            bad = _FORBIDDEN.search(value)
            if bad is not None:  # written as an escape ("\x07", "\ud800") in quotes
                self.problem(
                    node,
                    field,
                    value,
                    f"contains the character {text_rules.describe(bad.group())}; "
                    "remove it (tabs and line breaks are fine)",
                )
                return None
            return value
        advice = f"; for example: {example}" if example else ""
        self.problem(node, field, shown(node), f"must be text, not {kind_of(node)}{advice}")
        return None

    def prose(self, node: Node, field: str, example: str = "") -> str | None:
        """Text a person reads (a post, a title): like ``text``, but refuses a hashtag
        that YAML would silently drop. In unquoted text, ' #' starts a comment, so
        `text: Join us #DefendTheUnion` would post "Join us"."""
        value = self.text(node, field, example)
        # A plain (unquoted) scalar has no style: None from PyYAML, "" from libyaml.
        if value is None or not isinstance(node, yaml.ScalarNode) or node.style:
            return value
        end = node.end_mark
        rest = self._lines[end.line][end.column :] if end.line < len(self._lines) else ""
        if rest.lstrip().startswith("#"):
            self.problem(
                node,
                field,
                f"{value} {rest.strip()}",
                f"everything from {rest.strip()[:20]!r} on is read as a YAML comment and "
                "would not be posted; put the text in quotes, or write it on the next "
                "lines after 'text: >'",
            )
            return None
        return value

    def value(self, node: Node) -> Any:
        """The scalar as YAML types it (bool, int, date, str...)."""
        if not _plain_tag(node):
            return None
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError):
            # e.g. a number of 5,000 digits (Python refuses to convert one over 4,300)
            return None


def _plain_tag(node: Node) -> bool:
    """Only YAML's own plain types: '!!python/...' and custom '!tags' are refused (and
    since we compose with SafeLoader they are never constructed anyway)."""
    return node.tag in _PLAIN_TAGS


_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")
)
