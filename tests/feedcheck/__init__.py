"""Validators for bulletin's feeds, used by the tests: each says what it checks and why.

- ``fv``: the W3C Feed Validation Service's own code, run on written files (beside the checkout);
- ``w3c``: the W3C Feed Validation Service's rules for RSS 2.0 and Atom 1.0, event by event;
- ``atom_rules``: Atom against RFC 4287's RELAX NG grammar (``atom.rng``) and Schematron rules;
- ``json_feed``: JSON Feed 1.1's members and types;
- ``lists``: the OPML 2.0 list and the HTML5 index page.
"""

from feedcheck.atom_rules import check_atom_schema
from feedcheck.json_feed import check_json_feed
from feedcheck.lists import check_index_html, check_opml
from feedcheck.w3c import Event, check_atom, check_rss, html_events, looks_like_html

__all__ = [
    "Event",
    "check_atom",
    "check_atom_schema",
    "check_index_html",
    "check_json_feed",
    "check_opml",
    "check_rss",
    "html_events",
    "looks_like_html",
]
