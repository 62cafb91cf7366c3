"""The findings' sentences for staff, in Spanish and English (pure).

Each built-in code has one format string per locale over the finding's facts and
`{target}`. `{n:día|días}` picks the singular or the plural by the number `n`, and
`{n:none|one|many}` words nothing, one and many apart (fields may nest in each form).
"""

from __future__ import annotations

from string import Formatter
from typing import Any

from mailtickets.assistant.findings import Finding, Severity

LOCALES = ("es", "en")
FALLBACK_LOCALE = "en"
# The redirects an answer came after, if any.
_VIA_ES = "{hops:| tras {hops} redirección| tras {hops} redirecciones}"
_VIA_EN = "{hops:| after {hops} redirect| after {hops} redirects}"

SENTENCES: dict[str, dict[str, str]] = {
    "dns_nxdomain": {
        "es": "el dominio {target} no existe (NXDOMAIN)",
        "en": "the domain {target} does not exist (NXDOMAIN)",
    },
    "dns_address": {"es": "{target} apunta a {addresses}", "en": "{target} points to {addresses}"},
    "dns_no_address": {
        "es": "{target} no tiene dirección IP (ni A ni AAAA)",
        "en": "{target} has no IP address (no A or AAAA)",
    },
    "dns_private_address": {
        "es": "{target} apunta a una dirección no pública ({addresses})",
        "en": "{target} points to a non-public address ({addresses})",
    },
    "dns_mx": {"es": "MX de {target}: {hosts}", "en": "MX of {target}: {hosts}"},
    "dns_no_mx": {
        "es": "el dominio {target} no tiene registro MX",
        "en": "the domain {target} has no MX record",
    },
    "dns_ns": {"es": "NS de {target}: {hosts}", "en": "NS of {target}: {hosts}"},
    "dns_no_ns": {
        "es": "{target} no tiene registros NS propios",
        "en": "{target} has no NS records of its own",
    },
    "dns_spf": {"es": "SPF de {target}: {record}", "en": "SPF of {target}: {record}"},
    "dns_no_spf": {
        "es": "el dominio {target} no tiene registro SPF",
        "en": "the domain {target} has no SPF record",
    },
    "dns_many_spf": {
        "es": "el dominio {target} tiene {count} registros SPF (solo puede haber uno)",
        "en": "the domain {target} has {count} SPF records (there may be only one)",
    },
    "dns_dmarc": {"es": "DMARC de {target}: {record}", "en": "DMARC of {target}: {record}"},
    "dns_no_dmarc": {
        "es": "el dominio {target} no tiene registro DMARC",
        "en": "the domain {target} has no DMARC record",
    },
    "dns_failed": {
        "es": "no se pudo consultar {rdtype} de {target}: {error}",
        "en": "could not look up {rdtype} of {target}: {error}",
    },
    "http_ok": {
        "es": "{target} responde {status} en {ms} ms" + _VIA_ES,
        "en": "{target} answers {status} in {ms} ms" + _VIA_EN,
    },
    "http_slow": {
        "es": "{target} responde {status} pero tarda {ms} ms" + _VIA_ES,
        "en": "{target} answers {status} but takes {ms} ms" + _VIA_EN,
    },
    "http_client_error": {
        "es": "{target} responde {status}" + _VIA_ES,
        "en": "{target} answers {status}" + _VIA_EN,
    },
    "http_server_error": {
        "es": "{target} responde {status} (error del servidor)" + _VIA_ES,
        "en": "{target} answers {status} (server error)" + _VIA_EN,
    },
    "http_unreachable": {
        "es": "{target} no responde: {error}",
        "en": "{target} does not answer: {error}",
    },
    "http_tls_error": {
        "es": "{target} no abre con un certificado válido: {error}",
        "en": "{target} does not open with a valid certificate: {error}",
    },
    "http_too_many_redirects": {
        "es": "{target}: más de {max} redirecciones",
        "en": "{target}: more than {max} redirects",
    },
    "http_redirect_refused": {
        "es": "{target} redirige a {location}, que no se siguió: {why}",
        "en": "{target} redirects to {location}, not followed: {why}",
    },
    "tls_ok": {
        "es": "certificado de {target} válido, caduca en {days} {days:día|días}",
        "en": "certificate of {target} valid, expires in {days} {days:day|days}",
    },
    "tls_expiring": {
        "es": "el certificado de {target} caduca en {days} {days:día|días}",
        "en": "the certificate of {target} expires in {days} {days:day|days}",
    },
    "tls_expired": {
        "es": "certificado de {target} caducado hace {days} {days:día|días}",
        "en": "certificate of {target} expired {days} {days:day|days} ago",
    },
    "tls_wrong_name": {
        "es": "el certificado de {target} no es para ese nombre (vale para {names})",
        "en": "the certificate of {target} is not for that name (it is for {names})",
    },
    "tls_untrusted": {
        "es": "el certificado de {target} no es de confianza: {error}",
        "en": "the certificate of {target} is not trusted: {error}",
    },
    "tls_failed": {
        "es": "no se pudo leer el certificado de {target}: {error}",
        "en": "could not read the certificate of {target}: {error}",
    },
    "smtp_ok": {
        "es": "el servidor de correo {target} responde y ofrece STARTTLS: {banner}",
        "en": "the mail server {target} answers and offers STARTTLS: {banner}",
    },
    "smtp_no_starttls": {
        "es": "el servidor de correo {target} no ofrece STARTTLS (el correo viaja sin cifrar)",
        "en": "the mail server {target} does not offer STARTTLS (mail travels unencrypted)",
    },
    "smtp_rejects": {
        "es": "el servidor de correo {target} rechaza la conexión: {banner}",
        "en": "the mail server {target} refuses the connection: {banner}",
    },
    "smtp_unreachable": {
        "es": "el servidor de correo {target} no responde: {error}",
        "en": "the mail server {target} does not answer: {error}",
    },
    "smtp_no_mx": {
        "es": "{target} no tiene MX: no se probó su correo",
        "en": "{target} has no MX: its mail server was not tried",
    },
    "refused": {
        "es": "no se conectó a {target}: {address} es una dirección {kind_es} no permitida",
        "en": "did not connect to {target}: {address} is a {kind} address, not allowed",
    },
    "check_timeout": {
        "es": "la comprobación {check} no terminó en {seconds} s",
        "en": "the {check} check did not finish within {seconds} s",
    },
    "check_failed": {
        "es": "la comprobación {check} falló: {error}",
        "en": "the {check} check failed: {error}",
    },
    "check_unloadable": {
        "es": "la comprobación {check} no se pudo cargar: {error}",
        "en": "the {check} check could not be loaded: {error}",
    },
}

