"""The words of the readers' pages and of the messages about their subscription, per language.

Templates get them as ``t`` (``t.email``, ``t.confirm_text``); ``{site}``, ``{address}``,
``{hours}`` and ``{date}`` are filled in by the template with ``format``. A language without
a table falls back to English, like the digest's own labels.
"""

from __future__ import annotations

from bulletin.digest.labels import FALLBACK

EN = {
    "subscribe_title": "Subscribe",
    "subscribe_intro": "Get {site} by email: one digest a day, nothing else.",
    "email": "Email address",
    "name": "Name (optional)",
    "categories": "Categories",
    "categories_hint": "Choose none to get every category.",
    "languages": "Languages",
    "languages_hint": "The digest holds the items in the languages you choose.",
    "honeypot": "Leave this field empty",
    "subscribe_button": "Subscribe",
    "altcha_needed": "This form asks your browser for a short proof of work: please allow "
    "JavaScript for this site.",
    "check_inbox_title": "Check your inbox",
    "check_inbox_text": "We have mailed {address} a link to confirm (or, if you are "
    "subscribed already, to manage your subscription). Nothing changes until you follow it; "
    "the link works for {hours} hours.",
    "confirm_title": "Confirm your subscription",
    "confirm_text": "Subscribe {address} to {site}?",
    "confirm_button": "Confirm",
    "confirmed_title": "You are subscribed",
    "confirmed_text": "{address} gets {site} from the next digest on.",
    "manage": "Manage your subscription",
    "invalid_title": "This link is not valid",
    "invalid_text": "The link is incomplete or was changed, so nothing was done. Use the link "
    "of a recent message, or reply to it and ask.",
    "expired_title": "This link has expired",
    "expired_text": "Nothing was changed. Sign up again with your address and we will mail "
    "you a new link.",
    "preferences_title": "Your subscription",
    "preferences_intro": "{site} for {address}.",
    "pause": "Pause until",
    "pause_hint": "Digests start again on this day; leave it empty for no pause.",
    "paused_status": "Paused: digests start again on {date}.",
    "save": "Save",
    "saved": "Your choices are saved.",
    "unsubscribe_title": "Unsubscribe?",
    "unsubscribe_text": "Stop sending {site} to {address}?",
    "unsubscribe_button": "Unsubscribe",
    "unsubscribed_title": "Unsubscribed",
    "unsubscribed_text": "{address} will get no more of {site}.",
    "unsubscribed_status": "You are unsubscribed: no digest goes to {address}.",
    "resubscribe_button": "Subscribe again",
    "export_title": "Your data",
    "export_text": "Download everything kept about you, as a JSON file.",
    "export_button": "Download my data",
    "erase_title": "Erase everything",
    "erase_text": "Delete your subscription and everything kept about you. Only a one-way hash "
    "of your address is kept, so that nothing mails it again. This cannot be undone.",
    "erase_confirm": "Yes, erase everything about me",
    "erase_button": "Erase",
    "erased_title": "Erased",
    "erased_text": "Nothing about you is kept any more, and nothing will be mailed to you again.",
    "refused_title": "This form could not be accepted",
    "refused_text": "Nothing was changed. Load the page again and send the form from there.",
    "too_many_title": "Too many requests",
    "too_many_text": "Nothing was changed. Please wait a while and try again.",
    "bad_address": "That is not an email address we can mail: {problem}",
    "not_found_title": "Not found",
    "not_found_text": "There is nothing here.",
    "not_allowed_title": "Not allowed",
    "not_allowed_text": "This address does not answer that kind of request.",
    "confirm_subject": "Confirm your subscription to {site}",
    "confirm_mail": "Someone, probably you, asked to receive {site} at this address.\n\n"
    "To confirm, open this link and press the button on the page:",
    "confirm_mail_end": "The link works for {hours} hours. If you did not ask, ignore this "
    "message: nothing will be sent to you.",
    "manage_subject": "Your subscription to {site}",
    "manage_mail": "Someone, probably you, asked to sign this address up for {site}. It is "
    "subscribed already.\n\nTo change what you get, pause it or unsubscribe, open:",
    "welcome_subject": "Welcome to {site}",
    "welcome_mail": "You are subscribed to {site}: the next digest comes to this address.",
    "welcome_mail_manage": "Change what you get, pause or unsubscribe at any time:",
}

