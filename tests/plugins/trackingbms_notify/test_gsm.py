"""One SMS: GSM-7 septets (extension characters count twice) or UCS-2 units, trimmed with an ellipsis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from trackingbms_notify.gsm import GSM_BASIC, GSM_EXTENSION, fit_sms, is_gsm, length


def test_gsm_alphabet_sizes_match_the_standard() -> None:
    # 3GPP TS 23.038 §6.2.1: 128 codes of which 0x1B is the escape to the extension table (not a character).
    assert len(GSM_BASIC) == 127
    assert len(GSM_EXTENSION) == 10


def test_lengths() -> None:
    assert length("Cell high") == ("gsm7", 9, 160)
    assert length("€5 [ok]") == ("gsm7", 10, 160)  # €, [ and ] take two septets each
    assert length("Température 58 °C") == ("ucs2", 17, 70)  # ° is not in the GSM alphabet
    assert length("ok 🔋") == ("ucs2", 5, 70)  # beyond the BMP: two UTF-16 units
    assert is_gsm("àéèùìò ÄÖÜ ñ ß Ç") and not is_gsm("ê") and not is_gsm("ç")


def test_trimming() -> None:
    text = "a" * 159 + "€"  # 161 septets
    trimmed = fit_sms(text)
    assert trimmed == "a" * 157 + "..." and length(trimmed)[1] == 160
    assert fit_sms("a" * 160) == "a" * 160
    assert fit_sms("é" * 80 + "ê") == "é" * 69 + "…"
    assert fit_sms("x" * 68 + "🔋🔋") == "x" * 68 + "…"  # a surrogate pair is never cut in half
    assert fit_sms("a" * 156 + " bbbbbbbb") == "a" * 156 + "..."  # no space left before the ellipsis


@given(st.text(max_size=400))
def test_any_text_fits_one_sms_and_keeps_its_beginning(text: str) -> None:
    result = fit_sms(text)
    _, used, limit = length(result)
    assert used <= limit
    if length(text)[1] <= length(text)[2]:
        assert result == text
    else:
        stem = result.removesuffix("...") if result.endswith("...") else result.removesuffix("…")
        assert text.startswith(stem)
