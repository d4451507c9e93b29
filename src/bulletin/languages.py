"""What bulletin knows of languages from CLDR, through Babel (its one importer): month names,
plural forms, and dates written out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_interval, get_month_names


class UnknownLanguage(ValueError):
    """A language tag CLDR has no data for."""


def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language.replace("-", "_"))
    except (ValueError, UnknownLocaleError) as error:
        raise UnknownLanguage(str(error)) from error


def month_names(locale: str) -> Iterator[tuple[int, str]]:
    """(number, name) of every month in ``locale``: wide and abbreviated, in both contexts."""
    for width in ("wide", "abbreviated"):
        for context in ("format", "stand-alone"):
            for number, name in get_month_names(width, context, locale).items():
                yield int(number), name


def plural_form(language: str, count: int) -> str:
    """The CLDR plural category ``count`` takes in ``language`` ("other" when unknown)."""
    try:
        return str(_locale(language).plural_form(count))
    except UnknownLanguage:
        return "other"


def format_day(day: date, language: str) -> str:
    """The day written out in full ("Saturday, November 28, 2026"); ``UnknownLanguage`` if the
    language has no date formats."""
    return str(format_date(day, format="full", locale=_locale(language)))


def format_days(first: date, last: date, language: str) -> str:
    """A span of days written out ("Nov 24 – 26, 2026")."""
    return str(format_interval(first, last, skeleton="yMMMd", locale=_locale(language)))


def language_name(code: str) -> str:
    """The name of language ``code`` written in itself ("English", "العربية"), as language
    pickers show them; the code when CLDR does not know it."""
    try:
        name = _locale(code).get_display_name(_locale(code))
    except UnknownLanguage:
        return code
    return str(name) if name else code
