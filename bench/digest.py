"""Benchmark: what the digest costs per day, and per recipient.

A day of 50 items (one in five in Arabic) is rendered (Jinja, HTML and text) and inlined
(premailer) once. Then the final message bytes are produced for every recipient, three ways:

- reference: a fresh ``email.message.EmailMessage`` per recipient, stdlib defaults, with the
  rendered digest's unsubscribe token replaced by the recipient's URL;
- bulletin: ``delivery.MessageTemplate`` made once per digest variant, then rendered per
  recipient (what delivery does: only the recipient's headers and unsubscribe URL change);
- ``delivery.build_message`` per recipient (a template made and used once each time);
- per-recipient rendering: render and inline again for every recipient, then build the message
  (what bulletin avoids; timed on a sample and scaled up).

Usage: .venv/bin/python bench/digest.py [--recipients 10000] [--items 50]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

from bulletin import delivery
from bulletin.digest import RenderOptions, build_digest, inline_css, render_digest
from bulletin.digest import render as digest_render
from bulletin.digest.theme import HTML_TEMPLATE, INLINE_CSS, environment, render, source
from bulletin.digest.views import FULL
from bulletin.model import Category, Item, Recipient, Site, direction_for, paragraphs_to_html

DAY = date(2026, 11, 26)
SITE = Site("Cedarport Daily", "News", "https://news.example.org/", "en", "UTC")
CATEGORIES = (Category("local-news", "Local News"), Category("statements", "Statements"))
ENGLISH = (
    "The council met on Tuesday to discuss the budget for the coming year; residents asked "
    "about night buses, the library's hours and the new cycle lanes on Harbour Road.",
    "A public hearing follows on 15 December in the council chamber, and written comments "
    "are welcome until the 10th.",
)
ARABIC = (
    "ناقش المجلس البلدي يوم الثلاثاء ميزانية العام المقبل، وسأل السكان عن حافلات الليل "
    "وساعات عمل المكتبة وممرات الدراجات الجديدة.",
    "تُعقد جلسة استماع عامة في الخامس عشر من ديسمبر في قاعة المجلس.",
)
FEEDS = (("Cedarport Daily", "https://news.example.org/all.atom"),)
OPTIONS = RenderOptions(feed_links=FEEDS)
SENDER = delivery.Sender("digest@news.example.org", "Cedarport Daily")
NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def items(count: int) -> list[Item]:
    """``count`` items of about 330 characters each; every fifth one in Arabic."""
    made = []
    for n in range(count):
        language = "ar" if n % 5 == 4 else "en"
        paragraphs = ARABIC if language == "ar" else ENGLISH
        made.append(
            Item(
                id=f"item-{n:03}",
                day=DAY,
                published=datetime(2026, 11, 26, 6, tzinfo=UTC) + timedelta(minutes=7 * n),
                category=CATEGORIES[n % 2],
                title=f"Council budget hearing, part {n}",
                paragraphs=paragraphs,
                body_html=paragraphs_to_html(paragraphs),
                source="City desk",
                language=language,
                direction=direction_for(language),
            )
        )
    return made


def median_seconds(action: Callable[[], object], runs: int) -> float:
    action()  # warm up: template compilation, premailer's parse cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def recipient(n: int) -> tuple[Recipient, str]:
    return (
        Recipient(f"reader{n}@example.org", f"Reader {n}"),
        f"https://news.example.org/unsubscribe?t={n:08x}",
    )


def reference_message(rendered: digest_render.RenderedDigest, n: int) -> bytes:
    who, url = recipient(n)
    message = EmailMessage()
    message["From"] = f"{SENDER.name} <{SENDER.address}>"
    message["To"] = f"{who.name} <{who.address}>"
    message["Subject"] = rendered.subject
    message["List-Unsubscribe"] = f"<{url}>"
    message.set_content(rendered.text.replace(rendered.unsubscribe_token, url))
    message.add_alternative(rendered.html.replace(rendered.unsubscribe_token, url), subtype="html")
    return message.as_bytes()


def build_message(rendered: digest_render.RenderedDigest, n: int) -> bytes:
    who, url = recipient(n)
    return delivery.build_message(rendered, SITE, SENDER, who, url, NOW)


def templated(rendered: digest_render.RenderedDigest) -> Callable[[int], bytes]:
    template = delivery.MessageTemplate(rendered, SITE, SENDER, NOW)

    def message(n: int) -> bytes:
        who, url = recipient(n)
        return template.render(who, url)

    return message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args()

    digest = build_digest(DAY, items(args.items), lambda c: CATEGORIES.index(c))
    page = digest_render.Page(digest, SITE, OPTIONS)
    env = environment(None)
    raw_html = render(env, HTML_TEMPLATE, page.context(FULL))
    css = source(env, INLINE_CSS)
    render_time = median_seconds(lambda: render(env, HTML_TEMPLATE, page.context(FULL)), 20)
    inline_time = median_seconds(lambda: inline_css(raw_html, css), 20)
    rendered = render_digest(digest, SITE, OPTIONS)
    total_time = median_seconds(lambda: render_digest(digest, SITE, OPTIONS), 10)

    html_kb, text_kb = len(rendered.html.encode()) / 1000, len(rendered.text.encode()) / 1000
    print(
        f"a day of {args.items} items: {len(raw_html.encode()) / 1000:.1f} KB of HTML rendered, "
        f"{html_kb:.1f} KB inlined, text {text_kb:.1f} KB, cut: {rendered.shortened or 'none'}"
    )
    print(f"  render (Jinja, HTML)                      {render_time * 1000:8.2f} ms")
    print(f"  inline (premailer)                        {inline_time * 1000:8.2f} ms")
    print(f"  render_digest (HTML, text, size budget)   {total_time * 1000:8.2f} ms")

    count = args.recipients
    timings: dict[str, float] = {}
    strategies: dict[str, Callable[[int], bytes]] = {
        "reference": lambda n: reference_message(rendered, n),
        "build_message": lambda n: build_message(rendered, n),
    }
    for name, build in strategies.items():
        start = time.perf_counter()
        size = sum(len(build(n)) for n in range(count))
        timings[name] = (time.perf_counter() - start) / count
        timings[name + " bytes"] = size / count
    start = time.perf_counter()
    message = templated(rendered)  # made once per digest variant; its cost is counted
    size = sum(len(message(n)) for n in range(count))
    timings["template"] = (time.perf_counter() - start) / count
    timings["template bytes"] = size / count
    sample = min(count, 50)
    start = time.perf_counter()
    for n in range(sample):
        build_message(render_digest(digest, SITE, OPTIONS), n)
    timings["per-recipient rendering"] = (time.perf_counter() - start) / sample

    reference = timings["reference"]
    print(
        f"\nfinal message bytes for {count:,} recipients (one message ~"
        f"{timings['template bytes'] / 1000:.0f} KB; reference ~"
        f"{timings['reference bytes'] / 1000:.0f} KB):"
    )
    print(
        f"  {'strategy':<42} {'per recipient':>14} {'all recipients':>15} {'vs reference':>13}"
        f" {'speed-up':>9}"
    )
    rows = (
        ("reference: fresh EmailMessage per recipient", "reference"),
        ("bulletin: MessageTemplate once, render each", "template"),
        ("delivery.build_message per recipient", "build_message"),
        (f"render+inline per recipient (sample {sample})", "per-recipient rendering"),
    )
    for label, key in rows:
        each = timings[key]
        print(
            f"  {label:<42} {each * 1000:11.3f} ms {each * count:13.2f} s {each / reference:12.3f}x"
            f" {reference / each:8.1f}x"
        )


if __name__ == "__main__":
    main()
