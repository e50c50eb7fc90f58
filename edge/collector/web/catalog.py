"""Keep the translations complete: `python -m edge.collector.web.catalog [--check]`.

Extracts every marked string of the dashboard (templates: `_()`, `gettext`, `ngettext`; Python under
edge/collector/web: `gettext`, `ngettext`, `N_`) plus the sentences of the feedback rules, their
caveats and the not-judged reasons (`edge.session.feedback.RULES`, `CAVEATS`, `REASON_TEMPLATES`, shown
translated on the session page), writes `locale/messages.pot`, merges it into each language's `.po`
(new strings empty, dropped ones removed, changed ones marked fuzzy, which the dashboard does not use),
and lists what still needs a translation. `--check` changes
nothing and exits 1 when a translation is missing or stale (tests/test_dashboard.py runs it).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from edge.collector.web.i18n import DEFAULT_LOCALE, DOMAIN, LOCALE_DIR, LOCALES, po_path

WEB_DIR = Path(__file__).resolve().parent
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                    "lstrip_blocks": "true"}}  # fmt: skip


def template() -> Catalog:
    """Every msgid the dashboard shows, with where it comes from."""
    from edge.session.feedback import CAVEATS, REASON_TEMPLATES, RULES

    cat = Catalog(project="ppt-edge", domain=DOMAIN, fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(WEB_DIR), METHODS, OPTIONS, keywords=DEFAULT_KEYWORDS, strip_comment_tags=True
    ):
        cat.add(message, locations=[(f"edge/collector/web/{filename}", lineno)], auto_comments=comments,
                context=context)  # fmt: skip
    for rule in RULES:
        cat.add(rule.message, locations=[("edge/session/feedback.py", 0)],
                auto_comments=[f"feedback rule {rule.code}: {{value}} and {{threshold}} are percentages"])  # fmt: skip
    for key, sentence in CAVEATS.items():
        cat.add(sentence, locations=[("edge/session/feedback.py", 0)],
                auto_comments=[f"caveat {key}: ends a finding's sentence"])
    for template in REASON_TEMPLATES:
        cat.add(template, locations=[("edge/session/feedback.py", 0)],
                auto_comments=["why a measure was not judged: {p} {c} are percentages, {n} {counted} {minimum} counts"])
    return cat


def _po_bytes(cat: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, cat, width=100, sort_output=False, omit_header=False, include_lineno=False)
    return buf.getvalue()


def problems(locale: str, pot: Catalog) -> list[str]:
    """Messages of `pot` that `locale` lacks, leaves empty, or marks fuzzy."""
    path = po_path(locale)
    if not path.exists():
        return [f"{path} is missing"]
    with path.open("rb") as f:
        po = read_po(f, locale=locale, domain=DOMAIN)
    out = []
    for msg in pot:
        if not msg.id:
            continue
        have = po.get(msg.id, context=msg.context)
        key = msg.id if isinstance(msg.id, str) else msg.id[0]
        if have is None:
            out.append(f"missing: {key!r}")
        elif have.fuzzy:
            out.append(f"fuzzy (the English changed): {key!r}")
        elif not (all(have.string) if isinstance(have.string, tuple) else have.string):
            out.append(f"untranslated: {key!r}")
    return out


def update(pot: Catalog) -> None:
    LOCALE_DIR.mkdir(parents=True, exist_ok=True)
    (LOCALE_DIR / f"{DOMAIN}.pot").write_bytes(_po_bytes(pot))
    for locale in LOCALES:
        if locale == DEFAULT_LOCALE:
            continue
        path = po_path(locale)
        if path.exists():
            with path.open("rb") as f:
                po = read_po(f, locale=locale, domain=DOMAIN)
        else:
            po = Catalog(locale=locale, project="ppt-edge", domain=DOMAIN)
        po.update(pot, update_header_comment=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_po_bytes(po))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.collector.web.catalog", description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a translation is missing")
    args = p.parse_args(argv)
    pot = template()
    if not args.check:
        update(pot)
    failed = False
    for locale in LOCALES:
        if locale == DEFAULT_LOCALE:
            continue
        found = problems(locale, pot)
        print(f"{locale}: {len(pot)} messages, {len(found)} to do", file=sys.stderr)
        for line in found:
            print(f"  {line}", file=sys.stderr)
        failed = failed or bool(found)
    return 1 if failed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
