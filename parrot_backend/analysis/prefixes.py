"""The prompt prefixes calls share, as a radix tree over prompt keys.

A prompt key is the call's prompt as far as it is known: literal text, the values of variables
already resolved, and a marker for each variable still pending (two calls share a pending
variable's place only if it is the same variable of the same program). Chat calls key their
messages with their roles. Keys start with the tenant, so prefixes are shared across one tenant's
programs and never across tenants.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from parrot_backend.program.model import Call, Ref, Template

_TENANT_END, _ROLE, _PENDING = "\x1d", "\x1e", "\x1f"


def prompt_key(tenant: str, call: Call, values: Mapping[str, str], program_id: str = "") -> str:
    """The call's prompt key (see the module doc). ``program_id`` scopes pending variables."""

    def text(template: Template) -> str:
        return "".join(
            values.get(s.var, f"{_PENDING}{program_id}.{s.var}{_PENDING}") if isinstance(s, Ref) else s.text
            for s in template
        )

    if call.template is not None:
        return rendered_key(tenant, text(call.template))
    return rendered_key(tenant, [{"role": m.role, "content": text(m.content)} for m in call.messages or ()])


def rendered_key(tenant: str, prompt: str | list[dict[str, str]]) -> str:
    """The key of a rendered prompt (text, or chat messages): a ready call's :func:`prompt_key`."""
    if isinstance(prompt, str):
        return f"{tenant}{_TENANT_END}{prompt}"
    return tenant + _TENANT_END + "".join(f"{_ROLE}{m['role']}{_ROLE}{m['content']}" for m in prompt)


def body_start(key: str) -> int:
    """Where the prompt starts in a key (past the tenant)."""
    return key.index(_TENANT_END) + 1


def prefix_messages(messages: list[dict[str, str]], chars: int) -> list[dict[str, str]]:
    """The first ``chars`` characters of a chat key's body, as messages (the last one cut short):
    what a prefill-only request sends to warm that prefix."""
    kept: list[dict[str, str]] = []
    for message in messages:
        chars -= len(message["role"]) + 2  # the role and its two markers
        if chars <= 0:
            break
        kept.append({"role": message["role"], "content": message["content"][:chars]})
        chars -= len(message["content"])
        if chars <= 0:
            break
    return kept


@dataclass(frozen=True)
class PrefixGroup:
    """Calls whose prompts share a prefix of ``chars`` characters (the tenant excluded)."""

    chars: int
    calls: tuple[str, ...]


@dataclass
class _Node:
    edges: dict[str, tuple[str, _Node]] = field(default_factory=dict)  # first char -> (label, child)
    items: list[str] = field(default_factory=list)  # calls whose key ends here


class PrefixTree:
    """A radix tree of prompt keys, each labelled with a call id."""

    def __init__(self) -> None:
        self._root = _Node()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def insert(self, key: str, item: str) -> None:
        node = self._root
        while key:
            edge = node.edges.get(key[0])
            if edge is None:
                node.edges[key[0]] = (key, _Node(items=[item]))
                self._size += 1
                return
            label, child = edge
            common = _common_length(label, key)
            if common < len(label):  # split the edge where the keys part
                middle = _Node(edges={label[common]: (label[common:], child)})
                node.edges[key[0]] = (label[:common], middle)
                child = middle
            node, key = child, key[common:]
        node.items.append(item)
        self._size += 1

    def longest_match(self, key: str) -> int:
        """How many leading characters of ``key`` some inserted key shares."""
        node, matched = self._root, 0
        while key:
            edge = node.edges.get(key[0])
            if edge is None:
                return matched
            label, child = edge
            common = _common_length(label, key)
            matched += common
            if common < len(label):
                return matched
            node, key = child, key[common:]
        return matched

    def groups(self, min_chars: int) -> list[PrefixGroup]:
        """Maximal sets of two or more calls sharing a prefix of at least ``min_chars`` characters
        past the tenant, deepest first; a call appears in each group of the prefixes it shares."""
        found: list[PrefixGroup] = []
        for shared, node in self._walk(self._root, 0, None):
            below = list(self._items(node))
            # Report a node only where the set of calls changes: a node with one child edge and no
            # items of its own holds exactly its child's calls, and the child is deeper.
            if shared is not None and shared >= min_chars and len(below) >= 2 and (len(node.edges) != 1 or node.items):
                found.append(PrefixGroup(shared, tuple(below)))
        return sorted(found, key=lambda g: -g.chars)

    def _walk(self, node: _Node, depth: int, tenant_end: int | None) -> Iterator[tuple[int | None, _Node]]:
        """Each node with the characters its path holds past the tenant (None before the tenant
        ends: calls of different tenants meet only there)."""
        yield (depth - tenant_end if tenant_end is not None else None), node
        for label, child in node.edges.values():
            end = tenant_end
            if end is None and (found := label.find(_TENANT_END)) >= 0:
                end = depth + found + 1
            yield from self._walk(child, depth + len(label), end)

    def _items(self, node: _Node) -> Iterator[str]:
        yield from node.items
        for _, child in node.edges.values():
            yield from self._items(child)


def _common_length(a: str, b: str) -> int:
    """Length of the common prefix of ``a`` and ``b`` (slices compared in C, then characters)."""
    limit = min(len(a), len(b))
    i, step = 0, 512
    while i + step <= limit and a[i : i + step] == b[i : i + step]:
        i += step
    while i < limit and a[i] == b[i]:
        i += 1
    return i
