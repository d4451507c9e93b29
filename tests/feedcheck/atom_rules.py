"""Atom against RFC 4287: the appendix B grammar (atom.rng) and the rules it leaves to
Schematron.

RELAX NG cannot say "a feed needs an author unless every entry has one" or "an entry needs
content or an alternate link"; RFC 4287 writes them (and "no two alternate links with the same
type and hreflang") as Schematron rules next to the grammar. They are XPath checks here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lxml import etree

NS = {"atom": "http://www.w3.org/2005/Atom"}
SCHEMA = Path(__file__).with_name("atom.rng")

# (context, assertion that must hold for each context node, message), from RFC 4287 4.1.1
# and 4.1.2; the third rule (alternate links) is a loop below.
RULES = (
    (
        "/atom:feed",
        "atom:author or not(atom:entry[not(atom:author)])",
        "An atom:feed must have an atom:author unless all of its atom:entry children have one.",
    ),
    (
        "//atom:entry",
        "atom:content or atom:link[not(@rel) or @rel='alternate']",
        "An atom:entry must have at least one atom:link with rel 'alternate' or an atom:content.",
    ),
)


@lru_cache(maxsize=1)
def _grammar() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMA)))


def check_atom_schema(data: bytes) -> list[str]:
    """Every way ``data`` breaks RFC 4287's grammar or its Schematron rules; [] when valid."""
    document = etree.fromstring(data, etree.XMLParser(huge_tree=True))
    grammar = _grammar()
    problems = [] if grammar.validate(document) else [str(e) for e in grammar.error_log]
    for context, test, message in RULES:
        for node in document.xpath(context, namespaces=NS):
            if not node.xpath(f"boolean({test})", namespaces=NS):
                problems.append(f"{node.tag}: {message}")
    for node in document.xpath("//atom:feed | //atom:entry", namespaces=NS):
        seen = set()
        for link in node.xpath("atom:link[not(@rel) or @rel='alternate']", namespaces=NS):
            key = (link.get("type"), link.get("hreflang"))
            if key in seen:
                problems.append(f"{node.tag}: two alternate links share type and hreflang")
            seen.add(key)
    return problems
