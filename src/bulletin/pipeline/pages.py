"""The readers' pages as the web application asks for them: a page of the theme by name, in
a language the site offers, with the choices a form shows (the digest package renders it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bulletin import digest
from bulletin.pipeline.context import RunContext

Choices = list[tuple[str, str, bool]]  # (value, name, checked) for each box of a form

NOTICE, SUBSCRIBE, PREFERENCES = digest.NOTICE, digest.SUBSCRIBE, digest.PREFERENCES


class Pages:
    """Renders the readers' pages of a deployment."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.languages = ctx.web.languages

    def language(self, asked: str | None, chosen: Iterable[str] | None = None) -> str:
        """The page's language: the one asked for if offered, else a reader's only one, else
        the site's first."""
        if asked in self.languages:
            return str(asked)
        mine = sorted(chosen or ())
        return mine[0] if len(mine) == 1 else self.languages[0]

    def render(self, template: str, language: str, heading: str, /, **context: Any) -> str:
        """Page ``template`` in ``language``, headed by the words named ``heading``."""
        return digest.render_page(
            self.ctx.digest.templates, template, self.ctx.site, language, heading, context
        )

    def words(self, language: str) -> dict[str, str]:
        """The pages' words in ``language`` (to fill in a notice's paragraphs)."""
        return dict(digest.words(language))

    def choices(
        self, categories: frozenset[str] | None, languages: frozenset[str] | None
    ) -> tuple[Choices, Choices]:
        """The category and language boxes of a form, ticked as chosen (None: none ticked)."""
        boxes = [
            (c.slug, c.name, categories is not None and c.slug in categories)
            for c in self.ctx.categories.known
        ]
        tongues = [
            (code, name, languages is not None and code in languages)
            for code, name in digest.language_names(list(self.languages))
        ]
        return boxes, tongues
