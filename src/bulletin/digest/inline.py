"""CSS inlining with premailer, set up so that it does not break the email.

Each setting below guards against one of premailer 3.10's defaults (see
shared/docs/research/email-html.md, section 1.3). The kept block, ``<style
data-premailer="ignore">``, is left as written (premailer PR #242) and loses only its marker.
"""

from __future__ import annotations

import logging

from premailer import Premailer

from bulletin.errors import PublishError

KEEP_MARKER = 'data-premailer="ignore"'

# premailer copies text-align, vertical-align, background-color, width and height into
# align/valign/bgcolor/width/height attributes on *every* styled element, also on <div> and
# <span> where they are invalid HTML. The templates write the few that Outlook needs on
# <table>/<td> by hand instead.
_NO_PRESENTATIONAL_ATTRIBUTES = ["align", "valign", "bgcolor", "width", "height"]


def inline_css(html: str, css: str) -> str:
    """``html`` with ``css`` inlined into style attributes; the kept block stays as it is."""
    inliner = Premailer(
        html,
        base_url=None,  # leave links as written: no joining, no rewriting
        css_text=[css],
        keep_style_tags=False,
        # The default strips !important from what is left in <style>, and then no media query
        # or dark-mode rule can beat the inlined styles.
        strip_important=False,
        remove_classes=False,  # the kept block's media queries select by class
        exclude_pseudoclasses=True,
        disable_validation=True,  # cssutils validation flags vendor properties and is slow
        # cssutils logs unknown properties (mso-*, -webkit-*) to stderr even with a handler
        # given; only its level silences it, and that level is process-wide.
        cssutils_logging_level=logging.CRITICAL,
        disable_basic_attributes=_NO_PRESENTATIONAL_ATTRIBUTES,
        align_floating_images=False,
        # No network and no files: a theme must not make the build depend on a server.
        allow_network=False,
        allow_loading_external_files=False,
    )
    try:
        inlined: str = inliner.transform(pretty_print=False)
    except Exception as error:  # premailer and cssutils raise a variety of errors on bad CSS
        raise PublishError(
            f"the digest's CSS cannot be inlined: {error}",
            hint="check digest.css in the theme (nested @media is not supported: premailer #290)",
        ) from error
    return inlined
