"""A seeded generator of realistic Spanish support mail, for benchmarks.

What a Spanish hosting company's soporte@ mailbox receives: customers of a pool of a few
hundred (accented names, company domains and public providers) writing about mail that does
not work, sites that are down, certificates, domains, invoices, DNS, FTP, databases and
backups, from Gmail, Outlook, Apple Mail, Thunderbird, Roundcube, Yahoo and iPhone Mail,
each with its own headers, MIME layout, HTML and quoting style. The default mix is the one
the ingest benchmark asks for: 14 % replies (each to an earlier mail of the same sender in
the same corpus), 18 % with attachments, 58 % with an HTML alternative, about 31 KB a mail.

Pure standard library and deterministic: the same seed gives the same bytes.

    python bench/corpus.py --count 500 --out /tmp/corpus [--seed 1] [--big-mb 25]

    from bench.corpus import big_mail, generate, iter_mails, summary
"""

from __future__ import annotations

import argparse
import base64
import binascii
import html
import io
import json
import math
import random
import re
import string
import sys
import textwrap
import time
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from statistics import NormalDist

SUPPORT = "soporte@hosting.example"

REPLY_SHARE = 0.14
ATTACHMENT_SHARE = 0.18
HTML_SHARE = 0.58
ATTACHMENT_KB = 57  # median size of an attachment, before base64
CUSTOMERS = 300
# The first mail's date; later ones follow in order (Europe/Madrid, across the October
# change from summer to winter time).
START = datetime(2026, 10, 19, 6, 40, tzinfo=UTC)


@dataclass(frozen=True)
class CorpusMail:
    raw: bytes  # RFC 5322 bytes, CRLF line endings
    message_id: str  # "<...>"
    sender: str  # bare address
    is_reply: bool
    has_attachment: bool
    has_html: bool


def generate(
    count: int, seed: int = 1, *, domain_tag: str = "", support: str = SUPPORT
) -> list[CorpusMail]:
    """`count` mails in date order. A different domain_tag gives other Message-IDs."""
    return list(iter_mails(count, seed, domain_tag=domain_tag, support=support))


def iter_mails(
    count: int, seed: int = 1, *, domain_tag: str = "", support: str = SUPPORT
) -> Iterator[CorpusMail]:
    """The mails of generate(), one at a time: the same bytes, without holding them all."""
    _check_tag(domain_tag)
    if count < 0:
        raise ValueError("count must not be negative")
    return _Generator(seed, domain_tag, support).mails(count)


def big_mail(
    size_bytes: int = 25 * 1024 * 1024,
    seed: int = 1,
    *,
    domain_tag: str = "",
    support: str = SUPPORT,
) -> CorpusMail:
    """One customer mail carrying a website backup (.zip of random bytes, base64) so that
    the whole mail is about size_bytes long."""
    _check_tag(domain_tag)
    return _Generator(seed, domain_tag, support).big(size_bytes)


def summary(mails: Iterable[CorpusMail]) -> dict[str, float | int]:
    """Count, bytes and shares, for a benchmark to print."""
    count = total = replies = attachments = htmls = largest = 0
    for mail in mails:
        count += 1
        total += len(mail.raw)
        largest = max(largest, len(mail.raw))
        replies += mail.is_reply
        attachments += mail.has_attachment
        htmls += mail.has_html

    def share(n: int) -> float:
        return round(n / count, 4) if count else 0.0

    return {
        "count": count,
        "total_bytes": total,
        "total_mb": round(total / 1_000_000, 2),
        "average_kb": round(total / count / 1000, 1) if count else 0.0,
        "largest_kb": round(largest / 1000, 1),
        "replies": share(replies),
        "attachments": share(attachments),
        "html": share(htmls),
    }


def _check_tag(tag: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9-]{0,40}", tag):
        raise ValueError("domain_tag: up to 40 letters, digits or hyphens")


def _list(text: str) -> tuple[str, ...]:
    """A comma-separated list written across lines."""
    return tuple(w.strip() for w in text.split(",") if w.strip())


# --- Phrases --------------------------------------------------------------------------
#
# One section per kind of phrase; a line starting with two spaces continues the one above.
# {placeholders} are filled per mail (see _Generator.context); the register keys ({os},
# {podeis}…) follow the customer's tú/usted habit.

_PHRASES = """
[greeting]
Hola,
Hola, buenos días.
Buenos días,
Buenos días:
Buenas tardes,
Buenas tardes:
Hola buenas,
Buenas,
Hola equipo de soporte,
Estimados señores:
Hola de nuevo,
Buenos días, soporte:

[greeting_usted]
Buenos días,
Buenas tardes,
Estimados señores:
Muy señores míos:
Buenos días:

[closing]
Quedo a la espera de {vuestra} respuesta.
Gracias de antemano.
Muchas gracias por {vuestra} ayuda.
Espero {vuestras} noticias.
Por favor, {decidme} algo lo antes posible.
Si necesitáis algún dato más, decídmelo.
Cualquier cosa me llamáis al {mobile}.
Os agradecería que lo mirarais hoy mismo si es posible.
Perdonad las molestias.
Gracias y un saludo.

[closing_usted]
Quedo a la espera de su respuesta.
Gracias de antemano por su atención.
Les agradecería una respuesta lo antes posible.
Pueden llamarme al {mobile} si lo necesitan.
Disculpen las molestias.
Reciban un cordial saludo.

[signoff]
Un saludo,
Un saludo.
Saludos,
Saludos cordiales,
Muchas gracias,
Gracias,
Atentamente,
Un abrazo,
Saludos.

[general]
Mi número de cliente es el {cliente}.
Tenemos contratado el {plan} desde hace {years} años y hasta ahora no habíamos tenido problemas.
No soy muy experta en estos temas, así que si me lo {podeis} explicar paso a paso mejor.
La web nos la hizo una agencia con la que ya no trabajamos y no tenemos todos los datos.
Ya {os} llamé por teléfono {fecha} y me dijeron que escribiera un correo con los detalles.
Es bastante urgente porque perdemos ventas cada hora que pasa.
Estoy en la oficina toda la mañana, mi teléfono es el {phone}.
No hemos tocado nada, de un día para otro dejó de funcionar.
Lo he probado desde el ordenador de la oficina y desde el móvil y pasa lo mismo.
El contrato está a nombre de {company_or_name}.
¿Es algo de {vuestro} servidor o tenemos que llamar a nuestro informático?
Hace unas semanas {os} escribí por algo parecido y se solucionó, pero ha vuelto a pasar.
Nuestro informático dice que por su parte está todo bien y que es cosa del hosting.
Si hace falta que {os} dé acceso a algo, {decidmelo} y lo preparo.
Por cierto, el panel de control me va lentísimo desde hace unos días.
Lo necesitamos funcionando antes del {deadline} porque tenemos una campaña preparada.
He mirado la página de estado de {vuestra} web pero no pone nada de incidencias.
Somos una empresa pequeña y la web es nuestra principal fuente de clientes.

[snippet_intro]
{Os} copio el error que me sale:
El mensaje exacto es este:
Me aparece esto en pantalla:
Este es el error:
Copio y pego lo que sale:
Al intentarlo me devuelve lo siguiente:
{Os} pongo el error tal cual:
Me ha llegado este aviso:

[log_intro]
{Os} pego el log que me ha pasado el informático:
Pego aquí abajo las últimas líneas del log:
He sacado esto del registro de errores del panel:
{Os} copio lo que aparece en el log de {site}:
El programador me ha pedido que {os} mande esto:
Esto es lo que sale en el log, no sé si {os} sirve:

[attach.png]
{Os} adjunto una captura de pantalla del error.
Adjunto la captura para que lo {veais}.
{Os} adjunto lo que me sale en pantalla.
Adjunto pantallazo.
{Os} mando una foto de la pantalla, que no sé hacer capturas.

[attach.pdf]
Adjunto el documento.
{Os} adjunto la factura en PDF.
{Os} mando adjunto el documento que me {pediais}.
Adjunto el PDF para que lo {veais}.

[attach.log]
Va adjunto el log completo.
{Os} adjunto el fichero de log que me ha pasado el informático.
Adjunto el registro de errores.

[attach.zip]
{Os} adjunto un zip con los archivos.
Va adjunto el zip con lo que me {pediais}.
Adjunto comprimido con los archivos de la web.

[forward_note]
{Os} reenvío el correo que le mandé a nuestro informático, así {teneis} toda la información.
Reenvío lo que le escribí a la agencia que nos lleva la web; dicen que es cosa del hosting.
{Os} reenvío este correo, lo mandé por error a otra dirección.
Reenvío para que lo {veais}, es lo mismo que le conté al técnico.

[reply_info]
{perdonad}, se me olvidó {deciros} que el problema empezó {fecha}.
Añado una cosa más: ahora tampoco funciona desde el móvil.
Mi compañero {colleague_first} dice que a él le pasa lo mismo desde su ordenador.
Me corrijo: no es desde {fecha}, es desde un poco antes.
{Os} paso mi móvil por si es más fácil llamarme: {mobile}.
Otra cosa: ¿me {podeis} decir si esto entra en el soporte del {plan} o se cobra aparte?
He encontrado más información, {os} la pongo abajo.
{olvidad} lo de la contraseña, ya la he encontrado. Lo demás sigue pasando.
Se me olvidaba: el número de cliente es el {cliente}.

[reply_still]
Acabo de probar otra vez y sigue exactamente igual.
Sigo igual, ¿{habeis} podido mirarlo?
{Os} escribo de nuevo porque no he recibido respuesta y sigue sin funcionar.
{Os} recuerdo que es urgente, tenemos clientes esperando.
Al final he reiniciado el router y nada, sigue igual.
Perdón por insistir, pero seguimos sin poder trabajar.
Esta mañana ha vuelto a pasar lo mismo.

[reply_solved]
Ya se ha solucionado solo, pero me gustaría saber qué ha pasado para que no se repita.
Parece que ya funciona, muchas gracias.
{olvidad} este correo, era un problema de nuestro router. Ya va todo bien.
Ya está resuelto, lo ha arreglado nuestro informático. {podeis_cap} cerrar la incidencia.

[mobile_extra]
Es urgente.
¿{podeis_cap} mirarlo? Gracias
{llamadme} al {mobile} cuando {podais}.
Luego {os} mando más detalles desde el ordenador.
Perdonad las faltas, escribo desde el móvil.
Estoy fuera de la oficina, {os} escribo desde el móvil.

[disclaimer]
AVISO LEGAL: Este mensaje y sus archivos adjuntos van dirigidos exclusivamente a su
  destinatario, pudiendo contener información confidencial sometida a secreto profesional.
  No está permitida su reproducción o distribución sin la autorización expresa de
  {company}. Si usted no es el destinatario final por favor elimínelo e infórmenos por esta
  vía.
PROTECCIÓN DE DATOS: De conformidad con el Reglamento (UE) 2016/679 (RGPD) y la Ley
  Orgánica 3/2018 (LOPDGDD), le informamos de que sus datos forman parte de un fichero
  responsabilidad de {company}, con la finalidad de mantener la relación comercial. Puede
  ejercer sus derechos de acceso, rectificación, supresión, limitación, portabilidad y
  oposición dirigiéndose a {email}.
Antes de imprimir este correo electrónico, piense bien si es necesario hacerlo: el medio
  ambiente es cosa de todos.

[correo.subject]
No funciona el correo
correo no funciona
Problema con el correo de {site}
No recibimos correos desde {fecha}
No puedo enviar correos
Error al enviar correo desde Outlook
Los correos rebotan
URGENTE - sin correo en la oficina
El buzón {mailbox} no recibe
Los correos llegan a spam en Gmail
Correo: me pide la contraseña todo el rato
Buzón lleno

[correo.intro]
Desde {fecha} no nos llegan correos a {mailbox}.
Desde {fecha} no podemos enviar correos desde ninguna de las cuentas de {site}.
Los mensajes que enviamos a clientes con Gmail rebotan o acaban en la carpeta de spam.
Al enviar un correo desde Outlook me sale un error y se queda en la bandeja de salida.
Una compañera no puede recibir correos en su cuenta desde {fecha}, el resto de la oficina sí.
Varios clientes nos dicen que los correos que nos mandan a {mailbox} les vuelven devueltos.
El móvil me pide la contraseña del correo una y otra vez aunque la pongo bien.
Me ha llegado un aviso de que el buzón {mailbox} está casi lleno y ya no recibe nada.

[correo.detail]
He revisado la cuenta y el servidor de salida es smtp.{host}, puerto 587 con STARTTLS.
Desde el webmail sí puedo entrar y veo los mensajes, pero en Outlook no descarga nada.
¿Puede ser que el buzón esté lleno? En el panel pone que tengo {quota_used} de {quota}.
El antivirus de la oficina lo hemos desactivado para probar y sigue igual.
Recibimos los pedidos por email, así que sin correo no podemos trabajar.
He cambiado la contraseña desde el panel por si acaso, pero tampoco.
Los correos entre nosotros sí llegan, los de fuera no.
A algunos clientes de Hotmail sí les llegan, a los de Gmail casi nunca.
¿Tenemos bien configurados el SPF y el DKIM? No sé muy bien qué es, me lo ha dicho un cliente.
Tenemos unas {n} cuentas de correo y les pasa a todas.
Me gustaría que me {dijerais} qué configuración tengo que poner en el iPhone.

[web.subject]
La web no funciona
URGENTE: web caída
Web caída
www.{site} no carga
No se ve la página web
Nuestra página está caída desde {fecha}
la web va lentísima
Problema con la tienda online
Página en blanco
Web muy lenta

[web.intro]
Nuestra página www.{site} no carga desde {fecha}.
La web está caída, al entrar en {url} se queda cargando y al final da error.
La página va lentísima desde {fecha}, tarda más de {n} segundos en abrir.
Al entrar en www.{site} sale la página completamente en blanco.
La tienda online no deja terminar los pedidos, se queda en el paso del pago.
Varios clientes nos han llamado diciendo que no pueden entrar en la web.

[web.detail]
Desde el móvil con datos tampoco carga, así que no es cosa de nuestra conexión.
He probado en Chrome, Firefox y Edge y en todos pasa lo mismo.
La parte de administración ({url}) tampoco abre.
Ayer por la tarde actualizamos unos plugins de WordPress, no sé si tendrá que ver.
Nos pasa sobre todo por las mañanas, por la tarde a veces va bien.
En Google Search Console nos aparecen muchos errores de servidor desde {fecha}.
He vaciado la caché del navegador como ponía en {vuestra} guía y nada.
¿Nos han atacado? Hemos visto usuarios raros dados de alta en la tienda.
El PageSpeed nos da un {n} sobre 100 y antes teníamos más de 80.

[error500.subject]
Error 500 en la web
Error 500 Internal Server Error
error 500 al entrar en wp-admin
HTTP ERROR 500
Error interno del servidor en {site}
Error 500 después de actualizar PHP

[error500.intro]
Al entrar en {url} nos sale un error 500.
Desde {fecha} la web da "Internal Server Error" en casi todas las páginas.
Después de actualizar WordPress nos aparece un error 500 y no podemos entrar en el panel.
Tras cambiar la versión de PHP a la {php_new} desde el panel la web da error 500.
Algunas páginas funcionan pero el carrito y la página de pago dan error 500.

[error500.detail]
He vuelto a poner PHP {php_old} y sigue igual.
El desarrollador dice que puede ser el límite de memoria de PHP, ¿se puede subir a 512M?
He renombrado la carpeta de plugins como pone en internet y ahora sale otro error.
¿Me podéis decir dónde veo el log de errores? En el panel no lo encuentro.
El fichero .htaccess no lo hemos tocado, creo.
En modo depuración sale un error de un plugin de formularios.

[ssl.subject]
Certificado SSL caducado
certificado ssl caducado
Certificado caducado en www.{site}
La web sale como no segura
Aviso de seguridad en la web: "La conexión no es privada"
Renovación certificado SSL
Problema con el candado de la web

[ssl.intro]
Al entrar en www.{site} el navegador dice que la conexión no es privada.
Nos ha llegado un aviso de que el certificado SSL de {site} caduca en {n} días.
Los clientes nos dicen que les sale un aviso de seguridad al entrar en la web.
El certificado de {site} ha caducado {fecha} y la web aparece como no segura.

[ssl.detail]
Pensaba que el certificado se renovaba solo con Let's Encrypt.
En el panel el certificado aparece como activo, pero el navegador dice otra cosa.
Solo pasa con www delante; sin www la web carga bien con el candado.
También nos sale el aviso en el correo cuando el Outlook se conecta al servidor.
¿Tenemos que comprar un certificado de pago o entra en el {plan}?
La tienda online necesita el certificado para los pagos con tarjeta.

[dominio.subject]
Renovar dominio
Renovación del dominio {site}
Renovación dominio {site}
¿Cuándo caduca el dominio?
Aviso de caducidad del dominio
Transferencia de dominio
Registro de un dominio nuevo

[dominio.intro]
Nos ha llegado un correo diciendo que el dominio {site} caduca el día {deadline}.
Queremos renovar el dominio {site} por {n} años.
Querría transferir a {vosotros} un dominio que tenemos con {provider}.
Queremos registrar también el dominio con .com y que apunte a la misma web.
Me ha llegado un correo de renovación del dominio y no sé si es vuestro o es un timo.

[dominio.detail]
¿El pago se hace con la tarjeta que {teneis} guardada o tengo que hacer una transferencia?
Si hace falta el código de autorización, {decidme} dónde lo consigo.
El dominio está a nombre de {company_or_name}, con el CIF de la empresa.
No queremos perder el dominio bajo ningún concepto, tenemos todo el correo ahí.
En el panel aparece como "pendiente de renovación" desde hace días.

[migracion.subject]
Migración WordPress
Migración de WordPress a {vuestro} servidor
Cambio de hosting
Traslado de la web desde {provider}
Ayuda con la migración
Migración de la web y el correo

[migracion.intro]
Queremos traer la web de {site} desde {provider} a {vuestro} servidor.
Estamos migrando el WordPress de {site} y al terminar nos sale "Error establishing a database
  connection".
Hemos contratado el {plan} para mover la web y el correo desde {provider}.
He subido la copia de la web por FTP pero al entrar solo se ve la página por defecto.

[migracion.detail]
La web es un WordPress con WooCommerce y unos {n} productos.
La base de datos pesa unos {dbsize} MB; ¿la puedo importar desde phpMyAdmin?
No queremos perder ningún correo durante el cambio, ¿cómo lo hacemos?
¿Cuándo cambiemos los DNS la web dejará de funcionar un rato?
¿La migración la {haceis} {vosotros} o la tenemos que hacer nosotros?
En wp-config.php he puesto el nombre de la base de datos {db} y el usuario que me disteis.
El plugin de migración se queda parado al {n} % y no avanza.

[factura.subject]
Factura
Consulta factura {invoice}
Factura duplicada
Cobro duplicado en la tarjeta
Cambio de datos de facturación
Solicitud de factura
Factura nº {invoice}
Baja del servicio

[factura.intro]
Hemos recibido la factura {invoice} por {importe} y creo que hay un error.
Nos {habeis} cobrado dos veces la misma factura ({invoice}) en la tarjeta.
Necesito una copia de la factura {invoice} para la gestoría.
Queremos cambiar los datos de facturación a nombre de {company_or_name}.
Querríamos dar de baja el {plan} a partir del mes que viene.

[factura.detail]
{Os} adjunto el extracto del banco donde se ven los dos cargos.
El CIF correcto es {cif}, en la factura pone otro.
Necesitamos que en la factura aparezca la dirección fiscal nueva.
¿Me la {podeis} mandar en PDF? En el panel no me deja descargarla.
La cuenta para domiciliar los recibos es la que termina en {n}.
Nuestra gestoría cierra el trimestre esta semana, así que es urgente.

[dns.subject]
DNS
Cambio de DNS
Cambiar registros DNS
Configurar registros MX
Apuntar el dominio a otro servidor
Registro TXT para Google
Los DNS no se actualizan

[dns.intro]
Necesito añadir un registro TXT en el dominio {site} para verificarlo en Google.
Queremos que el dominio {site} apunte a la IP {ip} para una web nueva.
Cambié los DNS {fecha} y el dominio sigue apuntando al servidor antiguo.
Vamos a usar Microsoft 365 para el correo y nos piden cambiar los registros MX.

[dns.detail]
En el panel no me deja crear el registro, dice que el valor no es válido.
Ya han pasado más de 48 horas y sigue sin propagarse.
El correo tiene que seguir funcionando con vosotros, solo cambia la web.
El técnico de la otra empresa me ha pedido un CNAME para autodiscover.
¿Cuál es el TTL que tenéis puesto? Creo que está muy alto.

[ftp.subject]
No puedo conectar por FTP
Problema FTP
FTP no funciona
Acceso FTP
Error de conexión FileZilla

[ftp.intro]
No consigo conectarme por FTP a {site} con FileZilla.
El FTP me da error de usuario o contraseña incorrectos desde {fecha}.
Necesito un usuario FTP para el diseñador que nos está haciendo la web nueva.
Al subir archivos por FTP se corta la conexión a los pocos segundos.

[ftp.detail]
El usuario es {ftpuser} y el servidor ftp.{site}, puerto 21.
Con SFTP por el puerto 22 tampoco conecta.
Antes funcionaba perfectamente con la misma configuración.
¿Puede que nos {hayais} bloqueado la IP por intentar conectar muchas veces?
Estoy detrás de la red de la oficina, desde casa no lo he probado.

[bbdd.subject]
Base de datos llena
Error base de datos
La base de datos ha superado el límite
Espacio en disco agotado
Error establishing a database connection

[bbdd.intro]
Nos ha llegado un aviso de que la base de datos {db} ha superado el límite del {plan}.
La web muestra "Error establishing a database connection" desde {fecha}.
Al guardar cambios en WordPress sale un error de que la tabla está llena.
El panel dice que hemos ocupado el {n} % del espacio contratado.

[bbdd.detail]
No sé qué ocupa tanto, la web es bastante sencilla.
¿Se puede ampliar solo la base de datos sin cambiar de plan?
Creo que es la tabla de logs de un plugin de seguridad, ¿la puedo vaciar sin romper nada?
En phpMyAdmin veo que la tabla wp_options pesa más de {dbsize} MB.

[backup.subject]
Copias de seguridad
Restaurar copia de seguridad
Recuperar copia de seguridad del día {dia}
Necesito una copia de seguridad
Borré archivos por error
¿Hacéis copias de seguridad?

[backup.intro]
Necesito recuperar la copia de seguridad de la web del día {dia}.
Hemos borrado por error una carpeta de la web y necesitamos restaurarla.
Un compañero borró varios correos importantes de {mailbox} y queremos recuperarlos.
¿Cada cuánto {haceis} copias de seguridad de la web y del correo?

[backup.detail]
Lo que necesitamos es la carpeta wp-content/uploads, lo demás está bien.
Si la restauración tiene coste, decidme cuánto antes de hacerla.
Solo necesitamos los correos de la bandeja de entrada, no la web.
Me gustaría descargar yo misma una copia completa para guardarla en el ordenador.
¿Cuántos días de copias {guardais}?

[panel.subject]
No puedo entrar en el panel
Acceso al panel de control
He olvidado la contraseña
Cambio de contraseña
Acceso bloqueado

[panel.intro]
No consigo entrar en el panel de control, me dice que el usuario o la contraseña no son válidos.
He olvidado la contraseña del panel y no me llega el correo para recuperarla.
Me aparece que la cuenta está bloqueada por demasiados intentos.
Necesito dar acceso al panel a nuestro nuevo informático.

[panel.detail]
El correo de recuperación iba a una cuenta que ya no existe.
El usuario del panel creo que es {email}.
Puedo demostrar que soy el titular, {os} mando el DNI si hace falta.
Ya he probado a restablecer la contraseña dos veces.

[php.subject]
Actualización de PHP
Aviso de versión PHP obsoleta
Cambio de versión PHP
Deprecated en la web

[php.intro]
Nos ha llegado un aviso de que la versión {php_old} de PHP dejará de tener soporte.
Al cambiar a PHP {php_new} nos salen avisos de "Deprecated" en toda la web.
Queremos actualizar el PHP de {site}, pero nos da miedo que se rompa algo.

[php.detail]
¿Se puede probar la versión nueva sin que afecte a la web de producción?
El tema de WordPress es antiguo y no sé si es compatible.
¿Tiene coste quedarse en la versión antigua?

"""