SEVERITY_LABELS: dict[str, dict[Severity, str]] = {
    "es": {"problem": "PROBLEMA", "warning": "AVISO", "info": "INFO", "ok": "BIEN"},
    "en": {"problem": "PROBLEM", "warning": "WARNING", "info": "INFO", "ok": "OK"},
}
# How safety.py's kinds of address read in Spanish.
ADDRESS_KINDS_ES = {
    "loopback": "de loopback",
    "private": "privada",
    "link-local": "de enlace local",
    "multicast": "multicast",
    "reserved": "reservada",
    "unspecified": "sin especificar",
    "shared": "compartida (CGNAT)",
    "non-global": "no pública",
}


class _Plurals(Formatter):
    """`{n:one|many}` or `{n:zero|one|many}`: the words for the number n; any other spec
    as str.format has it."""

    def format_field(self, value: Any, format_spec: str) -> str:
        forms = format_spec.split("|")
        if len(forms) == 3:
            return forms[0] if value == 0 else forms[1] if value == 1 else forms[2]
        if len(forms) == 2:
            return forms[0] if value == 1 else forms[1]
        return str(format(value, format_spec))


_FORMATTER = _Plurals()


def locale_of(locale: str) -> str:
    return locale if locale in LOCALES else FALLBACK_LOCALE


def sentence(finding: Finding, locale: str) -> str:
    """The finding as one sentence for staff in `locale` (es, en; else English)."""
    locale = locale_of(locale)
    forms = SENTENCES.get(finding.code) or finding.texts
    form = forms.get(locale) or forms.get(FALLBACK_LOCALE) or next(iter(forms.values()), "")
    facts = {"check": finding.check, **finding.facts, "target": finding.target}
    if finding.code == "refused":
        facts["kind_es"] = ADDRESS_KINDS_ES.get(str(facts.get("kind", "")), "no permitida")
    try:
        return _FORMATTER.format(form, **facts) if form else _plain(finding)
    except (KeyError, IndexError, ValueError):  # a fact missing: say what was seen instead
        return _plain(finding)


def label(severity: Severity, locale: str) -> str:
    return SEVERITY_LABELS[locale_of(locale)][severity]


def _plain(finding: Finding) -> str:
    return f"{finding.check} {finding.target}: {finding.seen}"
