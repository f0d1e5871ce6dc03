"""Fitting a text into one SMS: 160 GSM-7 characters, or 70 when it needs UCS-2."""

from __future__ import annotations

from collections.abc import Callable

# One SMS carries 140 octets of user data (3GPP TS 23.040 §9.2.3.16, TP-User-Data-Length).
# In the GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1) a character is a 7-bit septet:
# 140 * 8 / 7 = 160 characters. The characters of the extension table (§6.2.1.1) are sent as
# ESC + code, two septets each. A text with any character outside both tables must be sent in
# UCS-2, 16 bits per character: 140 / 2 = 70 characters; characters beyond the Basic Multilingual
# Plane (emoji) take two 16-bit units (gateways send UTF-16). Longer texts would be split into
# concatenated parts with fewer characters each (153 / 67) and billed per part, so an alert
# notification is trimmed to a single part instead.
GSM_LIMIT = 160
UCS2_LIMIT = 70
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")


def is_gsm(text: str) -> bool:
    """Whether every character has a GSM-7 code (basic or extension table)."""
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


def gsm_cost(ch: str) -> int:
    """Septets a character takes in GSM-7."""
    return 2 if ch in GSM_EXTENSION else 1


def ucs2_cost(ch: str) -> int:
    """16-bit units a character takes in UCS-2 / UTF-16."""
    return 2 if ord(ch) > 0xFFFF else 1


def length(text: str) -> tuple[str, int, int]:
    """(encoding, units used, units allowed in one SMS) of a text."""
    if is_gsm(text):
        return "gsm7", sum(map(gsm_cost, text)), GSM_LIMIT
    return "ucs2", sum(map(ucs2_cost, text)), UCS2_LIMIT


def fit_sms(text: str) -> str:
    """The text, trimmed with an ellipsis when it does not fit in one SMS."""
    encoding, used, limit = length(text)
    if used <= limit:
        return text
    # "…" is not in the GSM alphabet: a GSM text ends with "..." so it stays GSM (and 160 long).
    if encoding == "gsm7":
        return _trim(text, limit, gsm_cost, "...")
    return _trim(text, limit, ucs2_cost, "…")


def _trim(text: str, limit: int, cost: Callable[[str], int], ellipsis: str) -> str:
    budget, used = limit - sum(map(cost, ellipsis)), 0
    for end, ch in enumerate(text):
        used += cost(ch)
        if used > budget:
            return text[:end].rstrip() + ellipsis
    return text