def _load_phrases(text: str) -> dict[str, tuple[str, ...]]:
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
        elif line.startswith("  "):
            current[-1] += " " + line.strip()
        elif line.strip():
            current.append(line.strip())
    return {key: tuple(lines) for key, lines in sections.items()}


_PHRASE = _load_phrases(_PHRASES)

_REGISTER = {
    # key: (tú / vosotros, usted / ustedes)
    "os": ("os", "les"),
    "podeis": ("podéis", "pueden"),
    "vuestro": ("vuestro", "su"),
    "vuestra": ("vuestra", "su"),
    "vuestras": ("vuestras", "sus"),
    "decidme": ("decidme", "díganme"),
    "dijerais": ("dijerais", "dijeran"),
    "Os": ("Os", "Les"),
    "veais": ("veáis", "vean"),
    "pediais": ("pedíais", "pedían"),
    "habeis": ("habéis", "han"),
    "llamadme": ("Llamadme", "Llámenme"),
    "podais": ("podáis", "puedan"),
    "podeis_cap": ("Podéis", "Pueden"),
    "haceis": ("hacéis", "hacen"),
    "vosotros": ("vosotros", "ustedes"),
    "teneis": ("tenéis", "tienen"),
    "hayais": ("hayáis", "hayan"),
    "guardais": ("guardáis", "guardan"),
    "perdonad": ("Perdonad", "Disculpen"),
    "deciros": ("deciros", "decirles"),
    "olvidad": ("Olvidad", "Olviden"),
    "decidmelo": ("decídmelo", "díganmelo"),
}

_TOPICS = {
    # topic: (weight, snippet kinds, log kinds, attachment kinds)
    "correo": (18, ("smtp_error", "outlook_error", "bounce"), ("maillog",), ("png", "log")),
    "web": (13, ("browser_down", "curl"), ("access_log",), ("png", "png", "log")),
    "error500": (10, ("php_fatal", "curl"), ("error_log", "debug_log"), ("png", "log")),
    "ssl": (8, ("browser_ssl", "openssl"), (), ("png",)),
    "dominio": (6, (), (), ("pdf",)),
    "migracion": (7, ("wp_db", "php_fatal"), ("error_log", "mysql"), ("zip", "png")),
    "factura": (8, (), (), ("pdf", "pdf")),
    "dns": (7, ("dig",), ("dig_long",), ("png",)),
    "ftp": (6, ("ftp_short",), ("filezilla",), ("png", "log")),
    "bbdd": (5, ("mysql_full",), ("mysql",), ("png",)),
    "backup": (6, (), (), ("zip", "png")),
    "panel": (4, ("panel",), (), ("png",)),
    "php": (2, ("php_deprecated",), ("debug_log",), ("log",)),
}

_KEYS = {
    *_list("""
    site, url, email, mailbox, colleague_first, company_or_name, company, cliente, plan,
    years, phone, mobile, fecha, deadline, dia, n, invoice, importe, ip, php_old, php_new,
    quota, quota_used, db, dbsize, ftpuser, provider, host, cif
    """),
    *_REGISTER,
}


def _check_phrases() -> None:
    for key, lines in _PHRASE.items():
        for text in lines:
            for _, name, _, _ in string.Formatter().parse(text):
                if name is not None and name not in _KEYS:
                    raise AssertionError(f"[{key}] unknown placeholder {{{name}}}: {text}")
    for topic in _TOPICS:
        for part in ("subject", "intro", "detail"):
            assert _PHRASE[f"{topic}.{part}"], (topic, part)


_check_phrases()

# --- People ---------------------------------------------------------------------------


_MEN = _list("""
    José, Antonio, Manuel, Francisco, David, Javier, Daniel, Carlos, Miguel, Alejandro,
    Pablo, Sergio, Jesús, Raúl, Andrés, Óscar, Ramón, Adrián, Álvaro, Víctor, Martín,
    Rubén, Joaquín, Sebastián, Tomás, Agustín, Iñaki, Aitor, Xabier, Jordi, Pau, Iker,
    Unai, Juan Carlos, José Luis, Juan Antonio, Luis Miguel, Francisco Javier,
    José Manuel, Íñigo, Fermín, Nicolás, Germán, Julián, Rafael, Ángel, Lucas, Hugo,
    Gonzalo
""")
_WOMEN = _list("""
    María, Carmen, Ana, Laura, Marta, Elena, Cristina, Isabel, Lucía, Sofía, Paula, Sara,
    Irene, Raquel, Beatriz, Silvia, Patricia, Rosa, Pilar, Dolores, Begoña, Nuria, Rocío,
    Concepción, Inés, Mónica, Verónica, Noelia, Míriam, Montserrat, Arantxa, Ainhoa,
    Núria, Maite, María José, María Ángeles, Ana Belén, María del Mar, Mari Carmen,
    Ángela, Leticia, Sonia, Yolanda, Esther, Amparo, Encarnación, Remedios, Itziar
""")
_SURNAMES = _list("""
    García, Martínez, López, Sánchez, González, Gómez, Fernández, Rodríguez, Pérez, Martín,
    Jiménez, Ruiz, Hernández, Díaz, Moreno, Muñoz, Álvarez, Romero, Alonso, Gutiérrez,
    Navarro, Torres, Domínguez, Vázquez, Ramos, Gil, Ramírez, Serrano, Blanco, Molina,
    Morales, Suárez, Ortega, Delgado, Castro, Ortiz, Rubio, Marín, Sanz, Núñez, Iglesias,
    Medina, Garrido, Cortés, Castillo, Santos, Lozano, Guerrero, Cano, Prieto, Méndez, Cruz,
    Calvo, Gallego, Vidal, León, Márquez, Herrera, Peña, Flores, Cabrera, Campos, Vega,
    Fuentes, Carrasco, Díez, Caballero, Reyes, Nieto, Aguilar, Pascual, Santana, Herrero,
    Lorenzo, Montero, Hidalgo, Giménez, Ibáñez, Ferrer, Durán, Benítez, Mora, Vicente,
    Vargas, Arias, Carmona, Crespo, Román, Pastor, Soto, Sáez, Velasco, Soler, Parra,
    Esteban, Bravo, Etxeberria, Urrutia, Goikoetxea, Puig, Vilà, Ordóñez, Muñiz, Zúñiga,
    Echevarría, Quiñones, Peñalver, Acuña, Báez, Beltrán, Ibarra
""")
_KINDS = _list("""
    Talleres, Clínica Dental, Construcciones, Asesoría, Panadería, Ferretería, Inmobiliaria,
    Autoescuela, Bodegas, Hostal, Restaurante, Academia, Fisioterapia, Óptica, Gestoría,
    Distribuciones, Transportes, Carpintería, Floristería, Farmacia, Peluquería, Abogados,
    Clínica Veterinaria, Reformas, Electricidad, Fontanería, Cerrajería, Librería, Imprenta,
    Casa Rural, Hotel, Joyería, Muebles, Climatización, Limpiezas, Seguros, Gimnasio,
    Centro de Estética, Escuela de Idiomas, Viajes, Fotografía, Consultoría, Ingeniería,
    Recambios, Frutas, Quesos, Aceites, Cooperativa, Pastelería
""")
_PLACES = _list("""
    Sol, La Ribera, El Olivo, Mediterráneo, Los Arcos, San Roque, Azahar, Altamira,
    Valle del Jerte, Sierra Nevada, Triana, El Carmen, Costa Brava, Bidasoa, La Alameda,
    Los Pinos, Santa Ana, El Puerto, La Fuente, Norte, Albaicín, Montaña, Castilla, Aragón,
    Galicia, El Faro, La Plaza, Atlántico, Moncayo, Guadalquivir, Cantábrico, Las Dunas,
    Peñíscola, Ordesa, Doñana
""")
_LEGAL = (" S.L.", " S.L.", " S.L.", " S.L.U.", " S.A.", " S.Coop.", "", "", "")
# city / postcode prefix / landline prefix
_CITIES = tuple(
    tuple(c.split("/"))
    for c in _list("""
    Madrid/280/91, Barcelona/080/93, Valencia/460/96, Sevilla/410/954, Málaga/290/952,
    Bilbao/480/94, Zaragoza/500/976, Murcia/300/968, Valladolid/470/983, A Coruña/150/981,
    Granada/180/958, Alicante/030/965, Pamplona/310/948, Donostia/200/943, Oviedo/330/985,
    Palma/070/971, Las Palmas de Gran Canaria/350/928, Santander/390/942, Córdoba/140/957,
    Toledo/450/925, Cáceres/100/927, Logroño/260/941, León/240/987
""")
)
_STREETS = _list("""
    C/ Mayor, Avda. de la Constitución, C/ Real, Plaza de España, C/ San Francisco,
    Avda. de Andalucía, C/ del Carmen, Polígono Industrial Los Olivos nave, C/ Nueva,
    Paseo de la Castellana, Rambla de Catalunya, C/ Colón, Gran Vía, Avda. de la Libertad,
    C/ Juan de Herrera, Camino Viejo de Málaga
""")
_PUBLIC = {
    "gmail.com": 46, "hotmail.com": 10, "hotmail.es": 10, "outlook.es": 8, "outlook.com": 6,
    "yahoo.es": 6, "yahoo.com": 2, "icloud.com": 6, "telefonica.net": 3, "movistar.es": 2,
}  # fmt: skip
_PLANS = ("Plan Básico", "Plan Profesional", "Plan Empresa", "Hosting WordPress", "VPS M")
_PROVIDERS = ("IONOS", "Arsys", "Dinahosting", "Hostinger", "Raiola", "GoDaddy", "otro hosting")
_ROLES = ("info", "administracion", "oficina", "contabilidad", "gerencia", "pedidos")

