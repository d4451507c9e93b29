"""The words the digest itself says ("Unsubscribe", "Read more"), per language.

The templates get the site's ``Labels`` as ``labels`` and each item's as ``entry.labels``, so an
Arabic item in an English digest says "اقرأ المزيد" inside its ``lang="ar"`` block. A language
without a table falls back to English. Counts use CLDR plural rules through Babel: Arabic has six
forms (zero, one, two, few, many, other), English two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bulletin.languages import plural_form

FALLBACK = "en"


@dataclass(frozen=True)
class Labels:
    """One language's labels; ``{site}`` and ``{count}`` are filled in where they appear."""

    language: str
    view_in_browser: str
    all_digests: str
    digests_title: str
    feeds: str
    all_items: str
    unsubscribe: str
    received_from: str
    source: str
    read_more: str
    nothing_today: str
    preheader_empty: str
    # {count} more items of a section, left out of the email to keep it under Gmail's clip.
    more_items: Mapping[str, str] = field(default_factory=dict)
    # The footer's link to the recipient's preferences, and the web copy's sign-up form.
    manage: str = "Manage your subscription"
    signup: str = "Get this digest by email"
    signup_button: str = "Sign up"
    email: str = "Email address"

    def more(self, count: int) -> str:
        """ "3 more items in the full digest online", in the plural form ``count`` takes."""
        form = plural_form(self.language, count)
        template = self.more_items.get(form) or self.more_items["other"]
        return template.format(count=count)


LABELS: dict[str, Labels] = {
    "en": Labels(
        language="en",
        view_in_browser="View this digest in your browser",
        all_digests="All digests",
        digests_title="Digests",
        feeds="Feeds",
        all_items="Everything",
        unsubscribe="Unsubscribe",
        received_from="You receive this digest from {site}.",
        source="Source",
        read_more="Read more",
        nothing_today="Nothing today: no news was published on this day.",
        preheader_empty="Nothing today.",
        more_items={
            "one": "{count} more item in the full digest online",
            "other": "{count} more items in the full digest online",
        },
        manage="Manage your subscription",
        signup="Get this digest by email",
        signup_button="Sign up",
        email="Email address",
    ),
    "ar": Labels(
        language="ar",
        view_in_browser="اعرض هذه النشرة في المتصفح",
        all_digests="كل النشرات",
        digests_title="أرشيف النشرات",
        feeds="الخلاصات",
        all_items="كل الأخبار",
        unsubscribe="إلغاء الاشتراك",
        received_from="تصلك هذه النشرة من {site}.",
        source="المصدر",
        read_more="اقرأ المزيد",
        nothing_today="لا جديد اليوم: لم تُنشر أخبار في هذا اليوم.",
        preheader_empty="لا جديد اليوم.",
        more_items={
            "one": "خبر واحد آخر في النشرة الكاملة على الموقع",
            "two": "خبران آخران في النشرة الكاملة على الموقع",
            "few": "{count} أخبار أخرى في النشرة الكاملة على الموقع",
            "many": "{count} خبرًا آخر في النشرة الكاملة على الموقع",
            "other": "{count} خبر آخر في النشرة الكاملة على الموقع",
        },
        manage="إدارة اشتراكك",
        signup="اشترك لتصلك هذه النشرة بالبريد",
        signup_button="اشترك",
        email="عنوان البريد الإلكتروني",
    ),
}


def labels_for(language: str, fallback: Labels | None = None) -> Labels:
    """The labels of a language tag ("ar", "en-GB"): its own table, its base language's, else
    ``fallback`` (the site's, for an item), else English."""
    tag = language.replace("_", "-").lower()
    found = LABELS.get(tag) or LABELS.get(tag.split("-", 1)[0])
    return found or fallback or LABELS[FALLBACK]
