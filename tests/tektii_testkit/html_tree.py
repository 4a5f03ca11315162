"""A small element tree over html.parser, enough to query the report's structure."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = None

    def iter(self, tag: str | None = None) -> Iterator[Node]:
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter(tag)

    def find(self, tag: str | None = None, **attrs: str) -> list[Node]:
        """Descendants (and self) with this tag whose attributes contain these values
        (`class_` matches one of the space-separated classes)."""
        out = []
        for node in self.iter(tag):
            ok = True
            for name, value in attrs.items():
                if name == "class_":
                    ok = ok and value in (node.attrs.get("class") or "").split()
                else:
                    ok = ok and node.attrs.get(name.replace("_", "-")) == value
            if ok:
                out.append(node)
        return out

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.find(tag, **attrs)
        assert len(found) == 1, f"expected one <{tag} {attrs}>, found {len(found)}"
        return found[0]

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), parent=self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):  # <polyline .../> in SVG
        self.current.children.append(Node(tag, dict(attrs), parent=self.current))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is None:
            self.errors.append(f"stray </{tag}>")
            return
        if node is not self.current:
            self.errors.append(f"</{tag}> closes unclosed <{self.current.tag}>")
        self.current = node.parent or self.root

    def handle_data(self, data):
        self.current.children.append(data)


def parse(document: str) -> Node:
    builder = _Builder()
    builder.feed(document)
    builder.close()
    assert not builder.errors, builder.errors
    assert builder.current is builder.root, f"<{builder.current.tag}> is never closed"
    return builder.root


def assert_self_contained(document: str, svgs: int) -> None:
    """Nothing the page would fetch: no script, image, style sheet or frame, no URL but the SVG
    namespace (an identifier, never fetched; once per inline SVG), no event handler, and a policy
    that forbids loading anything."""
    page = parse(document)
    for tag in ("script", "img", "link", "iframe", "object", "embed", "video", "audio", "source", "base", "form"):
        assert page.find(tag) == [], f"<{tag}> in the report"
    for node in page.iter():
        for name, value in node.attrs.items():
            if name in ("src", "href", "xlink:href", "action", "poster", "srcset", "data"):
                assert value is not None and value.startswith("#"), f"<{node.tag} {name}={value!r}>"
            assert not name.startswith("on"), f"event handler {name} on <{node.tag}>"
    assert re.findall(r"(?:https?:|ftp:|//[a-z0-9])[^\"' )]*", document) == ["http://www.w3.org/2000/svg"] * svgs
    assert "@import" not in document and re.findall(r"url\((?!#)", document) == []
    assert "default-src 'none'" in page.one("meta", http_equiv="Content-Security-Policy").attrs["content"]
