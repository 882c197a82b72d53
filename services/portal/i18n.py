"""The portal's languages: gettext catalogues read from ``.po`` files at start, no build step.

Templates and code use English msgids; ``locale/<lang>/LC_MESSAGES/messages.po`` translates
them. English is the identity. Adding a language (Norwegian, say) is adding a catalogue.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "sv"
"""Swedish unless the visitor asks for another language."""
FALLBACKS = {"nb": "sv"}
"""Where a catalogue lacks a message, the language shown instead of the English msgid: a
Norwegian reads Swedish more easily than English (the nb catalogue covers the residents'
pages; staff pages fall back)."""


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


class Catalogues:
    """Every language with a catalogue, and translation into each."""

    def __init__(self, directory: Path = LOCALE_DIR, default: str = DEFAULT_LANGUAGE) -> None:
        self._translations: dict[str, Translations] = {}
        for po in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            language = po.parent.parent.name
            with po.open("rb") as fp:
                catalog = read_po(fp, locale=language, domain=DOMAIN)
            # Compiled in memory: the repository holds only the .po text.
            compiled = BytesIO()
            write_mo(compiled, catalog)
            compiled.seek(0)
            self._translations[language] = Translations(compiled, domain=DOMAIN)
        for language, fallback in FALLBACKS.items():
            if language in self._translations and fallback in self._translations:
                self._translations[language].add_fallback(self._translations[fallback])
        if default not in self._translations:
            raise RuntimeError(f"no catalogue for the default language {default!r} in {directory}")
        self.default = default
        others = sorted(lang for lang in self._translations if lang != default)
        self.languages: tuple[str, ...] = (default, *others)
        """Language codes, the default first."""

    def choose(self, *candidates: str | None) -> str:
        """The first candidate that has a catalogue, else the default language."""
        for candidate in candidates:
            if candidate and candidate in self._translations:
                return candidate
        return self.default

    def gettext(self, language: str, message: str) -> str:
        """``message`` in ``language`` (the message itself when untranslated)."""
        return self._translations[self.choose(language)].gettext(message)

    def ngettext(self, language: str, singular: str, plural: str, n: int) -> str:
        """The singular or plural form of a message for ``n``, in ``language``."""
        return self._translations[self.choose(language)].ngettext(singular, plural, n)

    @staticmethod
    def language_name(language: str) -> str:
        """A language's name in that language, e.g. ``svenska``, ``English``, ``norsk bokmål``."""
        try:
            name = Locale.parse(language).get_display_name(language)
        except (UnknownLocaleError, ValueError):
            return language
        if not name:
            return language
        # Shown as a menu item: capitalised whatever the language's own convention.
        return name[:1].upper() + name[1:]
