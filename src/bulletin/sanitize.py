"""Untrusted HTML made safe: the allow-lists bulletin keeps, applied by nh3 (its one importer).

Item bodies come from files and feeds nobody here wrote and end up in feed readers and mail
clients, so every body passes an allow-list: no script, style, forms, frames, event handlers
or classes. Two lists are kept: what an item's own body may hold when it is read (``ITEM``:
relative links dropped, as they would point nowhere from a reader), and what a feed may carry
(``FEED``: a little more markup, relative URLs resolved against the site).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import nh3


@dataclass(frozen=True)
class Policy:
    """One allow-list: the elements, attributes and URL schemes kept, and relative URLs' fate."""

    tags: frozenset[str]
    attributes: tuple[tuple[str, frozenset[str]], ...]
    url_schemes: frozenset[str] = frozenset({"http", "https", "mailto"})
    resolve_relative: bool = False  # True: against the base URL given; False: dropped
    link_rel: str | None = None
    strip_comments: bool = True


ITEM = Policy(
    tags=frozenset(
        {"p", "a", "em", "strong", "blockquote", "ul", "ol", "li", "code", "pre", "br"}
        | {"h2", "h3", "h4"}
    ),
    attributes=(("a", frozenset({"href", "title"})),),
    link_rel="noopener",
)

# A subset of what the W3C Feed Validation Service accepts as safe (anything else is its
# SecurityRisk/SecurityRiskAttr warning) and of what feed readers keep.
FEED = Policy(
    tags=frozenset(
        {"a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "div"}
        | {"dl", "dt", "em", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol"}
        | {"p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody"}
        | {"td", "tfoot", "th", "thead", "tr", "u", "ul"}
    ),
    attributes=(
        ("*", frozenset({"dir", "lang", "title"})),
        ("a", frozenset({"href", "hreflang"})),
        ("abbr", frozenset({"title"})),
        ("blockquote", frozenset({"cite"})),
        ("del", frozenset({"cite"})),
        ("img", frozenset({"src", "alt", "width", "height"})),
        ("ins", frozenset({"cite"})),
        ("q", frozenset({"cite"})),
        ("td", frozenset({"colspan", "rowspan"})),
        ("th", frozenset({"colspan", "rowspan", "scope"})),
    ),
    # Readers resolve relative URLs against the feed's URL, not the item's page; the
    # validator warns (ContainsRelRef). Resolved against the site instead.
    resolve_relative=True,
)


def clean_html(html: str, policy: Policy, base_url: str = "") -> str:
    """``html`` with everything outside ``policy`` removed (relative URLs per the policy)."""
    return _cleaner(policy, base_url if policy.resolve_relative else "").clean(html)


@lru_cache(maxsize=16)
def _cleaner(policy: Policy, base_url: str) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(policy.tags),
        attributes={tag: set(names) for tag, names in policy.attributes},
        url_schemes=set(policy.url_schemes),
        url_relative=("rewrite_with_base", base_url) if base_url else "deny",
        link_rel=policy.link_rel,
        strip_comments=policy.strip_comments,
    )


# Items read from someone else's feed: ITEM's allow-list, but a relative URL is resolved against
# the entry's base (its xml:base, else the feed's address), as feed readers do, not dropped.
UPSTREAM = Policy(
    tags=ITEM.tags, attributes=ITEM.attributes, resolve_relative=True, link_rel=ITEM.link_rel
)