AR = {
    "subscribe_title": "الاشتراك",
    "subscribe_intro": "تصلك {site} بالبريد الإلكتروني: نشرة واحدة في اليوم، لا أكثر.",
    "email": "عنوان البريد الإلكتروني",
    "name": "الاسم (اختياري)",
    "categories": "الأقسام",
    "categories_hint": "إن لم تختر شيئًا تصلك كل الأقسام.",
    "languages": "اللغات",
    "languages_hint": "تحمل النشرة الأخبار باللغات التي تختارها.",
    "honeypot": "اترك هذا الحقل فارغًا",
    "subscribe_button": "اشترك",
    "altcha_needed": "يطلب هذا النموذج من متصفحك إثبات عمل قصيرًا: فعّل جافاسكربت لهذا الموقع.",
    "check_inbox_title": "تفقّد بريدك",
    "check_inbox_text": "أرسلنا إلى {address} رابطًا للتأكيد (أو لإدارة اشتراكك إن كنت مشتركًا "
    "من قبل). لا يتغير شيء حتى تفتحه، ويعمل الرابط {hours} ساعة.",
    "confirm_title": "أكّد اشتراكك",
    "confirm_text": "أتريد اشتراك {address} في {site}؟",
    "confirm_button": "أكّد الاشتراك",
    "confirmed_title": "تم اشتراكك",
    "confirmed_text": "تصل {site} إلى {address} ابتداءً من النشرة القادمة.",
    "manage": "إدارة اشتراكك",
    "invalid_title": "هذا الرابط غير صالح",
    "invalid_text": "الرابط ناقص أو معدَّل، فلم يتغير شيء. استعمل رابط رسالة حديثة، "
    "أو ردّ عليها واطلب.",
    "expired_title": "انتهت صلاحية هذا الرابط",
    "expired_text": "لم يتغير شيء. اشترك من جديد بعنوانك وسنرسل إليك رابطًا جديدًا.",
    "preferences_title": "اشتراكك",
    "preferences_intro": "{site} لـ {address}.",
    "pause": "إيقاف مؤقت حتى",
    "pause_hint": "تعود النشرات في هذا اليوم؛ اتركه فارغًا إن لم ترد الإيقاف.",
    "paused_status": "الاشتراك موقوف: تعود النشرات في {date}.",
    "save": "احفظ",
    "saved": "حُفظت اختياراتك.",
    "unsubscribe_title": "إلغاء الاشتراك؟",
    "unsubscribe_text": "أتريد إيقاف إرسال {site} إلى {address}؟",
    "unsubscribe_button": "ألغِ الاشتراك",
    "unsubscribed_title": "أُلغي الاشتراك",
    "unsubscribed_text": "لن تصل {site} إلى {address} بعد الآن.",
    "unsubscribed_status": "اشتراكك ملغى: لا تُرسل نشرات إلى {address}.",
    "resubscribe_button": "اشترك من جديد",
    "export_title": "بياناتك",
    "export_text": "نزّل كل ما نحفظه عنك في ملف JSON.",
    "export_button": "نزّل بياناتي",
    "erase_title": "احذف كل شيء",
    "erase_text": "احذف اشتراكك وكل ما نحفظه عنك. لا يبقى إلا بصمة لعنوانك لا تُعكس، كي لا يراسله "
    "شيء بعد اليوم. لا رجعة في هذا.",
    "erase_confirm": "نعم، احذف كل ما يخصني",
    "erase_button": "احذف",
    "erased_title": "حُذفت بياناتك",
    "erased_text": "لم يعد شيء عنك محفوظًا، ولن يُرسل إليك شيء بعد اليوم.",
    "refused_title": "تعذّر قبول هذا النموذج",
    "refused_text": "لم يتغير شيء. أعد تحميل الصفحة وأرسل النموذج منها.",
    "too_many_title": "طلبات كثيرة",
    "too_many_text": "لم يتغير شيء. انتظر قليلًا ثم أعد المحاولة.",
    "bad_address": "هذا ليس عنوان بريد يمكننا مراسلته: {problem}",
    "not_found_title": "غير موجود",
    "not_found_text": "لا شيء هنا.",
    "not_allowed_title": "غير مسموح",
    "not_allowed_text": "هذا العنوان لا يجيب عن هذا النوع من الطلبات.",
    "confirm_subject": "أكّد اشتراكك في {site}",
    "confirm_mail": "طلب أحدٌ، لعلّه أنت، أن تصله {site} على هذا العنوان.\n\n"
    "للتأكيد افتح هذا الرابط واضغط الزر في الصفحة:",
    "confirm_mail_end": "يعمل الرابط {hours} ساعة. إن لم تطلب ذلك فتجاهل هذه الرسالة: "
    "لن يُرسل إليك شيء.",
    "manage_subject": "اشتراكك في {site}",
    "manage_mail": "طلب أحدٌ، لعلّه أنت، اشتراك هذا العنوان في {site}، وهو مشترك من قبل.\n\n"
    "لتغيير ما يصلك أو إيقافه مؤقتًا أو إلغاء الاشتراك افتح:",
    "welcome_subject": "مرحبًا بك في {site}",
    "welcome_mail": "اشتركت في {site}: تصل النشرة القادمة إلى هذا العنوان.",
    "welcome_mail_manage": "غيّر ما يصلك أو أوقفه مؤقتًا أو ألغِ اشتراكك متى شئت:",
}

PAGE_LABELS: dict[str, dict[str, str]] = {"en": EN, "ar": AR}


def page_labels_for(language: str) -> dict[str, str]:
    """The pages' words in ``language`` ("ar", "en-GB"), else in English."""
    tag = language.replace("_", "-").lower()
    return PAGE_LABELS.get(tag) or PAGE_LABELS.get(tag.split("-", 1)[0]) or PAGE_LABELS[FALLBACK]
