"""Scrubbing personal data and secrets out of imported logs, before anything is stored.

Why placeholders and not deletion: routing depends on the shape of a prompt (its length, that it holds
an e-mail address or a card number), so each value becomes a stable placeholder (``<EMAIL_1>``; the same
value gets the same placeholder everywhere in one import) and the prompt keeps its shape. The report says
how many values of each kind were replaced, never the values.

Offline and model-free: candidates are found with patterns and then checked with maintained libraries
where one exists: ``phonenumbers`` (Google's libphonenumber metadata) decides what is a phone number,
``python-stdnum`` checks card numbers (Luhn) and IBANs (ISO 7064 mod 97), the standard library's
``ipaddress`` checks IP addresses. Names come from a list the user gives (one a line); no model guesses them.
A digit run that fails its checksum stays as it is (an order number is not a card number).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import phonenumbers
from stdnum import iban, luhn

__all__ = ["Scrubber", "KINDS"]

#: The kinds replaced, in the order they are looked for (secrets first: a key may contain digit runs).
KINDS = ("API_KEY", "EMAIL", "IBAN", "CARD", "IP", "PHONE", "NAME")

_SECRET = re.compile(
    r"\bBearer\s+[A-Za-z0-9._~+/=-]{8,}"                       # an Authorization header's token
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"                      # OpenAI-style keys (sk-..., sk-proj-...)
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"                          # AWS access key ids
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}\b"                         # GitHub tokens
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"                         # Slack tokens
    r"|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"  # JWTs
    r"|(?<![A-Za-z0-9])[0-9a-fA-F]{32,}(?![A-Za-z0-9])")       # long hex secrets
# long base64 secrets (AWS secret keys...): 40+ characters mixing digits, upper and lower case (checked after)
_B64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_IPV4 = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
_DIGITS = re.compile(r"[0-9]")
# a phone number has at least 7 digits with only separators between them: no such run, no (slow) matcher
# (nor for a digit run inside an identifier such as a request id: "chatcmpl-00012345")
_PHONE_HINT = re.compile(r"(?<![A-Za-z0-9_\-])[0-9](?:[\s().\-/]{0,3}[0-9]){6,}(?![A-Za-z_])")


class Scrubber:
    """Replaces secrets and personal data in text with stable placeholders; counts per kind."""

    def __init__(self, names: Iterable[str] = (), region: str = "US"):
        self.region = region
        self.counts: Counter[str] = Counter()  # values replaced, per kind (occurrences)
        self._seen: dict[str, dict[str, str]] = {k: {} for k in KINDS}
        wanted = sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True)
        self._names = re.compile(r"\b(?:" + "|".join(map(re.escape, wanted)) + r")\b", re.IGNORECASE) \
            if wanted else None

    def _placeholder(self, kind: str, value: str) -> str:
        self.counts[kind] += 1
        seen = self._seen[kind]
        key = value.casefold() if kind in ("EMAIL", "NAME") else value
        if key not in seen:
            seen[key] = f"<{kind}_{len(seen) + 1}>"
        return seen[key]

    def _sub(self, pattern: re.Pattern[str], kind: str, text: str,
             check: Callable[[str], bool] | None = None) -> str:
        def repl(m: re.Match[str]) -> str:
            value = m.group(0)
            return self._placeholder(kind, value) if check is None or check(value) else value

        return pattern.sub(repl, text)

    def text(self, text: str) -> str:
        """``text`` with every secret and personal value replaced."""
        if not text:
            return text
        text = self._sub(_SECRET, "API_KEY", text)
        text = self._sub(_B64, "API_KEY", text, _mixed)
        if "@" in text:
            text = self._sub(_EMAIL, "EMAIL", text)
        if _DIGITS.search(text) is None:
            return self._sub(self._names, "NAME", text) if self._names is not None else text
        text = self._sub(_IBAN, "IBAN", text, lambda v: iban.is_valid(v.replace(" ", "")))
        text = self._sub(_CARD, "CARD", text, _is_card)
        text = self._sub(_IPV4, "IP", text, _is_ip)
        if ":" in text:
            text = self._sub(_IPV6, "IP", text, _is_ip)
        text = self._phones(text)
        if self._names is not None:
            text = self._sub(self._names, "NAME", text)
        return text

    def _phones(self, text: str) -> str:
        if _PHONE_HINT.search(text) is None:
            return text
        out, last = [], 0
        for m in phonenumbers.PhoneNumberMatcher(text, self.region):
            out.append(text[last:m.start])
            out.append(self._placeholder("PHONE", phonenumbers.format_number(
                m.number, phonenumbers.PhoneNumberFormat.E164)))
            last = m.end
        return "".join(out) + text[last:] if out else text

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string in it scrubbed (keys too: a metadata key may hold a name)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        return value

    def report(self) -> dict[str, dict[str, int]]:
        """Per kind: occurrences replaced and distinct values (counts only, never the values)."""
        return {k: {"replaced": self.counts[k], "distinct": len(self._seen[k])} for k in KINDS if self.counts[k]}


def _mixed(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isupper() for c in value) and any(c.islower() for c in value)


def _is_card(value: str) -> bool:
    digits = value.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