_MAIL_HOSTS = ("hosting", "m365", "workspace")  # where a company domain's mail lives
_CLIENTS_BY_HOST = {
    "gmail.com": (("gmail", 8), ("apple", 1), ("iphone", 1)),
    "hotmail": (("outlook", 8), ("outlookweb", 2)),
    "yahoo": (("yahoo", 8), ("iphone", 2)),
    "icloud.com": (("apple", 6), ("iphone", 4)),
    "isp": (("outlook", 5), ("thunderbird", 5)),
    "hosting": (("outlook", 5), ("thunderbird", 4), ("roundcube", 3), ("apple", 2)),
    "m365": (("outlook", 9), ("outlookweb", 1)),
    "workspace": (("gmail", 9), ("apple", 1)),
}


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _slug(text: str, sep: str = "") -> str:
    return sep.join(w for w in re.split(r"[^a-z0-9]+", _ascii(text).lower()) if w)


@dataclass
class _Customer:
    first: str
    full: str
    address: str
    display: str  # "" for an address without a display name
    domain: str  # the mail domain
    site: str  # the website hosted with us
    company: str
    city: str
    phone: str
    mobile: str
    street: str
    client: str
    host: str  # gmail.com, hotmail, yahoo, icloud.com, isp, hosting, m365, workspace
    dkim: bool
    colleagues: tuple[tuple[str, str], ...]
    signature: bool
    disclaimer: bool
    usted: bool
    legacy_charset: str  # "" or a charset its Outlook/Thunderbird may use
    customer_no: int
    plan: str
    cif: str
    weight: float
    mailbox: str
    ip: str = ""
    history: list[int] = field(default_factory=list)  # indexes of its mails so far


