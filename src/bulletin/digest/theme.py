"""The theme: where templates and CSS are found, and the Jinja environment that renders them.

The operator's folder (``digest.templates``) comes first, then the default theme, which also
answers to ``default/<name>``: an override named ``digest.html.j2`` can then write
``{% extends "default/digest.html.j2" %}`` instead of extending itself, which recurses without
end. HTML templates are autoescaped, text templates are not.
"""

from __future__ import annotations

import functools
import re
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from bulletin.errors import PublishError

HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"
INDEX_TEMPLATE = "digest-index.html.j2"
INLINE_CSS = "digest.css"
KEEP_CSS = "digest-keep.css"
TEXT_WIDTH = 72
# Gmail drops every <style> of a message once they add up to more than 16 KB
# (hteumeuleu/email-bugs#90), and with them the mobile and dark-mode rules.
KEEP_CSS_LIMIT = 16_000
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_SPACE = re.compile(r"\s*\n\s*")


def default_templates_dir() -> Path:
    """The default theme: ``templates/`` of a checkout, else the copy packaged in the wheel."""
    checkout = Path(__file__).resolve().parents[3] / "templates"
    if (checkout / HTML_TEMPLATE).is_file():
        return checkout
    # pyproject force-includes templates/ into the wheel as bulletin/templates.
    return Path(str(resources.files("bulletin") / "templates"))


def environment(templates_dir: Path | None) -> jinja2.Environment:
    """The environment for a theme folder (None: the defaults only).

    Cached, as compiling the templates costs as much as a whole render (about 13 ms). Jinja
    notices an edited template by its modification time, but not a file added to the
    operator's folder that now hides a default: the folder's listing is part of the cache key.
    """
    if templates_dir is None:
        return _environment(None, ())
    if not templates_dir.is_dir():  # FileSystemLoader would silently skip it
        raise PublishError(
            f"digest.templates: {templates_dir} is not a folder",
            hint="create it, or remove digest.templates to use the default theme",
        )
    listing = tuple(sorted(str(p.relative_to(templates_dir)) for p in templates_dir.rglob("*")))
    return _environment(templates_dir, listing)


@functools.lru_cache(maxsize=8)
def _environment(templates_dir: Path | None, _listing: tuple[str, ...]) -> jinja2.Environment:
    defaults = jinja2.FileSystemLoader(default_templates_dir())
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(templates_dir))
    loaders += [defaults, jinja2.PrefixLoader({"default": defaults})]
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        # select_autoescape() alone would leave *.html.j2 unescaped: it matches on the last
        # suffix only, so name the double suffixes.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2"),
            disabled_extensions=("txt", "txt.j2"),
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = wrap
    return env


def render(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    """Template ``name`` rendered; template errors become ``PublishError``s naming the file."""
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as error:
        where = f"{error.filename or error.name}:{error.lineno}"
        raise PublishError(f"{where}: {error.message}", hint="fix the template") from error
    except jinja2.TemplateError as error:
        raise PublishError(
            f"template {name}: {error}",
            hint="check the template's names against the variables documented at its top",
        ) from error


def source(env: jinja2.Environment, name: str) -> str:
    """A theme file's text, found like a template but not rendered (CSS is not Jinja)."""
    assert env.loader is not None
    try:
        return env.loader.get_source(env, name)[0]
    except jinja2.TemplateNotFound as error:
        raise PublishError(f"theme file {name} not found", hint="restore it") from error


def keep_css(env: jinja2.Environment) -> Markup:
    """The kept ``<style>`` block's CSS, without comments; ``Markup`` so it is not escaped
    (``&#39;`` inside ``<style>`` is never decoded and breaks the rule)."""
    css = _CSS_SPACE.sub("\n", _CSS_COMMENT.sub("", source(env, KEEP_CSS))).strip()
    if "</" in css:
        raise PublishError(f"{KEEP_CSS}: contains '</', which would end the <style> element")
    size = len(css.encode())
    if size > KEEP_CSS_LIMIT:
        raise PublishError(
            f"{KEEP_CSS} is {size:,} bytes; Gmail drops all <style> above {KEEP_CSS_LIMIT:,}",
            hint="move rules that a style attribute can express to digest.css",
        )
    return Markup(css)


def wrap(text: str, width: int = TEXT_WIDTH) -> str:
    """Text folded at ``width`` columns; words longer than that (URLs) stay whole."""
    return textwrap.fill(
        " ".join(text.split()), width=width, break_long_words=False, break_on_hyphens=False
    )


def tidy_text(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"
