"""Email blocks as an email-safe HTML fragment: Jinja2 templates shipped in service/templates/ (or the ones
in RECS_TEMPLATE_DIR, file by file), autoescaped, tables and inline styles only.

Every item link carries the block's recommendation id as a query parameter (RECS_LINK_PARAM, default
`rid`), added to whatever query the catalog URL already has, so a click on the store's page can be sent
back as a `click` event with its `recommendation_id`. Prices are formatted with Babel (CLDR), in the item's
currency.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from babel.numbers import format_currency
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

SHIPPED = Path(__file__).resolve().parent.parent / "templates"
#: The template rendered for one recipient; it includes `email_item.html` for each item.
TEMPLATE = "email_blocks.html"
#: Catalog fields the HTML needs, embedded whatever `fields` asked for.
HTML_FIELDS = ("title", "price", "currency", "url", "image_url")
#: Headings of the shipped template, per block.
HEADINGS = {"recommended": "Picked for you", "buy_again": "Time to stock up?", "new_for_you": "New for you",
            "follow_up": "Goes well with your purchase"}


def with_param(url: str, name: str, value: str) -> str:
    """`url` with the query parameter `name` set to `value` (replacing any `name` it had; other parameters,
    their order and the fragment are kept)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    query.append((name, value))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def money(price: float | None, currency: str | None, locale: str = "en_US") -> str:
    """A price as the locale writes it in `currency` ("$19.99", "¥2,000"); "" when unknown."""
    if price is None or not currency:
        return ""
    return format_currency(price, currency, locale=locale)


@functools.lru_cache(maxsize=8)
def environment(template_dir: str | None) -> Environment:
    """The Jinja2 environment: RECS_TEMPLATE_DIR's files first, the shipped ones for the rest."""
    loaders = [FileSystemLoader(template_dir)] if template_dir else []
    env = Environment(loader=ChoiceLoader([*loaders, FileSystemLoader(str(SHIPPED))]),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = money
    env.filters["with_param"] = with_param
    return env


def render(blocks: dict[str, dict], user_id: str, link_param: str, template_dir: Path | None = None) -> str:
    """One recipient's blocks (service.serving.email_blocks.user_blocks) as an HTML fragment.

    Raises
    ------
    jinja2.TemplateError
        A template in RECS_TEMPLATE_DIR does not parse or render.
    """
    template = environment(str(template_dir) if template_dir else None).get_template(TEMPLATE)
    return template.render(blocks=blocks, user_id=user_id, link_param=link_param, headings=HEADINGS)