def _customers(rng: random.Random, count: int) -> list[_Customer]:
    people: list[_Customer] = []
    used_sites: set[str] = set()
    used_addresses: set[str] = set()
    for rank in range(count):
        woman = rng.random() < 0.5
        first = rng.choice(_WOMEN if woman else _MEN)
        s1, s2 = rng.sample(_SURNAMES, 2)
        full = f"{first} {s1} {s2}" if rng.random() < 0.45 else f"{first} {s1}"
        city, postcode, landline = rng.choice(_CITIES)
        kind = rng.choice(_KINDS)
        if rng.random() < 0.72:
            name = rng.choice((s1, s1, rng.choice(_PLACES), f"Hermanos {s1}"))
            company = f"{kind} {name}" + rng.choice(_LEGAL)
            words = company.replace("S.L.U.", "").replace("S.L.", "").replace("S.A.", "")
            words = words.replace("S.Coop.", "")
            style = rng.random()
            base = (
                _slug(words, "-")
                if style < 0.3
                else _slug(words)
                if style < 0.8
                else _slug(name) + _slug(city)[:6]
            )
        else:  # a freelancer, a small shop under the owner's name
            company = ""
            base = _slug(f"{first.split()[0]}{s1}") + rng.choice(("", "", "foto", "abogado", "web"))
        tld = rng.choices(
            (".es", ".com", ".net", ".eu", ".cat", ".eus", ".com.es", ".org"),
            (
                55,
                27,
                5,
                3,
                3 if postcode == "080" else 0,
                3 if landline in ("94", "943") else 0,
                2,
                2,
            ),
        )[0]
        site = base + tld
        while site in used_sites:
            site = f"{base}{rng.randint(2, 99)}{tld}"
        used_sites.add(site)

        own = (bool(company) and rng.random() < 0.62) or (not company and rng.random() < 0.2)
        if own:
            host = rng.choices(_MAIL_HOSTS, (70, 18, 12))[0]
            domain = site
            local = rng.choice(
                (
                    _slug(first.split()[0]),
                    f"{_slug(first.split()[0])}.{_slug(s1)}",
                    f"{_slug(first)[0]}{_slug(s1)}",
                    rng.choice(_ROLES),
                )
            )
        else:
            domain = rng.choices(list(_PUBLIC), list(_PUBLIC.values()))[0]
            host = (
                "gmail.com"
                if domain == "gmail.com"
                else "hotmail"
                if domain.startswith(("hotmail", "outlook"))
                else "yahoo"
                if domain.startswith("yahoo")
                else "icloud.com"
                if domain == "icloud.com"
                else "isp"
            )
            year = rng.choice(("", "", str(rng.randint(60, 99)), str(rng.randint(1965, 2003))))
            local = rng.choice(
                (
                    f"{_slug(first, '.')}.{_slug(s1)}",
                    f"{_slug(first)}{_slug(s1)}{year}",
                    f"{_slug(first)[0]}{_slug(s1)}{_slug(s2)[:4]}",
                    f"{_slug(first)}_{_slug(s2)}",
                    f"{base[:14]}{year}",
                )
            )
        address = f"{local}@{domain}"
        while address in used_addresses:
            address = f"{local}{rng.randint(2, 999)}@{domain}"
        used_addresses.add(address)

        clients = _CLIENTS_BY_HOST[host]
        client = rng.choices([c for c, _ in clients], [w for _, w in clients])[0]
        role = address.split("@")[0] in _ROLES
        display_roll = rng.random()
        display = (
            ""
            if display_roll < 0.06
            else company.removesuffix(" S.L.")
            if role and company and display_roll < 0.5
            else full
            if display_roll < 0.8
            else f"{first} {s1}"
            if display_roll < 0.93
            else full.upper()
        )
        colleagues: list[tuple[str, str]] = []
        if domain == site:
            for _ in range(rng.choice((0, 1, 1, 2, 3))):
                c_first = rng.choice(_WOMEN + _MEN)
                c_name = f"{c_first} {rng.choice(_SURNAMES)}"
                c_local = rng.choice((_slug(c_first.split()[0]), *_ROLES))
                c_address = f"{c_local}@{domain}"
                if c_address != address and all(c_address != a for _, a in colleagues):
                    colleagues.append((c_name, c_address))

        def digits(n: int) -> str:
            return "".join(rng.choices(string.digits, k=n))

        land = landline + digits(9 - len(landline))
        phone = (
            f"{land[:2]} {land[2:5]} {land[5:7]} {land[7:]}"
            if len(landline) == 2
            else f"{land[:3]} {land[3:5]} {land[5:7]} {land[7:]}"
        )
        mob = rng.choice("67") + digits(8)
        mobile = rng.choice(
            (f"{mob[:3]} {mob[3:5]} {mob[5:7]} {mob[7:]}", f"+34 {mob[:3]} {mob[3:6]} {mob[6:]}")
        )
        number, district = rng.randint(1, 140), rng.randint(1, 99)
        street = f"{rng.choice(_STREETS)} {number}, {postcode}{district:02d} {city}"
        legacy = ""
        if client == "outlook" and rng.random() < 0.15:
            legacy = "windows-1252"
        elif client == "thunderbird" and rng.random() < 0.15:
            legacy = "ISO-8859-1"
        people.append(
            _Customer(
                first=first,
                full=full,
                address=address,
                display=display,
                domain=domain,
                site=site,
                company=company,
                city=city,
                phone=phone,
                mobile=mobile,
                street=street,
                client=client,
                host=host,
                dkim=host not in ("hosting", "isp") or rng.random() < 0.6,
                colleagues=tuple(colleagues),
                signature=rng.random() < (0.8 if company else 0.35),
                disclaimer=bool(company) and rng.random() < 0.3,
                usted=rng.random() < 0.25,
                legacy_charset=legacy,
                customer_no=rng.randint(10000, 99999),
                plan=rng.choice(_PLANS),
                cif=rng.choice("BBBBAF") + digits(8) if company else digits(8) + "Z",
                weight=1 / (rank + 3) ** 0.7,
                mailbox=f"{rng.choice((*_ROLES, 'ventas', 'reservas', 'hola'))}@{site}",
                ip=f"{rng.choice((83, 88, 79, 81, 90, 95, 176, 213))}.{rng.randint(0, 255)}."
                f"{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            )
        )
    return people


# --- Dates ----------------------------------------------------------------------------

_DAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_DAYS_SHORT = ("lun", "mar", "mié", "jue", "vie", "sáb", "dom")
_MONTHS = _list("""
    enero, febrero, marzo, abril, mayo, junio, julio, agosto, septiembre, octubre, noviembre,
    diciembre
""")
_MONTHS_SHORT = _list("ene, feb, mar, abr, may, jun, jul, ago, sept, oct, nov, dic")
_EN_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _last_sunday(year: int, month: int) -> datetime:
    day = datetime(year, month + 1, 1, tzinfo=UTC) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def _madrid(when: datetime) -> datetime:
    """A UTC time as Europe/Madrid wall time (EU rules: summer time from the last Sunday
    of March to the last Sunday of October, at 01:00 UTC)."""
    start = _last_sunday(when.year, 3) + timedelta(hours=1)
    end = _last_sunday(when.year, 10) + timedelta(hours=1)
    hours = 2 if start <= when < end else 1
    return when.astimezone(timezone(timedelta(hours=hours)))


def _pacific(when: datetime) -> tuple[datetime, str]:
    """The same for Google's internal hops, which stamp US Pacific time."""
    march = datetime(when.year, 3, 1, 10, tzinfo=UTC)
    start = march + timedelta(days=(6 - march.weekday()) % 7 + 7)
    november = datetime(when.year, 11, 1, 9, tzinfo=UTC)
    end = november + timedelta(days=(6 - november.weekday()) % 7)
    summer = start <= when < end
    return when.astimezone(timezone(timedelta(hours=-7 if summer else -8))), (
        "PDT" if summer else "PST"
    )


def _zone_name(local: datetime) -> str:
    offset = local.utcoffset()
    return "CEST" if offset == timedelta(hours=2) else "CET"


# --- Encoding helpers -----------------------------------------------------------------

_Q_SAFE = frozenset(string.ascii_letters + string.digits + "!*+-/")
_ALNUM = string.ascii_letters + string.digits
_B64CHARS = _ALNUM + "+/"


def _encoded_words(text: str, charset: str, q: bool) -> list[str]:
    """RFC 2047 words of at most 75 characters, never splitting a character."""
    prefix = f"=?{charset}?{'Q' if q else 'B'}?"
    codec = _codec(charset)
    words: list[str] = []
    if q:
        chunk = ""
        for char in text:
            if char == " ":
                enc = "_"
            elif char in _Q_SAFE:
                enc = char
            else:
                enc = "".join(f"={b:02X}" for b in char.encode(codec))
            if chunk and len(prefix) + len(chunk) + len(enc) + 2 > 75:
                words.append(prefix + chunk + "?=")
                chunk = ""
            chunk += enc
        words.append(prefix + chunk + "?=")
    else:
        room = (75 - len(prefix) - 2) // 4 * 3
        chunk_bytes = b""
        for char in text:
            enc_b = char.encode(codec)
            if chunk_bytes and len(chunk_bytes) + len(enc_b) > room:
                words.append(prefix + base64.b64encode(chunk_bytes).decode() + "?=")
                chunk_bytes = b""
            chunk_bytes += enc_b
        words.append(prefix + base64.b64encode(chunk_bytes).decode() + "?=")
    return words


def _codec(charset: str) -> str:
    return {"windows-1252": "cp1252", "iso-8859-1": "latin-1"}.get(charset.lower(), charset)


def _fits(text: str, charset: str) -> bool:
    try:
        text.encode(_codec(charset))
    except UnicodeEncodeError:
        return False
    return True


_DOUBLE_DOT = re.compile(r"(?<=[A-Za-z])\.\.(?!\.)")
_SPECIALS = re.compile(r'[()<>@,;:\\".\[\]]')


def _phrase(name: str, charset: str, q: bool) -> str:
    """A display name as it goes in a header: as is, quoted, or as encoded words."""
    if name.isascii():
        return f'"{name}"' if _SPECIALS.search(name) else name
    return " ".join(_encoded_words(name, charset, q))


def _fold(name: str, value: str) -> str:
    """Name: value, folded at spaces to lines of at most 78 characters, CRLF ended."""
    line = f"{name}: "
    out: list[str] = []
    for word in value.split(" "):
        if len(line) + len(word) > 78 and line.strip() and not line.endswith(": "):
            out.append(line.rstrip(" "))
            line = " "
        line += word + " "
    out.append(line.rstrip(" "))
    return "\r\n".join(out) + "\r\n"


def _qp(data: bytes) -> bytes:
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, CRLF ended (laid out by strided copies: a
    25 MB attachment has 340,000 lines)."""
    text = base64.b64encode(data)
    full, rest = divmod(len(text), 76)
    out = bytearray(full * 78)
    for k in range(76):
        out[k::78] = text[k : full * 76 : 76]
    out[76::78] = b"\r" * full
    out[77::78] = b"\n" * full
    if rest:
        out += text[full * 76 :] + b"\r\n"
    return bytes(out)


def _encode_body(text: str, charset: str, cte: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body bytes) of a text part; 8bit falls back to
    quoted-printable if a line would be too long."""
    data = text.encode(_codec(charset))
    if cte == "8bit":
        if data.isascii():
            cte = "7bit"
        if max(map(len, data.split(b"\n")), default=0) > 900:
            cte = "quoted-printable"
    if cte == "base64":
        return cte, _b64(data.replace(b"\n", b"\r\n"))
    if cte == "quoted-printable":
        return cte, _qp(data)
    return cte, data.replace(b"\n", b"\r\n")


def _rand(rng: random.Random, n: int, alphabet: str = _ALNUM) -> str:
    return "".join(rng.choices(alphabet, k=n))


def _b64rand(rng: random.Random, n: int) -> str:
    """n random base64 characters (a fake signature or token), quicker than _rand."""
    return base64.b64encode(rng.randbytes(n // 4 * 3 + 3)).decode()[:n]


def _hex(rng: random.Random, n: int, upper: bool = False) -> str:
    text = f"{rng.getrandbits(4 * n):0{n}x}"
    return text.upper() if upper else text


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32, upper=True)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89AB'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


# --- Pasted errors and logs -----------------------------------------------------------

_PLUGINS = _list("""
    woocommerce, contact-form-7, elementor, wordfence, revslider, wp-rocket, yoast-seo,
    wpforms-lite, js_composer, updraftplus, wp-mail-smtp
""")
_PATHS = _list("""
    /, /tienda/, /contacto/, /carrito/, /finalizar-compra/, /wp-login.php,
    /wp-admin/admin-ajax.php, /wp-json/wc/v3/orders, /producto/oferta-especial/, /blog/,
    /reservas/, /quienes-somos/, /wp-cron.php, /xmlrpc.php, /feed/
""")
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
)


@dataclass
class _Ctx:
    """What the pasted errors and logs of one mail talk about."""

    rng: random.Random
    site: str
    when: datetime  # local time of the mail
    user_ip: str
    host: str
    mailbox: str
    db: str
    ftpuser: str


def _some_ip(rng: random.Random) -> str:
    x = rng.getrandbits(32)
    return f"{(x >> 24) % 222 + 2}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x % 254 + 1}"


def _back(c: _Ctx, n: int) -> Iterator[datetime]:
    """n increasing times in the minutes or hours before the mail."""
    span = c.rng.randint(600, 40000)
    t = c.when - timedelta(seconds=span)
    mean = span / (n + 1)
    for _ in range(n):
        t += timedelta(seconds=min(c.rng.expovariate(1 / mean), mean * 3))
        yield t


def _doc_root(c: _Ctx) -> str:
    return f"/var/www/vhosts/{c.site}/httpdocs"


def _php_error(c: _Ctx) -> str:
    r = c.rng
    plugin = r.choice(_PLUGINS)
    part = r.choice(("core", "loader", "api", "admin"))
    file = f"{_doc_root(c)}/wp-content/plugins/{plugin}/includes/class-{plugin}-{part}.php"
    line = r.randint(20, 900)
    roll = r.randrange(6)
    if roll == 0:
        return (
            "PHP Fatal error:  Allowed memory size of 268435456 bytes exhausted (tried to "
            f"allocate {r.randint(4, 900) * 1024} bytes) in {file} on line {line}"
        )
    if roll == 1:
        return (
            "PHP Fatal error:  Uncaught Error: Call to undefined function mysql_connect() in "
            f"{file}:{line}"
        )
    if roll == 2:
        key = r.choice(("id", "page", "lang", "variation_id"))
        return f'PHP Warning:  Undefined array key "{key}" in {file} on line {line}'
    if roll == 3:
        return f'PHP Parse error:  syntax error, unexpected token ")" in {file} on line {line}'
    if roll == 4:
        return (
            "PHP Fatal error:  Uncaught TypeError: count(): Argument #1 ($value) must be of type "
            f"Countable|array, null given in {file}:{line}"
        )
    prop = r.choice(("settings", "cache", "db"))
    return (
        f"PHP Deprecated:  Creation of dynamic property {plugin.title().replace('-', '_')}::$"
        f"{prop} is deprecated in {file} on line {line}"
    )


def _snippet(kind: str, c: _Ctx) -> list[str]:
    r = c.rng
    if kind == "smtp_error":
        return [
            r.choice(
                (
                    "550 5.7.1 <cliente@gmail.com>: Relay access denied",
                    "535 5.7.8 Error: authentication failed: authentication failure",
                    "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org",
                    "452 4.2.2 Mailbox full",
                    "421 4.7.0 Too many concurrent SMTP connections from this IP address",
                )
            )
        ]
    if kind == "outlook_error":
        code = r.choice(("0x800CCC0E", "0x800CCC0F", "0x80042109", "0x800CCC92"))
        return [
            f"Tarea '{c.mailbox} - Enviando' ha notificado el error ({code}): 'Outlook no "
            "puede conectar con el servidor de correo saliente (SMTP). Si sigue recibiendo "
            "este mensaje, póngase en contacto con el administrador del servidor o con el "
            "proveedor de servicios Internet (ISP).'"
        ]
    if kind == "bounce":
        return [
            "Mail Delivery System <MAILER-DAEMON@" + f"smtp.{c.host}>",
            "",
            "This is the mail system at host smtp." + c.host + ".",
            "",
            "I'm sorry to have to inform you that your message could not",
            "be delivered to one or more recipients.",
            "",
            f"<{r.choice(('pedidos', 'info', 'compras'))}@gmail.com>: host "
            "gmail-smtp-in.l.google.com[142.250.153.27] said:",
            "    550-5.7.26 Unauthenticated email from " + c.site + " is not accepted due to",
            "    550-5.7.26 domain's DMARC policy. Please contact the administrator of",
            "    550 5.7.26 " + c.site + " domain if this was a legitimate mail. (in reply to",
            "    end of DATA command)",
        ]
    if kind == "browser_down":
        return r.choice(
            (
                [
                    "No se puede acceder a este sitio web",
                    "",
                    f"www.{c.site} ha tardado demasiado en responder.",
                    "ERR_CONNECTION_TIMED_OUT",
                ],
                [
                    "503 Service Unavailable",
                    "",
                    "The server is temporarily unable to service your request due to "
                    "maintenance downtime or capacity problems.",
                ],
                ["Error establishing a database connection"],
                [
                    "Hmm. No podemos encontrar ese sitio.",
                    f"No podemos conectar con el servidor en www.{c.site}.",
                ],
            )
        )
    if kind == "browser_ssl":
        return [
            "La conexión no es privada",
            "",
            f"Es posible que los atacantes estén intentando robar tu información de www.{c.site} "
            "(por ejemplo, contraseñas, mensajes o tarjetas de crédito).",
            r.choice(("NET::ERR_CERT_DATE_INVALID", "NET::ERR_CERT_COMMON_NAME_INVALID")),
        ]
    if kind == "openssl":
        expired = c.when - timedelta(days=r.randint(0, 6))
        return [
            f"$ openssl s_client -connect www.{c.site}:443 -servername www.{c.site}",
            "CONNECTED(00000003)",
            "depth=0 CN = " + c.site,
            "verify error:num=10:certificate has expired",
            f"notAfter={_EN_MONTHS[expired.month - 1]} {expired.day:2d} 23:59:59 "
            f"{expired.year} GMT",
        ]
    if kind == "curl":
        status = r.choice(
            ("500 Internal Server Error", "503 Service Unavailable", "502 Bad Gateway")
        )
        return [
            f"$ curl -I https://www.{c.site}/",
            f"HTTP/1.1 {status}",
            f"Date: {format_datetime(c.when.astimezone(UTC), usegmt=True)}",
            "Server: Apache",
            "Content-Type: text/html; charset=UTF-8",
        ]
    if kind == "php_fatal":
        return [_php_error(c)]
    if kind == "wp_db":
        return [
            "Error establishing a database connection",
            "",
            "This either means that the username and password information in your "
            "wp-config.php file is incorrect or that contact with the database server at "
            "localhost could not be established.",
        ]
    if kind == "dig":
        return _dig(c, short=True)
    if kind == "ftp_short":
        return [
            "Estado:\tConectando a " + f"{_some_ip(r)}:21...",
            "Respuesta:\t530 Login incorrect.",
            "Error:\tError crítico: No se pudo conectar al servidor",
        ]
    if kind == "mysql_full":
        return [
            r.choice(
                (
                    "ERROR 1114 (HY000): The table "
                    f"'{r.choice(('wp_options', 'wp_postmeta', 'wp_wfhits'))}' is full",
                    '#1030 - Got error 28 "No space left on device" from storage engine InnoDB',
                    "ERROR 1040 (08004): Too many connections",
                )
            )
        ]
    if kind == "panel":
        return [
            r.choice(
                (
                    "Usuario o contraseña incorrectos.",
                    "Su cuenta ha sido bloqueada temporalmente por motivos de seguridad. "
                    "Inténtelo de nuevo en 30 minutos.",
                )
            )
        ]
    if kind == "php_deprecated":
        return [_php_error(c) for _ in range(r.randint(1, 4))]
    raise AssertionError(kind)


def _dig(c: _Ctx, short: bool) -> list[str]:
    r = c.rng
    rtype = r.choice(("MX", "A", "TXT"))
    lines = [
        f"; <<>> DiG 9.18.28-1~deb12u2-Debian <<>> {c.site} {rtype}",
        ";; global options: +cmd",
        ";; Got answer:",
        f";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: {r.randint(1000, 65000)}",
        ";; flags: qr rd ra; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1",
        "",
        ";; ANSWER SECTION:",
    ]
    if rtype == "MX":
        lines += [
            f"{c.site}.\t\t3600\tIN\tMX\t10 mx.{c.host}.",
            f"{c.site}.\t\t3600\tIN\tMX\t20 mx2.{c.host}.",
        ]
    elif rtype == "A":
        lines += [f"{c.site}.\t\t{r.choice((300, 3600, 86400))}\tIN\tA\t{_some_ip(r)}"]
    else:
        lines += [f'{c.site}.\t\t3600\tIN\tTXT\t"v=spf1 a mx include:_spf.{c.host} ~all"']
    if not short:
        lines += [
            "",
            f";; Query time: {r.randint(8, 90)} msec",
            ";; SERVER: 192.168.1.1#53(192.168.1.1) (UDP)",
            f";; WHEN: {_EN_DAYS[c.when.weekday()]} {_EN_MONTHS[c.when.month - 1]} "
            f"{c.when.day:02d} {c.when:%H:%M:%S} {_zone_name(c.when)} {c.when.year}",
            ";; MSG SIZE  rcvd: 98",
        ]
    return lines


def _log(kind: str, c: _Ctx, n: int, budget: int = 0) -> list[str]:
    """n lines (or about budget bytes) of a log a customer pasted or attached: a few dozen
    distinct messages, repeated at increasing times, as real logs are."""
    if kind == "dig_long":
        lines: list[str] = []
        while len(lines) < n:
            lines += [*_dig(c, short=False), ""]
        return lines
    make, stamp = _LOGS[kind]
    pool = [make(c) for _ in range(min(n, 40))]
    if budget:
        width = sum(len(a) + len(b) for a, b in pool) / len(pool) + len(stamp(c.when)) + 2
        n = int(budget / width) + 2
    choose = c.rng.choice
    out = []
    for t in _back(c, n):
        before, after = choose(pool)
        out.append(before + stamp(t) + after)
    return out


def _maillog(c: _Ctx) -> tuple[str, str]:
    r = c.rng
    pid = r.randint(1000, 99999)
    qid = _rand(r, 11, string.ascii_uppercase + string.digits)
    roll = r.random()
    if roll < 0.3:
        text = (
            f"smtpd[{pid}]: warning: unknown[{c.user_ip}]: SASL LOGIN authentication failed: "
            f"authentication failure, sasl_username={c.mailbox}"
        )
    elif roll < 0.45:
        text = f"smtpd[{pid}]: connect from unknown[{c.user_ip}]"
    elif roll < 0.6:
        text = (
            f"smtpd[{pid}]: disconnect from unknown[{c.user_ip}] ehlo=1 auth=0/1 quit=1 "
            "commands=2/3"
        )
    elif roll < 0.8:
        text = (
            f"smtp[{pid}]: {qid}: to=<{_rand(r, 6).lower()}@gmail.com>, relay=gmail-smtp-in.l."
            f"google.com[142.250.153.27]:25, delay={r.uniform(0.2, 4):.1f}, delays=0.1/0/0.3/"
            "0.6, dsn=5.7.26, status=bounced (host gmail-smtp-in.l.google.com[142.250.153.27] "
            "said: 550-5.7.26 Unauthenticated email is not accepted due to domain's DMARC "
            "policy (in reply to end of DATA command))"
        )
    elif roll < 0.9:
        text = f"qmgr[{pid}]: {qid}: from=<{c.mailbox}>, size={r.randint(2000, 90000)}, nrcpt=1"
    else:
        text = (
            f"smtp[{pid}]: {qid}: to=<{_rand(r, 7).lower()}@hotmail.com>, relay=hotmail-com."
            "olc.protection.outlook.com[52.101.68.18]:25, delay=1.1, delays=0.1/0/0.4/0.6, "
            "dsn=2.6.0, status=sent (250 2.6.0 Queued mail for delivery)"
        )
    return "", " smtp postfix/" + text


def _syslog_time(t: datetime) -> str:
    return f"{_EN_MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S}"


def _access_log(c: _Ctx) -> tuple[str, str]:
    r = c.rng
    status = r.choices((200, 301, 404, 500, 503, 504), (40, 8, 10, 20, 15, 7))[0]
    method = r.choice(("GET", "GET", "GET", "POST"))
    return (
        f"{_some_ip(r)} - - [",
        f'] "{method} {r.choice(_PATHS)} HTTP/2.0" {status} {r.randint(0, 90000)} '
        f'"https://www.{c.site}/" "{r.choice(_AGENTS)}"',
    )


def _access_time(t: datetime) -> str:
    return f"{t.day:02d}/{_EN_MONTHS[t.month - 1]}/{t.year}:{t:%H:%M:%S %z}"


def _error_log(c: _Ctx) -> tuple[str, str]:
    r = c.rng
    return (
        "[",
        f" {c.when.year}] [proxy_fcgi:error] [pid {r.randint(1000, 99999)}:tid "
        f"{r.randint(10**14, 10**15)}] [client {_some_ip(r)}:{r.randint(1024, 65000)}] "
        f"AH01071: Got error 'PHP message: {_php_error(c)}', referer: "
        f"https://www.{c.site}{r.choice(_PATHS)}",
    )


def _error_time(t: datetime) -> str:
    return (
        f"{_EN_DAYS[t.weekday()]} {_EN_MONTHS[t.month - 1]} {t.day:02d} {t:%H:%M:%S}."
        f"{t.microsecond:06d}"
    )


def _debug_log(c: _Ctx) -> tuple[str, str]:
    return "[", f" UTC] {_php_error(c)}"


def _debug_time(t: datetime) -> str:
    return f"{t.day:02d}-{_EN_MONTHS[t.month - 1]}-{t.year} {t.astimezone(UTC):%H:%M:%S}"


def _mysql(c: _Ctx) -> tuple[str, str]:
    r = c.rng
    text = r.choice(
        (
            f"[ERROR] [MY-013132] [Server] The table '{c.db}/wp_options' is full!",
            f"[Warning] [MY-010055] [Server] IP address '{_some_ip(r)}' could not be resolved: "
            "Name or service not known",
            f"[Note] [MY-010914] [Server] Aborted connection {r.randint(1000, 90000)} to db: "
            f"'{c.db}' user: '{c.db}_usr' host: 'localhost' (Got timeout reading communication "
            "packets).",
            "[ERROR] [MY-012592] [InnoDB] Operating system error number 28 in a file operation.",
        )
    )
    return "", f"Z {r.randint(8, 900)} {text}"


def _mysql_time(t: datetime) -> str:
    return f"{t.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.{t.microsecond:06d}"


def _filezilla(c: _Ctx) -> tuple[str, str]:
    r = c.rng
    text = r.choice(
        (
            f"Estado:\tResolviendo la dirección de ftp.{c.site}",
            f"Estado:\tConectando a {_some_ip(r)}:21...",
            "Estado:\tConexión establecida, esperando el mensaje de bienvenida...",
            "Respuesta:\t220 ProFTPD Server (hosting) ready.",
            f"Comando:\tUSER {c.ftpuser}",
            f"Respuesta:\t331 Password required for {c.ftpuser}",
            "Comando:\tPASS ********",
            "Respuesta:\t530 Login incorrect.",
            "Error:\tError crítico: No se pudo conectar al servidor",
            "Error:\tConexión agotada tras 20 segundos de inactividad",
            "Estado:\tEsperando para reintentar...",
        )
    )
    return "", "\t" + text


def _clock(t: datetime) -> str:
    return f"{t:%H:%M:%S}"


_LOGS: dict[str, tuple[Callable[[_Ctx], tuple[str, str]], Callable[[datetime], str]]] = {
    "maillog": (_maillog, _syslog_time),
    "access_log": (_access_log, _access_time),
    "error_log": (_error_log, _error_time),
    "debug_log": (_debug_log, _debug_time),
    "mysql": (_mysql, _mysql_time),
    "filezilla": (_filezilla, _clock),
}


# --- Attachments ----------------------------------------------------------------------


@dataclass
class _Attachment:
    filename: str
    ctype: str
    data: bytes


def _png(rng: random.Random, size: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return len(body).to_bytes(4, "big") + kind + body + crc.to_bytes(4, "big")

    width, height = rng.choice(((1920, 1080), (1366, 768), (2560, 1440), (1170, 2532), (1280, 800)))
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes((8, 6, 0, 0, 0))
    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"sRGB", b"\x00")
    return (
        head + chunk(b"IDAT", rng.randbytes(max(size - len(head) - 24, 16))) + chunk(b"IEND", b"")
    )


def _jpeg(rng: random.Random, size: int) -> bytes:
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00H\x00H\x00\x00\xff\xdb\x00C\x00"
    return head + rng.randbytes(max(size - len(head) - 2, 16)) + b"\xff\xd9"


def _pdf(rng: random.Random, size: int, when: datetime) -> bytes:
    head = (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
        b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\n"
        b"endobj\n"
        + f"5 0 obj\n<< /Producer (Microsoft Word para Microsoft 365) /CreationDate "
        f"(D:{when:%Y%m%d%H%M%S}+01'00') >>\nendobj\n".encode()
    )
    body_len = max(size - len(head) - 120, 16)
    stream = f"4 0 obj\n<< /Length {body_len} /Filter /FlateDecode >>\nstream\n".encode()
    tail = b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R /Info 5 0 R >>\n%%EOF\n"
    return head + stream + rng.randbytes(body_len) + tail


def _zip(rng: random.Random, size: int, names: Sequence[str], when: datetime) -> bytes:
    """A real zip archive of stored (uncompressible, random) members."""
    out = io.BytesIO()
    parts = [rng.random() + 0.2 for _ in names]
    stamp = (when.year, when.month, when.day, when.hour, when.minute, when.second // 2 * 2)
    with zipfile.ZipFile(out, "w") as archive:
        for name, part in zip(names, parts, strict=True):
            info = zipfile.ZipInfo(name, date_time=stamp)
            length = max(int((size - 120 * len(names)) * part / sum(parts)), 1)
            archive.writestr(info, rng.randbytes(length), compress_type=zipfile.ZIP_STORED)
    return out.getvalue()


# --- Clients --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Client:
    name: str
    mailer: tuple[str, str] | None  # (header name, value)
    charset_label: str  # as it writes charset= in Content-Type
    word_charset: str  # charset of its encoded words
    q_words: float  # share of Q (else B) encoded words
    ctes: tuple[tuple[str, int], ...]  # transfer encodings of its text parts
    flowed: bool
    reply_prefix: str


_CLIENTS = {
    "gmail": _Client(
        "gmail",
        None,
        '"UTF-8"',
        "UTF-8",
        0.6,
        (("quoted-printable", 9), ("base64", 1)),
        False,
        "Re: ",
    ),
    "outlook": _Client(
        "outlook",
        ("X-Mailer", "Microsoft Outlook 16.0"),
        '"utf-8"',
        "utf-8",
        0.3,
        (("quoted-printable", 10),),
        False,
        "RE: ",
    ),
    "outlookweb": _Client(
        "outlookweb",
        None,
        '"utf-8"',
        "utf-8",
        0.0,
        (("quoted-printable", 6), ("base64", 4)),
        False,
        "RE: ",
    ),
    "apple": _Client(
        "apple",
        ("X-Mailer", "Apple Mail (2.3826.300.87.4.3)"),
        "utf-8",
        "utf-8",
        1.0,
        (("quoted-printable", 10),),
        False,
        "Re: ",
    ),
    "iphone": _Client(
        "iphone",
        ("X-Mailer", "iPhone Mail (22B91)"),
        "utf-8",
        "utf-8",
        1.0,
        (("quoted-printable", 8), ("base64", 2)),
        False,
        "Re: ",
    ),
    "thunderbird": _Client(
        "thunderbird",
        (
            "User-Agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 "
            "Thunderbird/115.16.0",
        ),
        "UTF-8",
        "UTF-8",
        1.0,
        (("8bit", 7), ("quoted-printable", 3)),
        True,
        "Re: ",
    ),
    "roundcube": _Client(
        "roundcube",
        ("User-Agent", "Roundcube Webmail/1.6.9"),
        "UTF-8",
        "UTF-8",
        1.0,
        (("quoted-printable", 6), ("8bit", 4)),
        True,
        "Re: ",
    ),
    "yahoo": _Client(
        "yahoo",
        ("X-Mailer", "WebService/1.1.22876 YMailNorrin"),
        "UTF-8",
        "UTF-8",
        1.0,
        (("quoted-printable", 7), ("base64", 3)),
        False,
        "Re: ",
    ),
}

_MOBILE_LINE = {
    "iphone": "Enviado desde mi iPhone",
    "gmail": "Enviado desde mi smartphone Samsung Galaxy.",
    "outlook": "Obtener Outlook para Android",
    "outlookweb": "Obtener Outlook para iOS",
    "yahoo": "Enviado desde Yahoo Mail para Android",
}

_OUTLOOK_HEAD = """<html xmlns:v="urn:schemas-microsoft-com:vml" \
xmlns:o="urn:schemas-microsoft-com:office:office" \
xmlns:w="urn:schemas-microsoft-com:office:word" \
xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" \
xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Font Definitions */
@font-face
	{font-family:"Cambria Math";
	panose-1:2 4 5 3 5 4 6 3 2 4;}
@font-face
	{font-family:Calibri;
	panose-1:2 15 5 2 2 2 4 3 2 4;}
@font-face
	{font-family:Aptos;}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
	{margin:0cm;
	font-size:11.0pt;
	font-family:"Aptos",sans-serif;
	mso-ligatures:standardcontextual;
	mso-fareast-language:EN-US;}
a:link, span.MsoHyperlink
	{mso-style-priority:99;
	color:#467886;
	text-decoration:underline;}
span.EstiloCorreo17
	{mso-style-type:personal-compose;
	font-family:"Aptos",sans-serif;
	color:windowtext;}
.MsoChpDefault
	{mso-style-type:export-only;
	font-size:11.0pt;
	mso-fareast-language:EN-US;}
@page WordSection1
	{size:612.0pt 792.0pt;
	margin:70.85pt 3.0cm 70.85pt 3.0cm;}
div.WordSection1
	{page:WordSection1;}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext="edit">
<o:idmap v:ext="edit" data="1" />
</o:shapelayout></xml><![endif]-->
</head>
<body lang="ES" link="#467886" vlink="#96607D" style="word-wrap:break-word">
<div class="WordSection1">
"""


@dataclass
class _Body:
    """One mail's text as blocks: ("p", [paragraph]), ("lines", lines) kept as typed,
    ("code", pasted lines), ("sig", signature lines), ("legal", disclaimer paragraphs)."""

    blocks: list[tuple[str, list[str]]]


def _plain(body: _Body, client: _Client) -> str:
    out: list[str] = []
    for kind, lines in body.blocks:
        if kind == "p":
            if client.flowed:
                out.append(" \n".join(textwrap.wrap(lines[0], 72, break_on_hyphens=False)))
            else:
                out.append(lines[0])
        elif kind == "sig":
            sep = "-- \n" if client.name in ("gmail", "thunderbird", "roundcube") else ""
            out.append(sep + "\n".join(lines))
        elif kind == "legal":
            if client.flowed:
                out.append("\n\n".join(" \n".join(textwrap.wrap(p, 72)) for p in lines))
            else:
                out.append("\n\n".join(lines))
        else:
            out.append("\n".join(lines))
    return "\n\n".join(out)


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _html_inner(body: _Body, client: _Client) -> str:
    """The HTML of the new text, without document wrapper or quote."""
    n = client.name
    out: list[str] = []
    for kind, lines in body.blocks:
        if n in ("outlook", "outlookweb"):
            if kind == "code":
                rows = [
                    f'<p class="MsoNormal"><span style="font-family:&quot;Courier New&quot;;'
                    f'font-size:9.0pt">{_esc(x) or "&nbsp;"}<o:p></o:p></span></p>'
                    for x in lines
                ]
            elif kind == "legal":
                rows = [
                    f'<p class="MsoNormal"><span style="font-size:7.5pt;color:gray">{_esc(x)}'
                    "<o:p></o:p></span></p>"
                    for x in lines
                ]
            elif kind == "sig":
                rows = [
                    f'<p class="MsoNormal"><b><span style="color:#1F3864">{_esc(lines[0])}</span>'
                    "</b><o:p></o:p></p>"
                ] + [
                    f'<p class="MsoNormal"><span style="font-size:9.0pt;color:#595959">{_esc(x)}'
                    "<o:p></o:p></span></p>"
                    for x in lines[1:]
                ]
            else:
                rows = [f'<p class="MsoNormal">{_esc(x)}<o:p></o:p></p>' for x in lines]
            out.append("\n".join(rows) + '\n<p class="MsoNormal"><o:p>&nbsp;</o:p></p>')
        elif n == "gmail":
            if kind == "code":
                out.append(
                    '<div><font face="monospace">' + "<br>".join(map(_esc, lines)) + "</font></div>"
                )
            elif kind == "sig":
                out.append(
                    '<span class="gmail_signature_prefix">-- </span><br><div dir="ltr" '
                    'class="gmail_signature" data-smartmail="gmail_signature"><div dir="ltr">'
                    f"<b>{_esc(lines[0])}</b>"
                    + "".join(f"<div>{_esc(x)}</div>" for x in lines[1:])
                    + "</div></div>"
                )
            elif kind == "legal":
                out.append(
                    "".join(
                        f'<div><font size="1" color="#888888">{_esc(x)}</font></div>' for x in lines
                    )
                )
            else:
                out.append("".join(f"<div>{_esc(x)}</div>" for x in lines))
            out.append("<div><br></div>")
        elif n in ("apple", "iphone", "yahoo"):
            tag = '<div dir="ltr" data-setdir="false">' if n == "yahoo" else "<div>"
            if kind == "code":
                out.append(
                    '<div><font face="Menlo">' + "<br>".join(map(_esc, lines)) + "</font></div>"
                )
            else:
                out.append("".join(f"{tag}{_esc(x)}</div>" for x in lines))
            out.append("<div><br></div>")
        else:  # thunderbird, roundcube
            if kind == "code":
                out.append("<pre>" + "\n".join(map(_esc, lines)) + "</pre>")
            elif kind == "sig":
                cls = "moz-signature" if n == "thunderbird" else "signature"
                out.append(
                    f'<div class="{cls}">-- <br>' + "<br>\n".join(map(_esc, lines)) + "</div>"
                )
            elif kind == "legal":
                out.append(
                    "\n".join(f'<p style="font-size:8pt;color:#777">{_esc(x)}</p>' for x in lines)
                )
            else:
                out.append("<p>" + "<br>\n".join(map(_esc, lines)) + "</p>")
    return (
        "\n".join(out)
        if n in ("outlook", "outlookweb", "thunderbird", "roundcube")
        else "".join(out)
    )


def _html_document(inner: str, client: _Client, charset: str) -> str:
    n = client.name
    if n in ("outlook", "outlookweb"):
        head = _OUTLOOK_HEAD.replace("charset=utf-8", f"charset={charset}")
        return head + inner + "\n</div>\n</body>\n</html>\n"
    if n == "gmail":
        return f'<div dir="ltr">{inner}</div>\n'
    if n in ("apple", "iphone"):
        return (
            f'<html><head><meta http-equiv="content-type" content="text/html; charset={charset}">'
            '</head><body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; '
            f'line-break: after-white-space;">{inner}</body></html>'
        )
    if n == "yahoo":
        return (
            '<html><head></head><body><div class="ydp5f3c2a1byahoo-style-wrap" style="font-family:'
            f'Helvetica Neue, Helvetica, Arial, sans-serif;font-size:13px;">{inner}</div>'
            "</body></html>"
        )
    if n == "thunderbird":
        return (
            '<!DOCTYPE html>\n<html>\n  <head>\n    <meta http-equiv="Content-Type" '
            f'content="text/html; charset={charset}">\n  </head>\n  <body>\n{inner}\n'
            "  </body>\n</html>\n"
        )
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />'
        "</head><body style='font-size: 10pt; font-family: Verdana,Geneva,sans-serif'>\n"
        f"{inner}\n</body></html>\n"
    )


@dataclass
class _Sent:
    """What a later reply needs of an earlier mail."""

    index: int
    message_id: str
    references: list[str]
    subject: str
    when: datetime
    plain: str
    html: str  # inner HTML, quote included
    from_header_text: str  # "José Martínez <jose@…>" as a person would read it
    cc: list[tuple[str, str]]
    topic: str
    client: str
    thread_index: bytes


def _attribution(client: str, s: _Sent, support: str) -> list[str]:
    """The line(s) a client puts above the quoted earlier mail."""
    w = s.when
    who = s.from_header_text
    name = who.split(" <")[0]
    if client == "gmail":
        return [
            f"El {_DAYS_SHORT[w.weekday()]}, {w.day} {_MONTHS_SHORT[w.month - 1]} {w.year} "
            f"a las {w:%H:%M}, {who} escribió:"
        ]
    if client in ("apple", "iphone"):
        return [
            f"El {w.day} {_MONTHS_SHORT[w.month - 1]} {w.year}, a las {w:%H:%M}, {who} escribió:"
        ]
    if client == "thunderbird":
        return [f"El {w:%d/%m/%y} a las {w:%H:%M}, {name} escribió:"]
    if client == "roundcube":
        return [f"El {w:%Y-%m-%d} {w:%H:%M}, {name} escribió:"]
    if client == "yahoo":
        return [
            f"En {_DAYS[w.weekday()]}, {w.day} de {_MONTHS[w.month - 1]} de {w.year}, "
            f"{w:%H:%M:%S} {_zone_name(w)}, {who} escribió:"
        ]
    sent = f"{_DAYS[w.weekday()]}, {w.day} de {_MONTHS[w.month - 1]} de {w.year} {w:%H:%M}"
    lines = [
        f"De: {who}",
        f"Enviado: {sent}",
        f"Para: {support}",
    ]
    if s.cc:
        lines.append("CC: " + "; ".join(f"{n} <{a}>" for n, a in s.cc))
    return [*lines, f"Asunto: {s.subject}"]


def _quote_plain(client: str, s: _Sent, support: str) -> str:
    head = _attribution(client, s, support)
    if client in ("outlook", "outlookweb"):
        rule = "-----Mensaje original-----" if client == "outlook" else "_" * 32
        return "\n".join([rule, *head]) + "\n\n" + s.plain
    quoted = "\n".join(">" + (" " + x if x else "") for x in s.plain.split("\n"))
    if client in ("apple", "iphone"):
        return "> " + head[0] + "\n> \n" + quoted
    return head[0] + "\n\n" + quoted


def _quote_html(client: str, s: _Sent, support: str) -> str:
    head = [_esc(x) for x in _attribution(client, s, support)]
    if client in ("outlook", "outlookweb"):
        labels = [x.split(":", 1) for x in head]
        rows = "<br>\n".join(f"<b>{k}:</b>{v}" for k, v in labels)
        return (
            '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
            f'\n<p class="MsoNormal"><span lang="ES">{rows}<o:p></o:p></span></p>\n</div>\n'
            f"{s.html}"
        )
    if client == "gmail":
        return (
            '<br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">'
            f'{head[0]}<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px '
            f'0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">{s.html}'
            "</blockquote></div>"
        )
    if client in ("apple", "iphone"):
        return (
            f'<div><br><blockquote type="cite"><div>{head[0]}</div><br '
            f'class="Apple-interchange-newline"><div>{s.html}</div></blockquote></div>'
        )
    if client == "yahoo":
        return (
            '<div id="yahoo_quoted_0" class="yahoo_quoted"><div style="font-family:\'Helvetica '
            f"Neue', Helvetica, Arial, sans-serif;font-size:13px;color:#26282a;\"><div>{head[0]}"
            f'</div><div><br></div><blockquote style="border-left:1px solid #ccc;padding-left:'
            f'1ex">{s.html}</blockquote></div></div>'
        )
    cite = f' cite="mid:{s.message_id.strip("<>")}"' if client == "thunderbird" else ""
    return (
        f'<div class="moz-cite-prefix">{head[0]}<br>\n</div>\n<blockquote type="cite"{cite}>\n'
        f"{s.html}\n</blockquote>"
    )


# --- The generator --------------------------------------------------------------------


class _Generator:
    def __init__(self, seed: int, tag: str, support: str) -> None:
        if "@" not in support:
            raise ValueError("support must be an address")
        self.seed = seed
        self.tag = tag
        self.support = support
        self.support_domain = support.rsplit("@", 1)[1].lower()
        self.mx = f"mx.{self.support_domain}"
        self.rng = random.Random(f"bench.corpus:{seed}")
        self.customers = _customers(random.Random(f"bench.corpus.customers:{seed}"), CUSTOMERS)
        self.weights = [c.weight for c in self.customers]
        self.topics = list(_TOPICS)
        self.topic_weights = [_TOPICS[t][0] for t in self.topics]
        self.by_address = {c.address: c for c in self.customers}

    # The mix ------------------------------------------------------------------------

    def mails(self, count: int) -> Iterator[CorpusMail]:
        rng = self.rng
        replies = (
            set(rng.sample(range(1, count), min(round(count * REPLY_SHARE), count - 1)))
            if count > 1
            else set()
        )
        attach = self._attachment_sizes(rng.sample(range(count), round(count * ATTACHMENT_SHARE)))
        htmls = set(rng.sample(range(count), round(count * HTML_SHARE)))
        sent: dict[int, _Sent] = {}
        order: list[int] = []
        when = START
        for index in range(count):
            when = self._next_time(when)
            earlier: _Sent | None = None
            if index in replies:
                window = order[-120:]
                # Customers add to what they wrote recently, most of all in the last day.
                pick = window[-1 - min(int(rng.expovariate(1 / 12)), len(window) - 1)]
                earlier = sent[pick]
            mail, record = self._mail(index, when, earlier, attach.get(index, []), index in htmls)
            sent[index] = record
            order.append(index)
            if len(order) > 400:
                sent.pop(order.pop(0), None)
            yield mail

    def _attachment_sizes(self, mails: list[int]) -> dict[int, list[int]]:
        """Sizes of the attachments of these mails: one to three a mail, each 20–300 KB
        from a lognormal drawn stratified, so that every seed's corpus weighs about the
        same (about 31 KB a mail on average)."""
        rng = self.rng
        n = len(mails)
        counts = [3] * round(n * 0.05) + [2] * round(n * 0.2)
        counts = (counts + [1] * n)[:n]
        rng.shuffle(counts)
        total = sum(counts)
        normal = NormalDist()
        sizes = [
            int(
                min(
                    300,
                    max(
                        20,
                        ATTACHMENT_KB * math.exp(0.75 * normal.inv_cdf((k + rng.random()) / total)),
                    ),
                )
                * 1024
            )
            for k in range(total)
        ]
        rng.shuffle(sizes)
        out: dict[int, list[int]] = {}
        for index, k in zip(mails, counts, strict=True):
            out[index], sizes = sizes[:k], sizes[k:]
        return out

    def _next_time(self, when: datetime) -> datetime:
        """Busier in office hours on weekdays, quiet at night and at weekends."""
        rng = self.rng
        while True:
            local = _madrid(when)
            mean = 14 if 8 <= local.hour < 20 else 45 if 7 <= local.hour < 23 else 150
            if local.weekday() >= 5:
                mean *= 3
            step = timedelta(seconds=max(5, rng.expovariate(1 / (mean * 60))))
            if step < timedelta(hours=1):
                return when + step
            when += timedelta(hours=1)

    # One mail -----------------------------------------------------------------------

    def _mail(
        self,
        index: int,
        when: datetime,
        earlier: _Sent | None,
        attachment_sizes: list[int],
        has_html: bool,
    ) -> tuple[CorpusMail, _Sent]:
        rng = self.rng
        if earlier is not None:
            customer = self.by_address[earlier.from_header_text.rsplit("<", 1)[-1].rstrip(">")]
            topic = earlier.topic
            client_name = earlier.client if rng.random() < 0.85 else customer.client
        else:
            customer = rng.choices(self.customers, self.weights)[0]
            topic = rng.choices(self.topics, self.topic_weights)[0]
            client_name = customer.client
        if client_name == "gmail" and not has_html and customer.host == "gmail.com":
            client_name = "iphone" if rng.random() < 0.6 else "gmail"
        mobile = client_name == "iphone" or (client_name in _MOBILE_LINE and rng.random() < 0.08)
        client = _CLIENTS[client_name]
        local = _madrid(when)
        ctx = self._context(customer, local)

        kinds = [rng.choice(_TOPICS[topic][3]) for _ in attachment_sizes]
        body = self._body(customer, topic, client, mobile, kinds, ctx, local, earlier)
        new_plain = _plain(body, client)
        new_html = _html_inner(body, client)
        if earlier is not None:
            plain = new_plain + "\n\n" + _quote_plain(client_name, earlier, self.support)
            html_inner = new_html + _quote_html(client_name, earlier, self.support)
            subject = earlier.subject
            if not subject.lower().startswith("re:"):
                subject = client.reply_prefix + subject
            references = [*earlier.references, earlier.message_id][-12:]
            cc = earlier.cc if rng.random() < 0.8 else []
        else:
            plain = new_plain
            html_inner = new_html
            subject = self._subject(topic, client_name, ctx)
            if subject.startswith(("RV: ", "Fwd: ")) and not mobile:
                plain, html_inner = self._forward(client, customer, ctx, local, subject, body)
            references = []
            cc = (
                list(rng.sample(customer.colleagues, 1))
                if customer.colleagues and rng.random() < 0.3
                else []
            )

        charset = "utf-8"
        if customer.legacy_charset and client_name in ("outlook", "thunderbird"):
            names = customer.display + "".join(name for name, _ in cc)
            if _fits(plain + html_inner + subject + names, customer.legacy_charset):
                charset = customer.legacy_charset
        message_id = self._message_id(client_name, customer, index, local)
        attachments = self._attachments(
            client_name, customer, ctx, local, list(zip(kinds, attachment_sizes, strict=True))
        )
        thread_index = self._thread_index(rng, when, earlier)
        raw = self._assemble(
            customer=customer,
            client=client,
            when=when,
            local=local,
            subject=subject,
            message_id=message_id,
            references=references,
            cc=cc,
            plain=plain,
            html_doc=_html_document(html_inner, client, charset) if has_html else None,
            charset=charset,
            attachments=attachments,
            thread_index=thread_index,
            mobile=mobile,
        )
        record = _Sent(
            index=index,
            message_id=message_id,
            references=references,
            subject=subject,
            when=local,
            plain=plain,
            html=html_inner,
            from_header_text=(
                f"{customer.display} <{customer.address}>" if customer.display else customer.address
            ),
            cc=cc,
            topic=topic,
            client=client_name,
            thread_index=thread_index,
        )
        mail = CorpusMail(
            raw=raw,
            message_id=message_id,
            sender=customer.address,
            is_reply=earlier is not None,
            has_attachment=bool(attachments),
            has_html=has_html,
        )
        return mail, record

    def _context(self, c: _Customer, local: datetime) -> dict[str, str]:
        rng = self.rng
        days_back = rng.choice((1, 1, 2, 3, 4, 7))
        back = local - timedelta(days=days_back)
        fecha = rng.choice(
            (
                "ayer",
                "esta mañana",
                "anoche",
                f"el {_DAYS[back.weekday()]}",
                f"el día {back.day}",
                "hace un par de días",
                "el fin de semana",
                "el viernes por la tarde",
            )
        )
        deadline = local + timedelta(days=rng.randint(3, 40))
        values = {
            "site": c.site,
            "url": f"https://www.{c.site}"
            + rng.choice(("/wp-admin", "/wp-admin/", "/tienda", "/", "/wp-login.php", "/contacto")),
            "email": c.address,
            "mailbox": c.mailbox,
            "colleague_first": c.colleagues[0][0].split()[0] if c.colleagues else rng.choice(_MEN),
            "company_or_name": c.company or c.full,
            "company": c.company or c.full,
            "cliente": str(c.customer_no),
            "plan": c.plan,
            "years": str(rng.randint(2, 14)),
            "phone": c.phone,
            "mobile": c.mobile,
            "fecha": fecha,
            "deadline": f"{deadline.day} de {_MONTHS[deadline.month - 1]}",
            "dia": f"{back.day} de {_MONTHS[back.month - 1]}",
            "n": str(rng.choice((2, 3, 5, 10, 15, 20, 30, 40, 60, 85, 95))),
            "invoice": f"FA{local.year}-{rng.randint(100, 99999):05d}",
            "importe": f"{rng.randint(5, 400)},{rng.choice(('00', '50', '90', '95', '79'))} €",
            "ip": _some_ip(rng),
            "php_old": rng.choice(("7.4", "8.0", "8.1")),
            "php_new": rng.choice(("8.2", "8.3", "8.4")),
            "quota": rng.choice(("2 GB", "5 GB", "10 GB", "25 GB")),
            "quota_used": f"{rng.uniform(1.5, 4.99):.2f} GB".replace(".", ","),
            "db": "wp_" + _slug(c.site.split(".")[0])[:10],
            "dbsize": str(rng.choice((80, 150, 300, 512, 900, 1200))),
            "ftpuser": _slug(c.site.split(".")[0])[:12] + rng.choice(("", "_ftp", "admin")),
            "provider": rng.choice(_PROVIDERS),
            "host": self.support_domain,
            "cif": c.cif,
        }
        for key, (tu, usted) in _REGISTER.items():
            values[key] = usted if c.usted else tu
        return values

    def _forward(
        self,
        client: _Client,
        c: _Customer,
        ctx: dict[str, str],
        local: datetime,
        subject: str,
        body: _Body,
    ) -> tuple[str, str]:
        """(plain, inner HTML) of the customer forwarding what they wrote to someone else
        (their web agency, their IT man) before writing to support."""
        rng = self.rng
        note = _Body(
            [
                ("lines", [self._fill(rng.choice(_PHRASE["forward_note"]), ctx)]),
                ("lines", [c.first.split()[0]]),
            ]
        )
        to = f"{rng.choice(('tecnico', 'info', 'soporte'))}@{_slug(rng.choice(_PLACES))}"
        to += rng.choice(("informatica.es", "web.com", "disenoweb.es", "sistemas.net"))
        who = f"{c.display} <{c.address}>" if c.display else c.address
        w = local - timedelta(minutes=rng.randint(20, 3000))
        original = subject.split(": ", 1)[1]
        n = client.name
        if n == "gmail":
            date = f"{_DAYS_SHORT[w.weekday()]}, {w.day} {_MONTHS_SHORT[w.month - 1]} {w.year}"
            head = [
                "---------- Forwarded message ---------",
                f"De: {who}",
                f"Date: {date} a las {w:%H:%M}",
                f"Subject: {original}",
                f"To: <{to}>",
            ]
        elif n in ("outlook", "outlookweb"):
            date = f"{_DAYS[w.weekday()]}, {w.day} de {_MONTHS[w.month - 1]} de {w.year}"
            head = [
                "_" * 32,
                f"De: {who}",
                f"Enviado: {date} {w:%H:%M}",
                f"Para: {to}",
                f"Asunto: {original}",
            ]
        elif n in ("apple", "iphone"):
            date = f"{w.day} de {_MONTHS[w.month - 1]} de {w.year}, {w:%H:%M:%S} {_zone_name(w)}"
            head = [
                "Inicio del mensaje reenviado:",
                "",
                f"De: {who}",
                f"Asunto: {original}",
                f"Fecha: {date}",
                f"Para: {to}",
            ]
        else:
            head = [
                "-------- Mensaje reenviado --------",
                f"Asunto: \t{original}",
                f"Fecha: \t{format_datetime(w)}",
                f"De: \t{who}",
                f"Para: \t{to}",
            ]
        plain = _plain(note, client) + "\n\n" + "\n".join(head) + "\n\n" + _plain(body, client)
        rows = "<br>\n".join(_esc(x) for x in head)
        if n in ("outlook", "outlookweb"):
            block = f'<p class="MsoNormal">{rows}<o:p></o:p></p>\n'
        else:
            block = f"<div><br></div><div>{rows}</div><div><br></div>"
        return plain, _html_inner(note, client) + block + _html_inner(body, client)

    def _fill(self, text: str, ctx: dict[str, str]) -> str:
        # No "… Talleres Gómez S.L.." where a sentence ends with a company's name.
        return _DOUBLE_DOT.sub(".", text.format_map(ctx))

    def _subject(self, topic: str, client: str, ctx: dict[str, str]) -> str:
        rng = self.rng
        subject = self._fill(rng.choice(_PHRASE[f"{topic}.subject"]), ctx)
        roll = rng.random()
        if roll < 0.10:
            subject = _ascii(subject)  # typed without accents
        elif roll < 0.14:
            subject = subject.lower()
        elif roll < 0.17 and not subject.startswith("URGENTE"):
            subject = "URGENTE: " + subject
        if rng.random() < 0.05:
            # Forwarded (what the customer first wrote to someone else, see _forward) or a
            # reply to an older exchange outside this corpus: a prefix but no In-Reply-To.
            prefixes = {"outlook": ("RV: ", "RE: "), "outlookweb": ("RV: ", "RE: ")}
            subject = rng.choice(prefixes.get(client, ("Fwd: ", "Fwd: ", "Re: "))) + subject
        return subject

    def _body(
        self,
        c: _Customer,
        topic: str,
        client: _Client,
        mobile: bool,
        attachments: list[str],
        ctx: dict[str, str],
        local: datetime,
        earlier: _Sent | None,
    ) -> _Body:
        rng = self.rng

        def fill(key: str) -> str:
            return self._fill(rng.choice(_PHRASE[key]), ctx)

        blocks: list[tuple[str, list[str]]] = []
        _, snippet_kinds, log_kinds, _ = _TOPICS[topic]
        reply = earlier is not None
        code = self._ctx(c, ctx, local)
        # A customer adding to an earlier mail: more facts, still broken, or solved.
        mood = rng.choices(("reply_info", "reply_still", "reply_solved"), (5, 4, 1))[0]
        used: set[str] = set()
        note = fill(f"attach.{attachments[0]}") if attachments else ""
        if mobile:
            text = fill(mood) if reply else fill(f"{topic}.intro")
            if note:
                text += " " + note
            if rng.random() < 0.6:
                text += " " + fill("mobile_extra")
            blocks.append(("p", [text]))
            if rng.random() < 0.3 and snippet_kinds and mood != "reply_solved":
                blocks.append(("code", _snippet(rng.choice(snippet_kinds), code)))
            line = _MOBILE_LINE.get(client.name, "Enviado desde mi iPhone")
            blocks.append(("lines", [line]))
            return _Body(blocks)

        greeting = fill("greeting_usted" if c.usted else "greeting")
        if rng.random() < 0.12 and c.first:
            greeting = (
                rng.choice(("Hola, soy ", "Buenos días, soy "))
                + c.first.split()[0]
                + (f" de {c.company}." if c.company else ".")
            )
        blocks.append(("lines", [greeting]))
        if reply:
            pool = _PHRASE[mood]
            sentences = rng.sample(pool, min(rng.randint(1, 2), len(pool)))
            blocks.append(("p", [" ".join(self._fill(x, ctx) for x in sentences)]))
            if mood == "reply_info" and rng.random() < 0.4:
                blocks.append(("p", [" ".join(self._details(topic, ctx, rng.randint(1, 3), used))]))
        else:
            first = [fill(f"{topic}.intro"), *self._details(topic, ctx, rng.randint(0, 2), used)]
            blocks.append(("p", [" ".join(first)]))
            for _ in range(rng.choices((0, 1, 2, 3, 4), (15, 35, 28, 15, 7))[0]):
                blocks.append(("p", [" ".join(self._details(topic, ctx, rng.randint(1, 4), used))]))
        troubled = not (reply and mood == "reply_solved")
        if troubled and snippet_kinds and rng.random() < 0.45:
            blocks.append(("lines", [fill("snippet_intro")]))
            blocks.append(("code", _snippet(rng.choice(snippet_kinds), code)))
        if troubled and log_kinds and rng.random() < 0.3:
            # A long tail: mostly a screenful, now and then hundreds of lines.
            lines = min(int(8 * rng.paretovariate(1.2)), 300)
            blocks.append(("lines", [fill("log_intro")]))
            blocks.append(("code", _log(rng.choice(log_kinds), code, lines)))
        if note:
            blocks.append(("p", [note]))
        if rng.random() < 0.7:
            blocks.append(("p", [fill("closing_usted" if c.usted else "closing")]))
        signoff = [fill("signoff")]
        if not c.signature or rng.random() < 0.5:
            signoff.append(c.first.split()[0] if rng.random() < 0.7 else c.full)
        blocks.append(("lines", signoff))
        if c.signature:
            sig = [c.full]
            if c.company:
                sig.append(c.company)
                if rng.random() < 0.5:
                    sig.append(c.street)
            sig.append(rng.choice(("Tel. ", "Tlf.: ", "T. ", "Teléfono: ")) + c.phone)
            if rng.random() < 0.5:
                sig.append("Móvil: " + c.mobile)
            sig.append(rng.choice(("www.", "https://www.")) + c.site)
            blocks.append(("sig", sig))
        if c.disclaimer:
            legal = [self._fill(x, ctx) for x in _PHRASE["disclaimer"]]
            blocks.append(("legal", legal[: rng.choice((1, 2, 3, 3))]))
        return _Body(blocks)

    def _details(self, topic: str, ctx: dict[str, str], n: int, used: set[str]) -> list[str]:
        """n sentences about the topic or in general, none used before in this mail."""
        rng = self.rng
        pool = [x for x in _PHRASE[f"{topic}.detail"] + _PHRASE["general"] if x not in used]
        picked = rng.sample(pool, min(n, len(pool)))
        used.update(picked)
        return [self._fill(x, ctx) for x in picked]

    def _attachments(
        self,
        client: str,
        c: _Customer,
        ctx: dict[str, str],
        local: datetime,
        wanted: list[tuple[str, int]],
    ) -> list[_Attachment]:
        """Files of these kinds (png, pdf, log, zip) and sizes (before base64)."""
        rng = self.rng
        out: list[_Attachment] = []
        for kind, size in wanted:
            stamp = local - timedelta(minutes=rng.randint(1, 90))
            if kind == "png" and client == "iphone":
                name = rng.choice(("IMG_{n}.jpeg", "image0.jpeg", "IMG_{n}.JPG")).format(
                    n=rng.randint(1000, 9999)
                )
                out.append(_Attachment(name, "image/jpeg", _jpeg(rng, size)))
            elif kind == "png":
                name = {
                    "gmail": "image.png",
                    "apple": f"Captura de pantalla {stamp:%Y-%m-%d} a las {stamp:%H.%M.%S}.png",
                    "outlook": "image001.png" if rng.random() < 0.4 else "Captura.PNG",
                }.get(
                    client,
                    rng.choice(
                        (
                            "captura.png",
                            "error.png",
                            "Captura de pantalla (12).png",
                            "pantallazo_móvil.png",
                        )
                    ),
                )
                out.append(_Attachment(name, "image/png", _png(rng, size)))
            elif kind == "pdf":
                name = rng.choice(
                    (
                        f"{ctx['invoice']}.pdf",
                        "extracto_banco.pdf",
                        "Factura_rectificativa.pdf",
                        f"Certificado titularidad {c.company or c.full}.pdf",
                        "presupuesto_migración.pdf",
                        "DNI_titular.pdf",
                    )
                )
                out.append(_Attachment(name, "application/pdf", _pdf(rng, size, stamp)))
            elif kind == "log":
                kind = rng.choice(("error_log", "maillog", "access_log"))
                lines = _log(kind, self._ctx(c, ctx, local), 40, budget=size)
                data = ("\r\n".join(lines) + "\r\n").encode()
                name = rng.choice(("error_log.txt", "log.txt", "registro.log", "errores.txt"))
                cut = data.rfind(b"\r\n", 0, size) + 2
                out.append(_Attachment(name, "text/plain", data[: max(cut, 2)]))
            else:
                names = [
                    f"{c.site}/wp-content/uploads/{stamp.year}/{rng.randint(1, 12):02d}/"
                    f"{_rand(rng, 8).lower()}.jpg"
                    for _ in range(rng.randint(1, 5))
                ]
                name = rng.choice(
                    ("web.zip", f"{c.site.split('.')[0]}.zip", "plugins.zip", "copia.zip")
                )
                out.append(_Attachment(name, "application/zip", _zip(rng, size, names, stamp)))
        return out

    def _ctx(self, c: _Customer, ctx: dict[str, str], local: datetime) -> _Ctx:
        return _Ctx(
            self.rng, c.site, local, c.ip, self.support_domain, c.mailbox, ctx["db"], ctx["ftpuser"]
        )

    # Identifiers --------------------------------------------------------------------

    def _unique(self, index: int | str) -> str:
        """Seed, index and tag, so that no two generated mails share a Message-ID."""
        return f"{self.seed}.{index}" + (f".{self.tag}" if self.tag else "")

    def _message_id(self, client: str, c: _Customer, index: int | str, local: datetime) -> str:
        rng = self.rng
        u = self._unique(index)
        if client == "gmail":
            return f"<CA{_rand(rng, 2)}{_rand(rng, 30, _ALNUM + '+_=')}-{u}@mail.gmail.com>"
        if client in ("outlook", "outlookweb") and c.host in ("hotmail", "m365"):
            box = rng.choice(("AM9PR04MB", "DU0PR08MB", "PA4PR02MB", "VI1PR06MB", "DB9PR10MB"))
            box += f"{rng.randint(1000, 9999)}"
            region = {"AM9": "eurprd04", "DU0": "eurprd08", "PA4": "eurprd02"}.get(
                box[:3], "eurprd06"
            )
            return f"<{box}{_hex(rng, 20, True)}{u}@{box}.{region}.prod.outlook.com>"
        if client == "outlook":
            return f"<00{_hex(rng, 6)}${_hex(rng, 8)}${_hex(rng, 8)}${u}@{c.domain}>"
        if client in ("apple", "iphone"):
            return f"<{_uuid(rng)}.{u}@{c.domain}>"
        if client == "yahoo":
            return f"<{rng.randint(10**8, 10**9)}.{rng.randint(10**6, 10**7)}.{u}@mail.yahoo.com>"
        if client == "roundcube":
            return f"<{_hex(rng, 32)}.{u}@{c.domain}>"
        return f"<{_uuid(rng).lower()}.{u}@{c.domain}>"

    @staticmethod
    def _thread_index(rng: random.Random, when: datetime, earlier: _Sent | None) -> bytes:
        if earlier is not None and earlier.thread_index:
            return earlier.thread_index + rng.randbytes(5)
        stamp = int(when.timestamp() * 10_000_000 + 116444736000000000)
        return (stamp >> 16).to_bytes(6, "big") + rng.randbytes(16)

    # Assembly -----------------------------------------------------------------------

    def _assemble(
        self,
        *,
        customer: _Customer,
        client: _Client,
        when: datetime,
        local: datetime,
        subject: str,
        message_id: str,
        references: list[str],
        cc: list[tuple[str, str]],
        plain: str,
        html_doc: str | None,
        charset: str,
        attachments: list[_Attachment],
        thread_index: bytes,
        mobile: bool = False,
    ) -> bytes:
        rng = self.rng
        n = client.name
        mailer = client.mailer if n == "iphone" or not mobile else None
        word_charset = charset if charset != "utf-8" else client.word_charset
        q = rng.random() < client.q_words

        def words(text: str) -> str:
            return text if text.isascii() else " ".join(_encoded_words(text, word_charset, q))

        def mailbox(name: str, address: str) -> str:
            return f"{_phrase(name, word_charset, q)} <{address}>" if name else address

        head: list[str] = []
        trace = self._trace(customer, client, when, local, message_id)
        head += trace
        mime_head, body = self._mime(client, plain, html_doc, charset, attachments, local)

        from_v = mailbox(customer.display, customer.address)
        to_name = rng.choice(("", "", "", "Soporte", "Soporte Técnico", "Soporte técnico"))
        to_v = mailbox(to_name, self.support)
        if n in ("outlook", "outlookweb"):
            head.append(_fold("From", from_v))
            head.append(_fold("To", f'"{self.support}" <{self.support}>'))
            if cc:
                head.append(_fold("CC", ", ".join(mailbox(a, b) for a, b in cc)))
            head.append(_fold("Subject", words(subject)))
            topic = re.sub(r"^(?:(?:re|rv|fwd?):\s*)+", "", subject, flags=re.I)
            head.append(_fold("Thread-Topic", words(topic)))
            head.append(_fold("Thread-Index", base64.b64encode(thread_index).decode()))
            head.append(_fold("Date", format_datetime(local)))
            head.append(_fold("Message-ID", message_id))
            if references:
                head.append(_fold("References", " ".join(references)))
                head.append(_fold("In-Reply-To", references[-1]))
            head.append("Accept-Language: es-ES, en-US\r\n")
            head.append("Content-Language: es-ES\r\n")
            head.append(
                f"X-MS-Has-Attach: {'yes' if attachments else ''}\r\n".replace(": \r", ":\r")
            )
            if mailer:
                head.append(_fold(*mailer))
            head += mime_head
            head.append("MIME-Version: 1.0\r\n")
        elif n in ("apple", "iphone"):
            head += mime_head[:1]
            if n == "apple":
                head.append("Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3826.300.87.4.3\\))\r\n")
            else:
                head.append("Mime-Version: 1.0 (1.0)\r\n")
            head.append(_fold("Subject", words(subject)))
            head.append(_fold("From", from_v))
            if references:
                head.append(_fold("In-Reply-To", references[-1]))
            head.append(_fold("Date", format_datetime(local)))
            if cc:
                head.append(_fold("Cc", ", ".join(mailbox(a, b) for a, b in cc)))
            head += mime_head[1:]
            head.append(_fold("Message-Id", message_id))
            if references:
                head.append(_fold("References", " ".join(references)))
            head.append(_fold("To", to_v))
            if mailer:
                head.append(_fold(*mailer))
        else:
            head.append("MIME-Version: 1.0\r\n")
            if references:
                head.append(_fold("References", " ".join(references)))
                head.append(_fold("In-Reply-To", references[-1]))
            head.append(_fold("From", from_v))
            head.append(_fold("Date", format_datetime(local)))
            head.append(_fold("Message-ID", message_id))
            head.append(_fold("Subject", words(subject)))
            head.append(_fold("To", to_v))
            if cc:
                head.append(_fold("Cc", ", ".join(mailbox(a, b) for a, b in cc)))
            if mailer:
                head.append(_fold(*mailer))
            head += mime_head
        return "".join(head).encode("ascii") + b"\r\n" + body

    def _trace(
        self, c: _Customer, client: _Client, when: datetime, local: datetime, message_id: str
    ) -> list[str]:
        """Return-Path, Received hops (newest first), Authentication-Results, DKIM."""
        rng = self.rng
        mx = self.mx
        arrive = _madrid(when + timedelta(seconds=rng.randint(1, 6)))
        delivered = _madrid(when + timedelta(seconds=rng.randint(6, 9)))

        def date(t: datetime) -> str:
            return f"{format_datetime(t)} ({_zone_name(t)})"

        queue = _rand(rng, 4, "BCDFGHJKLMNPQRSTVWXYZ23456789") + _rand(rng, 11, _ALNUM)
        tls = (
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n"
            "\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\r\n"
            "\t(No client certificate requested)\r\n"
        )
        domain = c.domain
        out = [f"Return-Path: <{c.address}>\r\n", f"Delivered-To: {self.support}\r\n"]
        if rng.random() < 0.85:
            out.append(
                f"Received: from {mx}\r\n\tby imap.{self.support_domain} with LMTP\r\n"
                f"\tid {_rand(rng, 22, _B64CHARS.replace('/', ''))}\r\n"
                f"\t(envelope-from <{c.address}>)\r\n\tfor <{self.support}>; {date(delivered)}\r\n"
            )
        if c.host in ("gmail.com", "workspace"):
            num = rng.randint(1, 99)
            helo = f"mail-{rng.choice(('wr1', 'wm1', 'ej1', 'ed1', 'lf1'))}-f{num}.google.com"
            ip = f"209.85.{rng.randint(128, 255)}.{num}"
            pst, zone = _pacific(when)
            smtp_id = f"{_rand(rng, 12).lower()}so{rng.randint(10**6, 10**7)}.{rng.randint(0, 9)}"
            if client.name == "gmail":
                origin = f"Received: by {helo} with SMTP id {smtp_id}\r\n"
            else:  # a desktop or phone client submitting through smtp.gmail.com
                origin = (
                    f"Received: from smtpclient.apple ([{c.ip}])\r\n        by smtp.gmail.com "
                    f"with ESMTPSA id {smtp_id}\r\n"
                )
            origin += f"        for <{self.support}>; {format_datetime(pst)} ({zone})\r\n"
        elif c.host in ("hotmail", "m365"):
            pod = rng.choice(("EUR05", "EUR03", "EUR02", "EUR01"))
            site = rng.choice(("AM6", "VI1", "DB8", "HE1"))
            helo = f"{pod}-{site}-obe.outbound.protection.outlook.com"
            ip = f"40.107.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            box = (
                message_id.split("@", 1)[1].rstrip(">")
                if "outlook.com" in message_id
                else f"AM9PR04MB{rng.randint(1000, 9999)}.eurprd04.prod.outlook.com"
            )
            origin = (
                f"Received: from {box}\r\n ([fe80::{_hex(rng, 4)}:{_hex(rng, 4)}:{_hex(rng, 4)}:"
                f"{_hex(rng, 4)}]) by {box}\r\n ([fe80::{_hex(rng, 4)}:{_hex(rng, 4)}%4]) with "
                f"mapi id 15.20.{rng.randint(8000, 8300)}.{rng.randint(1, 40):03d};"
                f" {format_datetime(when)}\r\n"
            )
        elif c.host == "yahoo":
            helo = f"sonic{rng.randint(300, 330)}-{rng.randint(1, 40)}.consmr.mail.ir2.yahoo.com"
            ip = f"77.238.{rng.randint(176, 179)}.{rng.randint(1, 254)}"
            origin = (
                "Received: from sonic.gate.mail.ne1.yahoo.com by "
                f"sonic{rng.randint(300, 330)}.consmr."
                f"mail.ir2.yahoo.com with HTTP; {format_datetime(when)}\r\n"
            )
        elif c.host == "icloud.com":
            helo = f"st43p00im-ztfb{rng.randint(10, 30)}{rng.randint(10, 99)}.me.com"
            ip = f"17.58.{rng.randint(60, 63)}.{rng.randint(1, 254)}"
            origin = (
                f"Received: from smtpclient.apple (unknown [{c.ip}])\r\n\tby {helo} (Postfix) "
                f"with ESMTPSA id {_hex(rng, 10, True)};\r\n\t{format_datetime(when)}\r\n"
            )
        elif c.host == "isp":
            helo = f"smtp{rng.randint(1, 4)}.{domain}"
            ip = _some_ip(rng)
            origin = (
                f"Received: from [192.168.1.{rng.randint(2, 250)}] (unknown [{c.ip}])\r\n"
                f"\tby {helo} with ESMTPSA id {_hex(rng, 12, True)};\r\n"
                f"\t{format_datetime(local)}\r\n"
            )
        else:  # the customer's own domain, on our mail service
            helo = f"smtp.{self.support_domain}"
            ip = f"10.20.0.{rng.randint(10, 30)}"
            box = (
                "smtpclient.apple"
                if client.name == "apple"
                else f"[192.168.{rng.choice((0, 1, 1, 10))}.{rng.randint(2, 250)}]"
            )
            origin = (
                f"Received: from {box} (unknown [{c.ip}])\r\n"
                f"\t(Authenticated sender: {c.address})\r\n\tby {helo} (Postfix) with ESMTPSA id "
                f"{_rand(rng, 4, 'BCDFGHJKLMNPQRSTVWXYZ')}{_rand(rng, 9)};\r\n"
                f"\t{date(local)}\r\n"
            )
        out.append(
            f"Received: from {helo} ({helo} [{ip}])\r\n{tls}"
            f"\tby {mx} (Postfix) with ESMTPS id {queue}\r\n"
            f"\tfor <{self.support}>; {date(arrive)}\r\n"
        )
        out.append(self._auth_results(c, ip, helo))
        out.append(origin)
        if c.dkim:
            out.append(self._dkim(c, when))
        if c.host in ("gmail.com", "workspace"):
            out.append(_fold("X-Google-Smtp-Source", "AGHT+I" + _b64rand(rng, 80)))
            out.append(
                f"X-Received: by 2002:a05:6000:{_hex(rng, 4)} with SMTP id "
                f"{_rand(rng, 20).lower()}.{rng.randint(10, 99)};\r\n"
                f"        {format_datetime(_pacific(when)[0])} ({_pacific(when)[1]})\r\n"
            )
            out.append(_fold("X-Gm-Message-State", "AOJu0Y" + _b64rand(rng, 60)))
        elif c.host in ("hotmail", "m365"):
            out.append(f"X-MS-Exchange-Organization-SCL: {rng.choice((-1, 1))}\r\n")
            out.append(_fold("X-MS-Office365-Filtering-Correlation-Id", _uuid(rng).lower()))
            out.append(
                _fold(
                    "X-Microsoft-Antispam",
                    f"BCL:0;ARA:13230040|{rng.randint(100000, 999999)}|"
                    f"{rng.randint(1000, 9999)}|366016|1800799024;",
                )
            )
            out.append(
                _fold(
                    "X-MS-Exchange-CrossTenant-OriginalArrivalTime",
                    f"{when.day:02d} {_EN_MONTHS[when.month - 1]} {when:%Y %H:%M:%S.%f}"[:-3]
                    + " (UTC)",
                )
            )
        return out

    def _auth_results(self, c: _Customer, ip: str, helo: str) -> str:
        rng = self.rng
        d = c.domain
        spf = "pass" if c.host != "isp" or rng.random() < 0.5 else rng.choice(("none", "softfail"))
        if rng.random() < 0.04:
            spf = "none"
        dkim = "pass" if c.dkim else "none"
        dmarc = (
            "pass" if (spf == "pass" or dkim == "pass") and (c.dkim or c.host != "isp") else "none"
        )
        if c.host in ("hosting", "isp") and not c.dkim and rng.random() < 0.5:
            dmarc = "none"
        parts = [
            f"{self.mx};",
            f"\tdkim={dkim}"
            + (
                f" (2048-bit key; unprotected) header.d={d} header.i=@{d} header.a=rsa-sha256 "
                f"header.s={self._selector(c)} header.b={_rand(rng, 8, _ALNUM)};"
                if c.dkim
                else " (no signatures found);"
            ),
            f"\tspf={spf} ({self.mx}: domain of {c.address} designates {ip} as permitted "
            f"sender) smtp.mailfrom={c.address};"
            if spf == "pass"
            else f"\tspf={spf} smtp.mailfrom={c.address} smtp.helo={helo};",
            f"\tdmarc={dmarc} (p={'NONE' if c.host in ('hosting', 'isp') else 'QUARANTINE'} "
            f"dis=NONE) header.from={d}",
        ]
        return "Authentication-Results: " + "\r\n".join(parts) + "\r\n"

    @staticmethod
    def _selector(c: _Customer) -> str:
        return {
            "gmail.com": "20230601",
            "workspace": "google",
            "hotmail": "selector1",
            "m365": "selector1",
            "yahoo": "s2048",
            "icloud.com": "1a1hai",
        }.get(c.host, "default")

    def _dkim(self, c: _Customer, when: datetime) -> str:
        rng = self.rng
        t = int(when.timestamp())
        h = "mime-version:references:in-reply-to:from:date:message-id:subject:to:cc:content-type"
        sig = _b64rand(rng, 344)
        folded = "\r\n\t ".join(sig[i : i + 70] for i in range(0, len(sig), 70))
        expiry = f" x={t + 604800};" if c.host in ("gmail.com", "workspace") else ""
        return (
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
            f"        d={c.domain}; s={self._selector(c)}; t={t};{expiry}\r\n"
            f"        darn={self.support_domain};\r\n"
            f"        h={h};\r\n        bh={_b64rand(rng, 43)}=;\r\n        b={folded}\r\n"
        )

    def _mime(
        self,
        client: _Client,
        plain: str,
        html_doc: str | None,
        charset: str,
        attachments: list[_Attachment],
        local: datetime,
    ) -> tuple[list[str], bytes]:
        """(Content-* header lines of the mail, body bytes)."""
        rng = self.rng
        cte = rng.choices([c for c, _ in client.ctes], [w for _, w in client.ctes])[0]
        label = client.charset_label if charset == "utf-8" else charset
        flowed = "; format=flowed" if client.flowed else ""

        def text_part(text: str, subtype: str, extra: str = "") -> bytes:
            used, data = _encode_body(text + ("\n" if client.name != "gmail" else ""), charset, cte)
            head = f"Content-Type: text/{subtype}; charset={label}{extra}\r\n"
            if client.name in ("apple", "iphone"):
                head = f"Content-Type: text/{subtype};\r\n\tcharset={label}{extra}\r\n"
            head = (
                f"Content-Transfer-Encoding: {used}\r\n" + head
                if client.name in ("apple", "iphone")
                else head + f"Content-Transfer-Encoding: {used}\r\n"
            )
            return head.encode() + b"\r\n" + data

        preamble = (
            b"This is a multi-part message in MIME format.\r\n"
            if client.name == "thunderbird"
            else b""
        )
        plain_part = text_part(plain, "plain", flowed)
        if html_doc is not None:
            boundary = self._boundary(client.name)
            alt = _multipart(boundary, [plain_part, text_part(html_doc, "html")], preamble)
            body_part = (
                (f'Content-Type: multipart/alternative;\r\n\tboundary="{boundary}"\r\n').encode()
                + b"\r\n"
                + alt
            )
        else:
            body_part = plain_part
        if not attachments:
            head_b, _, body = body_part.partition(b"\r\n\r\n")
            return _lines(head_b.decode()), body
        parts = [body_part] + [self._attachment_part(client.name, a, local) for a in attachments]
        boundary = self._boundary(client.name)
        mixed = _multipart(boundary, parts, preamble)
        head = [f'Content-Type: multipart/mixed;\r\n\tboundary="{boundary}"\r\n']
        return head, mixed

    def _boundary(self, client: str) -> str:
        rng = self.rng
        if client == "gmail":
            return "000000000000" + _hex(rng, 16)
        if client == "outlook":
            a, b, c = _hex(rng, 4, True), _hex(rng, 4, True), _hex(rng, 8, True)
            return f"----=_NextPart_000_{a}_01DB{b}.{c}"
        if client == "outlookweb":
            return f"_000_{_rand(rng, 40, string.ascii_uppercase + string.digits)}eurp_"
        if client in ("apple", "iphone"):
            return f"Apple-Mail={_uuid(rng)}"
        if client == "yahoo":
            part, n = rng.randint(10**6, 10**7), rng.randint(10**8, 10**9)
            return f"----=_Part_{part}_{n}.{int(self.rng.random() * 10**12) + 10**12}"
        if client == "roundcube":
            return "=_" + _hex(rng, 32)
        return "------------" + _rand(rng, 24)

    def _attachment_part(self, client: str, a: _Attachment, local: datetime) -> bytes:
        rng = self.rng
        if a.filename.isascii():
            name = f'name="{a.filename}"'
            disp = f'filename="{a.filename}"'
        else:
            enc = "".join(
                ch
                if ch.isascii() and (ch.isalnum() or ch in "._-")
                else "".join(f"%{b:02X}" for b in ch.encode())
                for ch in a.filename
            )
            name = f"name*=UTF-8''{enc}"
            disp = f"filename*=UTF-8''{enc}"
        ctype = a.ctype + ('; charset="UTF-8"' if a.ctype == "text/plain" else "")
        if client in ("outlook", "outlookweb"):
            stamp = format_datetime(local.astimezone(UTC), usegmt=True)
            head = (
                f"Content-Type: {ctype};\r\n\t{name}\r\n"
                f"Content-Description: {a.filename if a.filename.isascii() else 'adjunto'}\r\n"
                f"Content-Disposition: attachment;\r\n\t{disp}; size={len(a.data)};\r\n"
                f'\tcreation-date="{stamp}";\r\n\tmodification-date="{stamp}"\r\n'
                "Content-Transfer-Encoding: base64\r\n"
            )
        elif client in ("apple", "iphone"):
            head = (
                f"Content-Disposition: attachment;\r\n\t{disp}\r\nContent-Type: {ctype};\r\n"
                f"\tx-unix-mode=0644;\r\n\t{name}\r\nContent-Transfer-Encoding: base64\r\n"
            )
        elif client == "gmail":
            att_id = f"f_{_rand(rng, 9).lower()}0"
            head = (
                f"Content-Type: {ctype}; {name}\r\nContent-Disposition: attachment; {disp}\r\n"
                "Content-Transfer-Encoding: base64\r\n"
                f"Content-ID: <{att_id}>\r\nX-Attachment-Id: {att_id}\r\n"
            )
        else:
            head = (
                f"Content-Type: {ctype}; {name}\r\nContent-Disposition: attachment; {disp}\r\n"
                "Content-Transfer-Encoding: base64\r\n"
            )
        return head.encode() + b"\r\n" + _b64(a.data)

    # The big one --------------------------------------------------------------------

    def big(self, size_bytes: int) -> CorpusMail:
        rng = self.rng
        hosted = [
            c
            for c in self.customers
            if c.host == "hosting" and c.client in ("outlook", "thunderbird")
        ]
        customer = hosted[0] if hosted else self.customers[0]
        client = _CLIENTS[customer.client]
        when = START + timedelta(days=3, hours=3, minutes=17)
        local = _madrid(when)
        ctx = self._context(customer, local)
        subject = f"Copia de seguridad de {customer.site} antes de la migración"
        plain = "\n\n".join(
            [
                "Buenos días,",
                f"Os mando adjunta la copia completa de la web de {customer.site} (ficheros y "
                f"base de datos) que nos ha pasado {ctx['provider']}, para que podáis hacer la "
                "migración al nuevo plan. Es bastante grande; si no os llega bien, decidme y la "
                "subo por FTP.",
                "Un saludo,\n" + customer.first.split()[0],
            ]
        )
        message_id = self._message_id(customer.client, customer, "big", local)
        overhead = 6000
        raw = b""
        for _ in range(3):
            payload = max((size_bytes - overhead) * 57 // 78, 1024)
            members = [
                f"{customer.site}/httpdocs.tar",
                f"{customer.site}/{ctx['db']}.sql",
                f"{customer.site}/mail.tar",
            ]
            archive = _zip(random.Random(f"big:{self.seed}:{payload}"), payload, members, local)
            name = f"copia_{customer.site.split('.')[0]}_{local:%Y-%m-%d}.zip"
            raw = self._assemble(
                customer=customer,
                client=client,
                when=when,
                local=local,
                subject=subject,
                message_id=message_id,
                references=[],
                cc=[],
                plain=plain,
                html_doc=None,
                charset="utf-8",
                attachments=[_Attachment(name, "application/zip", archive)],
                thread_index=self._thread_index(rng, when, None),
            )
            overhead += len(raw) - size_bytes
            if abs(len(raw) - size_bytes) < max(size_bytes // 1000, 200):
                break
        return CorpusMail(raw, message_id, customer.address, False, True, False)


def _lines(head: str) -> list[str]:
    """Header text split into one string per (possibly folded) field, CRLF ended."""
    out: list[str] = []
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and out:
            out[-1] += line + "\r\n"
        elif line:
            out.append(line + "\r\n")
    return out


def _multipart(boundary: str, parts: list[bytes], preamble: bytes = b"") -> bytes:
    b = boundary.encode()
    out = [preamble]
    for part in parts:
        out.append(b"--" + b + b"\r\n" + part + (b"" if part.endswith(b"\r\n") else b"\r\n"))
    out.append(b"--" + b + b"--\r\n")
    return b"".join(out)


# --- Command line ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="folder for the .eml files")
    parser.add_argument("--domain-tag", default="")
    parser.add_argument("--support", default=SUPPORT)
    parser.add_argument("--big-mb", type=float, default=0, help="also write one mail this big")
    args = parser.parse_args(argv)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    out: Path | None = args.out

    def written(mails: Iterator[CorpusMail]) -> Iterator[CorpusMail]:
        for n, mail in enumerate(mails):
            if out:
                (out / f"{n:05d}.eml").write_bytes(mail.raw)
            yield mail

    started = time.perf_counter()
    mails = iter_mails(args.count, args.seed, domain_tag=args.domain_tag, support=args.support)
    stats = summary(written(mails))
    elapsed = time.perf_counter() - started
    if args.big_mb:
        big = big_mail(
            int(args.big_mb * 1024 * 1024),
            args.seed,
            domain_tag=args.domain_tag,
            support=args.support,
        )
        if args.out:
            (args.out / "big.eml").write_bytes(big.raw)
        stats["big_bytes"] = len(big.raw)
    stats["seconds"] = round(elapsed, 2)
    json.dump(stats, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
