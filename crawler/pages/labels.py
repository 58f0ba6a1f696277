"""Values a page shows after a label: the rule behind the ``label`` selector (``ships_from: {label: "Ships from"}``)
and the listing-page assistant (``source suggest --listing-page``).

Markets print a listing's facts as label/value pairs in a handful of structures, whatever the site:

- ``<td><b>Origin Country</b></td><td>Germany</td>`` and ``<th>..</th><td>..</td>``: the next cell;
- ``<dt>Ships from</dt><dd>Germany</dd>``: the ``dd`` elements up to the next ``dt``;
- ``<label>Ships to</label><span>United States</span>`` and ``<small><label><b>Ship to :</b></label></small>
  <small>World Wide</small><small>, Europe</small><br>``: the text after the label element up to a line break, a
  form control or the next label;
- ``<span>Sale Price : 49.88 USD</span>``: the rest of an element whose own text starts with ``Label:``;
- ``<div>price <div>฿0.0060</div></div>``: the rest of an element whose own first text is the label.

A label matches when its text, whitespace collapsed, case folded and a trailing colon dropped, equals one of the
wanted label texts. Form controls (``select``, ``option``, ``input``...) are never part of a value: a search
form's "Origin country: [any|Germany|...]" gives no value. Work is bounded per page (elements, characters).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

MAX_LABEL = 60
"""Characters a label has at most."""
MAX_VALUE = 400
"""Characters of a value kept."""
MAX_ELEMENTS = 100_000
"""Elements looked at per page (the rest of a bigger page is ignored)."""
MAX_SIBLINGS = 200
"""Elements after a label looked at for its value."""

_FORM = {"select", "option", "optgroup", "input", "textarea", "button", "script", "style", "noscript", "template",
         "head", "title", "svg"}
_BREAK = {"br", "hr", "table", "form", "ul", "ol"}
_CELLS = {"td", "th"}
_WS = re.compile(r"\s+")
_GENERIC_LABEL = re.compile(r"^[^\W\d_][\w .&/()'-]{0,40}:$")
"""A short text ending in a colon: some other label, where a value stops."""


def norm_label(text: str) -> str:
    """``"  Origin Country : "`` -> ``"origin country"``."""
    return _WS.sub(" ", text).strip().rstrip(":").strip().casefold()


def wanted_labels(spec: str) -> set[str]:
    """A ``label`` selector's alternatives (``"Ships from|Origin"``), normalised."""
    return {n for n in (norm_label(p) for p in spec.split("|")) if n}


def _tag(el: Any) -> str:
    tag = el.tag
    return tag.lower() if isinstance(tag, str) else ""


def text_of(el: Any, limit: int = MAX_VALUE, max_nodes: int = 20_000) -> str:
    """The element's text without form controls, scripts or comments, whitespace collapsed; the walk (no
    recursion: pages nest without end) stops after ``limit`` characters or ``max_nodes`` elements."""
    parts: list[str] = []
    size = nodes = 0
    stack: list[tuple[Any, bool]] = [(el, False)]
    while stack and size <= limit and nodes <= max_nodes:
        node, closing = stack.pop()
        if closing or not isinstance(node.tag, str) or _tag(node) in _FORM:
            if node is not el and node.tail:  # the text after an element (or after a skipped control)
                parts.append(node.tail)
                size += len(node.tail.strip())
            continue
        nodes += 1
        if node.text:
            parts.append(node.text)
            size += len(node.text.strip())
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node))
    return _WS.sub(" ", "".join(parts)).strip()[:limit]


def _short_text(el: Any) -> str | None:
    """The element's text when it is short enough to be a label (a few elements, at most MAX_LABEL characters)."""
    for n, _node in enumerate(el.iter()):
        if n > 32:
            return None
    text = text_of(el, MAX_LABEL + 1, max_nodes=40)
    return text if len(text) <= MAX_LABEL else None


def _clean_value(text: str) -> str:
    text = _WS.sub(" ", text).strip()
    text = re.sub(r"\s+,", ",", text)
    return text.lstrip(":,;-–| ").strip()[:MAX_VALUE]


def _signature(lab: Any) -> tuple[str, ...]:
    """The tags from a label element down its first children (``small/label/b``): a sibling built the same way
    is the next label, not a value."""
    sig: list[str] = []
    node = lab
    while node is not None and len(sig) < 4:
        sig.append(_tag(node))
        kids = [k for k in node if isinstance(k.tag, str)]
        node = kids[0] if len(kids) == 1 else None
    return tuple(sig)


