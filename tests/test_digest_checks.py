"""The digest against outside judges: the Nu HTML checker and SpamAssassin's offline rules.

Both run as programs: java with vnu.jar (npm's vnu-jar, installed into .cache/vnu by
.ci/setup.d/digest.sh; BULLETIN_VNU_JAR points elsewhere) and Debian's spamassassin with
the rules its package ships (no network: no DNS blocklists, no sa-update). Without them
these tests skip loudly, except under CI=true, where they fail. Reports are kept in
test-artifacts/digest/.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from builders import (
    ARABIC,
    DAY,
    LOCAL,
    WORLD,
    arabic_item,
    make_item,
    make_site,
    require_tool,
)
from bulletin import delivery
from bulletin.digest import (
    PREFERENCES_TOKEN,
    RenderOptions,
    build_digest,
    render_archive,
    render_digest,
    render_web_copy,
)
from bulletin.model import CategoryIndex, Recipient

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "digest"
VNU_JAR = Path(
    os.environ.get("BULLETIN_VNU_JAR")
    or ROOT / ".cache" / "vnu" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
)
ORDER = CategoryIndex(known=(WORLD, LOCAL)).order_key
FEEDS = (("Daily Bugle", "https://news.example.org/all.atom"),)
UNSUBSCRIBE = "https://news.example.org/unsubscribe?list=digest&who=reader%40example.org"
LONG = "The council met on Tuesday to discuss the budget for the coming year. " * 8

# What the Nu checker reports about email-specific markup that no mail client minds, each
# with the reason it is kept. (message pattern, extract pattern or None, reason)
VNU_NOISE = [
    (
        r"Element “meta” is missing one or more of the following attributes: “content”",
        r"x-apple-disable-message-reformatting",
        "Apple Mail reads <meta name=x-apple-disable-message-reformatting> by its name alone "
        "(it stops iOS from scaling the layout)",
    ),
    (
        r"CSS: “supported-color-schemes”: Property “supported-color-schemes” doesn't exist",
        None,
        "Apple Mail's first spelling of color-scheme, still read by older versions",
    ),
    (
        r"CSS: “mso-[a-z-]+”: Property “mso-[a-z-]+” doesn't exist",
        None,
        "Outlook for Windows (Word's engine) properties: mso-hide hides the preheader, "
        "mso-table-lspace/rspace remove gaps around tables",
    ),
    (
        r"The “(width|cellpadding|cellspacing|border|bgcolor|align)” attribute on the "
        r"“(table|td)” element is obsolete",
        None,
        "Outlook for Windows ignores CSS widths, padding and backgrounds on tables and needs "
        "these attributes (an info-level warning, not an error)",
    ),
]


def sample_items() -> list:  # type: ignore[type-arg]
    body = '<p>The agenda is on <a href="https://example.org/a?b=1&amp;c=2">the site</a>.</p>'
    link = make_item("link").with_updates(body_html=body)
    return [make_item("a1", 9), make_item("b2", 11, category=WORLD), arabic_item("c3"), link]


def documents() -> dict[str, str]:
    """Every kind of page the digest makes: emails (whole, cut, Arabic site), web copy, archive."""
    site, options = make_site(), RenderOptions(feed_links=FEEDS)
    day = build_digest(DAY, sample_items(), ORDER)
    categories = (LOCAL, WORLD, ARABIC)
    long_day = build_digest(
        DAY,
        [
            make_item(f"i{n:03}", n % 20, category=categories[n % 3], paragraphs=(LONG,) * 3)
            for n in range(200)
        ],
        ORDER,
    )
    arabic_site = make_site("ar", title="النشرة")
    emails = {
        "email": render_digest(day, site, options),
        "email-cut": render_digest(long_day, site, options),
        "email-ar-site": render_digest(day, arabic_site, options),
        "email-empty": render_digest(build_digest(DAY, [], ORDER), site, options),
    }
    # As a recipient gets them: the tokens hold no URL (vnu rightly refuses their "%%").
    url, manage = html.escape(UNSUBSCRIBE), "https://news.example.org/preferences?token=t"
    return {
        **{
            name: e.html.replace(e.unsubscribe_token, url).replace(PREFERENCES_TOKEN, manage)
            for name, e in emails.items()
        },
        "web-copy": render_web_copy(day, site, options),
        "archive": render_archive(site, [DAY, DAY.replace(day=2)], options),
    }


def nu_check(pages: dict[str, str], folder: Path, report: str) -> tuple[list[str], list[Any]]:
    """The Nu HTML checker's messages on ``pages`` (name: HTML), kept in ARTIFACTS/report."""
    java = shutil.which("java")
    require_tool(java is not None, "java (default-jre-headless)")
    require_tool(VNU_JAR.is_file(), f"the Nu HTML checker ({VNU_JAR})")
    files = []
    for name, page in pages.items():
        path = folder / f"{name}.html"
        path.write_text(page, encoding="utf-8")
        files.append(str(path))
    result = subprocess.run(
        [str(java), "-jar", str(VNU_JAR), "--format", "json", "--also-check-css", *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    messages: list[Any] = json.loads(result.stderr)["messages"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / report).write_text(json.dumps(messages, indent=1, ensure_ascii=False))
    return files, messages


def is_noise(message: dict[str, str]) -> bool:
    for pattern, extract, _reason in VNU_NOISE:
        if re.search(pattern, message.get("message", "")) and (
            extract is None or re.search(extract, message.get("extract", ""))
        ):
            return True
    return False


def test_every_page_passes_the_nu_html_checker_but_for_listed_email_noise(tmp_path: Path) -> None:
    files, messages = nu_check(documents(), tmp_path, "vnu.json")
    real = [
        f"{Path(m.get('url', '')).name}:{m.get('lastLine')}: {m['type']}: {m['message']}"
        for m in messages
        if not is_noise(m) and not (m["type"] == "info" and "subType" not in m)
    ]
    assert real == []
    assert {Path(m["url"]).name for m in messages} <= {Path(f).name for f in files}


def spam_report(message: bytes, home: Path) -> tuple[float, list[str], str]:
    """SpamAssassin's score and rules for ``message``, offline, with Bayes off."""
    spamassassin = shutil.which("spamassassin")
    require_tool(spamassassin is not None, "spamassassin")
    prefs = home / "user_prefs"
    prefs.write_text("")
    result = subprocess.run(
        [
            str(spamassassin),
            "--local",  # no network tests: no DNS blocklists, no Razor/Pyzor
            "--test-mode",
            "--prefspath",
            str(prefs),
            "--cf",
            "use_bayes 0",
            "--cf",
            "bayes_auto_learn 0",
        ],
        input=message,
        capture_output=True,
        timeout=120,
        check=True,
        env={**os.environ, "HOME": str(home)},
    )
    checked = email.message_from_bytes(result.stdout, policy=email.policy.compat32)
    status = re.sub(
        r"(?<=[A-Z0-9_]),\s+(?=[A-Z])", ",", " ".join(str(checked["X-Spam-Status"]).split())
    )
    found = re.search(r"score=(-?[\d.]+) .*tests=(\S*)", status)
    assert found, status
    rules = [rule for rule in found.group(2).split(",") if rule]
    return float(found.group(1)), rules, status


@pytest.mark.parametrize("case", ["english", "arabic-site", "cut"])
def test_the_message_gets_a_low_spamassassin_score(case: str, tmp_path: Path) -> None:
    site = make_site("ar", title="النشرة") if case == "arabic-site" else make_site()
    items = sample_items()
    if case == "cut":
        items = [make_item(f"i{n:03}", n % 20, paragraphs=(LONG,) * 3) for n in range(60)]
    rendered = render_digest(build_digest(DAY, items, ORDER), site, RenderOptions(feed_links=FEEDS))
    message = delivery.build_message(
        rendered,
        site,
        delivery.Sender("digest@news.example.org", site.title),
        Recipient("reader@example.org", "Example Reader"),
        UNSUBSCRIBE,
        datetime(2024, 3, 1, 18, 0, tzinfo=UTC),
    )
    score, rules, status = spam_report(message, tmp_path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"spamassassin-{case}.txt").write_text(status + "\n")
    print(f"spamassassin {case}: {status}")
    assert score < 2.0, status
    # The HTML and text parts say the same thing (SpamAssassin compares them).
    assert "MPART_ALT_DIFF" not in rules and "MPART_ALT_DIFF_COUNT" not in rules, status


def test_spamassassin_runs_with_its_rules_loaded(tmp_path: Path) -> None:
    """A control: GTUBE, the standard test spam, must score high, or a low score means nothing."""
    gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
    message = f"From: a@example.org\nTo: b@example.org\nSubject: test\n\n{gtube}\n".encode()
    score, rules, status = spam_report(message, tmp_path)
    assert score >= 100 and "GTUBE" in rules, status
