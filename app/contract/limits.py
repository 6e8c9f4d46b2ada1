"""The hard limits on what a client sends (docs/behaviour.md §11).

One pass over every parsed body and every query/path value, before the schema and long before
the database (so SQLite and PostgreSQL accept exactly the same inputs): `Limits.body_errors`.
- nesting depth, counted from the body (the body itself is level 1);
- items in any array;
- characters of any string or object key outside a stored document (names, sessions, ids):
  PostgreSQL cannot index a key over ~2,700 bytes, SQLite can, so one limit keeps them alike;
- compact UTF-8 JSON size of each stored document (`DOCUMENTS`); strings inside a document are
  bounded only by its size.

Every message here echoes at most a short slice of the input (`clip`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: Characters of client input an error message may quote, and of the path it names.
ECHO_CHARS = 64
PATH_CHARS = 160
#: Body paths whose value is stored (or echoed) as one JSON document: size-limited as a whole.
DOCUMENTS = frozenset(
    {
        ("stackSettings",),  # create_deployment
        ("stack",),  # create_release: every platform's stack, one stored column
        ("gitMetadata",),  # create_release
        ("state", "stackState"),  # reconcile
        ("state", "environmentInfo"),
        ("state", "runtimeMetadata"),
        ("state", "currentRelease", "stack"),
    }
)


def clip(text: str, limit: int = ECHO_CHARS) -> str:
    """At most `limit` characters of `text`, marked when cut."""
    return text if len(text) <= limit else f"{text[:limit]}…({len(text)} chars)"


def where(path: Any) -> str:
    """A body path for a message, bounded however long the keys are."""
    return clip(".".join(clip(str(p), 32) for p in path), PATH_CHARS)


#: The only container types a JSON parse produces.
CONTAINERS = frozenset({dict, list})
#: A body path as a linked list: None for the body, else (parent, key).
Node = tuple[Any, Any] | None
#: The depth of the deepest document path's value (the body is depth 1).
DOCUMENT_DEPTH = 1 + max(len(path) for path in DOCUMENTS)


def _path(node: Node) -> tuple[Any, ...]:
    keys = []
    while node is not None:
        node, key = node
        keys.append(key)
    return tuple(reversed(keys))


def _label(node: Node) -> str:
    return f"'{where(_path(node))}'" if node is not None else "The body"


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_list_items: int
    max_text_chars: int
    max_document_bytes: int

    def body_errors(self, body: Any, max_errors: int = 20) -> list[str]:
        """What `body` breaks, one short sentence each (empty when nothing).

        Iterative, so no depth can exhaust the stack; a refused container is not entered; only
        containers are pushed, with their path as a linked (parent, key) node, so a 2 MB body
        of a million numbers is one fast loop, not a million path tuples."""
        errors: list[str] = []
        if not isinstance(body, dict | list):
            if isinstance(body, str):
                self._text(body, None, errors)
            return errors
        documents: list[tuple[Node, Any]] = []
        stack: list[tuple[Any, Node, int, bool]] = [(body, None, 1, False)]
        while stack and len(errors) < max_errors:
            value, node, depth, in_document = stack.pop()
            if depth > self.max_depth:
                at = _label(node)
                return [f"The body is nested deeper than {self.max_depth} levels at {at}"]
            if not in_document and depth <= DOCUMENT_DEPTH and _path(node) in DOCUMENTS:
                documents.append((node, value))
                in_document = True
            if isinstance(value, list):
                if len(value) > self.max_list_items:
                    errors.append(
                        f"{_label(node)} has {len(value)} items; at most {self.max_list_items}"
                        " are allowed"
                    )
                    continue
                items: Any = value
                pairs: Any = enumerate(value)
            else:
                items = value.values()
                pairs = value.items()
                if not in_document and value and max(map(len, value)) > self.max_text_chars:
                    for key in value:
                        self._text(key, node, errors, is_key=True)
            # Python-level work only for what may matter: a million numbers are one C call.
            kinds = set(map(type, items))
            if not kinds & CONTAINERS and (
                in_document
                or str not in kinds
                or (kinds == {str} and max(map(len, items)) <= self.max_text_chars)
            ):
                continue
            for key, item in pairs:
                kind = type(item)
                if kind in CONTAINERS:
                    stack.append((item, (node, key), depth + 1, in_document))
                elif kind is str and not in_document:
                    self._text(item, (node, key), errors)
        if stack:  # stopped at max_errors: the rest is unchecked, not safe to serialise
            return errors
        for node, value in documents:
            size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
            if size > self.max_document_bytes:
                errors.append(
                    f"{_label(node)} is {size} bytes of JSON; at most"
                    f" {self.max_document_bytes} are allowed"
                )
        return errors[:max_errors]

    def _text(self, text: str, node: Node, errors: list[str], is_key: bool = False) -> None:
        if len(text) > self.max_text_chars:
            what = _label(node)
            if is_key:
                what = f"A key of {what}" if node is not None else "A key of the body"
            errors.append(
                f"{what} is {len(text)} characters long; at most {self.max_text_chars} are allowed"
            )

    def parameter_error(self, kind: str, name: str, value: Any) -> str | None:
        """The limits on a path or query value (a string, or a list of them)."""
        values = value if isinstance(value, list) else [value]
        if len(values) > self.max_list_items:
            return (
                f"{kind.capitalize()} parameter '{clip(name)}' is repeated {len(values)} times;"
                f" at most {self.max_list_items} are allowed"
            )
        for item in values:
            if isinstance(item, str) and len(item) > self.max_text_chars:
                return (
                    f"{kind.capitalize()} parameter '{clip(name)}' is {len(item)} characters"
                    f" long; at most {self.max_text_chars} are allowed"
                )
        return None
