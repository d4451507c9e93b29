"""The digest as a reader sees it, in real headless Chromium: phone and desktop widths, dark
mode, Arabic. Screenshots are kept in test-artifacts/digest/ to look at after a run.

Chromium is not Gmail or Outlook: these tests prove the HTML and CSS do what they should
where CSS is honoured (the kept <style> block's media queries and !important rules included),
not that a given client keeps them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from builders import ARABIC, DAY, LOCAL, WORLD, arabic_item, make_item, make_site
from bulletin.digest import RenderOptions, build_digest, render_digest
from bulletin.model import CategoryIndex, Item

ORDER = CategoryIndex(known=(WORLD, LOCAL)).order_key
FEEDS = (("Daily Bugle", "https://news.example.org/all.atom"),)
LONG = "The council met on Tuesday to discuss the budget for the coming year. " * 8
UNSUBSCRIBE = "https://news.example.org/unsubscribe?who=reader%40example.org"


def day_items() -> list[Item]:
    body = (
        "The library on Mill Street reopens on Monday after a year of repairs, with a new "
        "reading room and longer opening hours on weekdays.",
        "Visitors can borrow books again from 9:00; the café opens a week later.",
    )
    return [
        make_item("library", 9, title="Old Mill Library reopens after repairs", paragraphs=body),
        make_item(
            "budget",
            11,
            category=WORLD,
            title="Council opens the 2027 budget to comment",
            paragraphs=body[:1],
            source="Office of the Mayor",
        ),
        make_item(
            "long-url",
            8,
            title="Where to read the plan",
            paragraphs=("See https://example.org/plans/" + "x" * 120 + " for the details.",),
        ),
        arabic_item("forum"),
    ]


PAGES = {
    "en": lambda: render_digest(
        build_digest(DAY, day_items(), ORDER), make_site(), RenderOptions(feed_links=FEEDS)
    ),
    "ar-site": lambda: render_digest(
        build_digest(DAY, day_items(), ORDER),
        make_site("ar", title="النشرة اليومية"),
        RenderOptions(feed_links=(("النشرة اليومية", "https://news.example.org/all.atom"),)),
    ),
    "long-day": lambda: render_digest(
        build_digest(
            DAY,
            [
                make_item(
                    f"i{n:03}",
                    n % 20,
                    category=(LOCAL, WORLD, ARABIC)[n % 3],
                    paragraphs=(LONG,) * 3,
                )
                for n in range(60)
            ],
            ORDER,
        ),
        make_site(),
        RenderOptions(feed_links=FEEDS),
    ),
}


@pytest.fixture(scope="module")
def pages(artifacts: Path) -> dict[str, str]:
    """Each page written to test-artifacts/digest/<name>.html, as a recipient gets it."""
    urls = {}
    for name, render in PAGES.items():
        rendered = render()
        path = artifacts / f"{name}.html"
        path.write_text(rendered.html.replace(rendered.unsubscribe_token, UNSUBSCRIBE), "utf-8")
        urls[name] = path.as_uri()
    return urls


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    contexts = []

    def opener(url: str, width: int, scheme: str = "light") -> Any:
        context = browser.new_context(
            viewport={"width": width, "height": 900}, color_scheme=scheme, offline=True
        )
        contexts.append(context)
        page = context.new_page()
        page.goto(url)
        return page

    yield opener
    for context in contexts:
        context.close()


def shoot(page: Any, artifacts: Path, name: str) -> None:
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000


@pytest.mark.parametrize("name", list(PAGES))
def test_at_375px_nothing_overflows_horizontally(
    name: str, pages: dict[str, str], open_page: Any, artifacts: Path
) -> None:
    page = open_page(pages[name], 375)
    facts = page.evaluate(
        """() => ({
          scroll: document.documentElement.scrollWidth,
          inner: window.innerWidth,
          container: document.querySelector('table.container').getBoundingClientRect().width,
          wide: [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
            .map(e => e.tagName + '.' + e.className).slice(0, 5),
          itemTitle: getComputedStyle(document.querySelector('.item-title')).fontSize,
          cellPadding: getComputedStyle(document.querySelector('.item-cell')).paddingLeft,
        })"""
    )
    shoot(page, artifacts, f"{name}-375-light")
    assert facts["scroll"] <= facts["inner"], facts
    assert facts["wide"] == [], facts
    assert facts["container"] == 375
    # The kept block's mobile rules beat the inlined ones (their !important survived).
    assert facts["cellPadding"] == "16px"
    assert facts["itemTitle"] in ("19px", "17px")


@pytest.mark.parametrize("name", list(PAGES))
def test_at_800px_the_content_column_is_600px_and_centred(
    name: str, pages: dict[str, str], open_page: Any, artifacts: Path
) -> None:
    page = open_page(pages[name], 800)
    box = page.evaluate(
        "() => { const r = document.querySelector('table.container').getBoundingClientRect();"
        " return {width: r.width, left: r.left}; }"
    )
    shoot(page, artifacts, f"{name}-800-light")
    assert box == {"width": 600, "left": 100}
    padding = page.evaluate(
        "() => getComputedStyle(document.querySelector('.item-cell')).paddingLeft"
    )
    assert padding == "24px"  # the desktop layout: the mobile rules do not apply


def colours(page: Any) -> dict[str, str]:
    return page.evaluate(
        """() => {
          const c = s => getComputedStyle(document.querySelector(s));
          return {
            body: c('body').backgroundColor,
            container: c('table.container').backgroundColor,
            title: c('.item-title').color,
            text: c('.item-body p').color,
            link: c('.footer-cell a').color,
            section: c('.section-title').color,
          };
        }"""
    )


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two rgb(...) colours."""

    def luminance(colour: str) -> float:
        channels = [int(part) / 255 for part in colour[colour.index("(") + 1 : -1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("width", [800, 375])
def test_with_dark_mode_forced_the_dark_rules_apply_and_stay_readable(
    width: int, pages: dict[str, str], open_page: Any, artifacts: Path
) -> None:
    light = colours(open_page(pages["en"], width, "light"))
    page = open_page(pages["en"], width, "dark")
    dark = colours(page)
    shoot(page, artifacts, f"en-{width}-dark")
    assert light["body"] == "rgb(242, 243, 245)" and light["container"] == "rgb(255, 255, 255)"
    assert dark["body"] == "rgb(13, 17, 23)"
    assert dark["container"] == "rgb(22, 27, 34)"
    assert dark["title"] == "rgb(240, 243, 246)"
    for role in ("title", "text", "link", "section"):
        assert contrast(light[role], light["container"]) >= 4.5, (role, light)
        assert contrast(dark[role], dark["container"]) >= 4.5, (role, dark)


def test_an_arabic_item_runs_right_to_left(
    pages: dict[str, str], open_page: Any, artifacts: Path
) -> None:
    page = open_page(pages["en"], 800)
    facts = page.evaluate(
        """() => {
          const item = document.querySelector('#item-forum div[dir=rtl]');
          const p = item.querySelector('p');
          const cell = document.querySelector('#item-forum').getBoundingClientRect();
          const range = document.createRange(); range.selectNodeContents(p);
          const text = range.getBoundingClientRect();
          return {
            direction: getComputedStyle(p).direction,
            align: getComputedStyle(p).textAlign,
            lang: item.closest('[lang]').lang,
            gapRight: cell.right - text.right,
            gapLeft: text.left - cell.left,
            allRtl: [...document.querySelectorAll('[dir=rtl]')]
              .every(e => getComputedStyle(e).direction === 'rtl'),
            english: getComputedStyle(document.querySelector('#item-library p')).direction,
          };
        }"""
    )
    page.locator("#item-forum").screenshot(path=str(artifacts / "en-arabic-item.png"))
    assert facts["direction"] == "rtl" and facts["lang"] == "ar" and facts["allRtl"]
    assert facts["align"] in ("right", "start")
    # The text hugs the right edge of its cell (24px padding), not the left.
    assert facts["gapRight"] < facts["gapLeft"] and abs(facts["gapRight"] - 24) < 2
    assert facts["english"] == "ltr"


def test_an_arabic_site_reads_right_to_left_as_a_whole(
    pages: dict[str, str], open_page: Any, artifacts: Path
) -> None:
    page = open_page(pages["ar-site"], 375, "dark")
    shoot(page, artifacts, "ar-site-375-dark")
    facts = page.evaluate(
        """() => ({
          html: getComputedStyle(document.documentElement).direction,
          title: getComputedStyle(document.querySelector('.site-title')).direction,
          footer: getComputedStyle(document.querySelector('.footer-cell p')).direction,
          english: getComputedStyle(document.querySelector('#item-library p')).direction,
        })"""
    )
    assert facts == {"html": "rtl", "title": "rtl", "footer": "rtl", "english": "ltr"}