def _starts_like(node: Any, sig: tuple[str, ...]) -> bool:
    return len(sig) > 1 and _signature(node)[: len(sig)] == sig


def _value_after(lab: Any, known: set[str]) -> str:
    """The text after the label element ``lab`` among its siblings (see the module's rules)."""
    tag = _tag(lab)
    siblings = [s for s in lab.itersiblings() if isinstance(s.tag, str)]
    if tag in _CELLS:
        return _clean_value(text_of(siblings[0])) if siblings else ""
    if tag == "dt":
        parts = []
        for s in siblings:
            if _tag(s) != "dd":
                break
            parts.append(text_of(s))
        return _clean_value(" ".join(parts))
    parts = [lab.tail or ""]
    size = len(parts[0])
    sig = _signature(lab)
    for n, s in enumerate(lab.itersiblings()):
        if n >= MAX_SIBLINGS:
            break
        if not isinstance(s.tag, str):
            continue
        stag = _tag(s)
        if stag in _BREAK or stag in _FORM or _starts_like(s, sig):
            break
        text = text_of(s, MAX_VALUE)
        if norm_label(text) in known or _GENERIC_LABEL.match(text):
            break
        parts += [text, s.tail or ""]
        size += len(text) + len(s.tail or "")
        if size > MAX_VALUE:
            break
    return _clean_value(" ".join(parts))


def _elements(root: Any) -> Iterator[Any]:
    """Elements in document order, form controls and their contents left out, at most MAX_ELEMENTS."""
    stack = [root]
    seen = 0
    while stack and seen < MAX_ELEMENTS:
        el = stack.pop()
        if not isinstance(el.tag, str) or _tag(el) in _FORM:
            continue
        seen += 1
        yield el
        stack.extend(reversed([c for c in el if isinstance(c.tag, str)]))


def label_pairs(root: Any, wanted: set[str], known: set[str] | None = None) -> Iterator[tuple[str, str, Any]]:
    """``(label as shown, value, label element)`` for every label in ``wanted`` under the lxml element ``root``,
    in document order; ``known`` are other label texts where a value stops. Empty values are left out."""
    known = (known or set()) | wanted
    first_words = {w.split(" ", 1)[0] for w in wanted}
    done: set[Any] = set()  # the elements themselves: an lxml proxy's id() is reused once it is freed
    for el in _elements(root):
        # every structure above starts with an element whose own first text begins with the label's first word
        # (<b>Ships from</b>, <label>Ships to:</label>, <span>Origin: ..., <div>price <div>..): a cheap test first
        head = (el.text or "")[:MAX_LABEL].strip()
        if not head or _WS.split(head.casefold(), 1)[0].rstrip(":") not in first_words or el in done:
            continue
        own = _short_text(el)
        lead = _WS.sub(" ", el.text or "").strip()
        if lead and norm_label(lead) in wanted and len(el) and norm_label(own or "") != norm_label(lead):
            # "<div>price <div>฿0.0060</div></div>": the label is the element's own first text
            value = _clean_value(text_of(el)[len(lead):])
            if value:
                yield lead.rstrip(": ").strip(), value, el
                done.update(el.iter())
            continue
        if not own:
            if ":" in lead[: MAX_LABEL + 1]:  # "Sale Price : 49.88 USD / ...": an inline label
                name = lead.split(":", 1)[0]
                if norm_label(name) in wanted:
                    full = text_of(el)
                    value = _clean_value(full.split(":", 1)[1] if ":" in full else "")
                    if value:
                        yield name.strip(), value, el
            continue
        key = norm_label(own)
        if key not in wanted:
            if own.count(":") == 1 and not own.endswith(":"):  # "Origin: Germany" in one short element
                name, rest = own.split(":", 1)
                if norm_label(name) in wanted and rest.strip():
                    yield name.strip(), _clean_value(rest), el
                    for d in el.iter():
                        done.add(d)
            continue
        lab = el
        for _ in range(4):  # climb while the ancestor says nothing more than the label
            parent = lab.getparent()
            if parent is None or norm_label(_short_text(parent) or "") != key:
                break
            lab = parent
        for d in lab.iter():
            done.add(d)
        value = _value_after(lab, known)
        if value:
            yield own.rstrip(": ").strip(), value, lab


def label_values(root: Any, spec: str, known: set[str] | None = None) -> list[str]:
    """The values after the labels ``spec`` (``"Ships from|Origin"``) under ``root``, in document order."""
    return [value for _label, value, _el in label_pairs(root, wanted_labels(spec), known)]
