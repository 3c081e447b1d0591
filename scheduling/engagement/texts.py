"""What patients read and what their replies mean (pure: no queries).

Message bodies name no patient: a text can be read by whoever holds the phone, so it
says what and where, never who.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "ALTO", "PARAR"})
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO", "AYUDA"})
CONFIRM_WORDS = frozenset({"C", "CONFIRM", "CONFIRMAR"})
RESCHEDULE_WORDS = frozenset({"R", "RESCHEDULE", "REPROGRAMAR"})
CANCEL_WORDS = frozenset({"X"})
YES_WORDS = frozenset({"YES", "Y", "SI", "SÍ"})
NO_WORDS = frozenset({"NO", "N"})


def reply_intent(text: str) -> str:
    """One of stop, start, help, confirm, reschedule, cancel, yes, no, or "" (unclear)."""
    words = text.strip().upper().replace(".", " ").replace("!", " ").split()
    if len(words) != 1:
        return ""
    word = words[0]
    for intent, vocabulary in (
        ("stop", STOP_WORDS),
        ("start", START_WORDS),
        ("help", HELP_WORDS),
        ("confirm", CONFIRM_WORDS),
        ("reschedule", RESCHEDULE_WORDS),
        ("cancel", CANCEL_WORDS),
        ("yes", YES_WORDS),
        ("no", NO_WORDS),
    ):
        if word in vocabulary:
            return intent
    return ""


@dataclass(frozen=True)
class Visit:
    type_name: str
    location_name: str
    local_start: datetime
    # A telehealth visit's link (Appointment.video_link): random, so safe in a text.
    video_link: str = ""


_EN = {
    "reminder": (
        "Reminder: {type} at {location} on {when}. "
        "Reply C to confirm, R to reschedule, X to cancel."
    ),
    "reminder_subject": "Your appointment on {when}",
    "confirmed": "Thank you, your visit on {when} is confirmed.",
    "cancelled": "Your visit on {when} is cancelled. Reply R if you want a new time.",
    "reschedule": "We will call you to find a new time.",
    "help": "Care Hub appointment texts. Reply C, R or X to a reminder. STOP to opt out.",
    "stopped": "You will get no more texts from us. Reply START to opt back in.",
    "started": "You will get appointment texts again. Reply STOP to opt out.",
    "offer": (
        "An earlier time opened: {type} at {location} on {when}. "
        "Reply YES within {minutes} minutes to take it, NO to pass."
    ),
    "taken": "Sorry, that time was already taken. You stay on the waitlist.",
    "booked": "Booked: {type} at {location} on {when}.",
    "code": "Your Care Hub booking code is {code}. It expires in {minutes} minutes.",
    "recall": "It is time for your {type}. Book online at {link} or reply R and we will call.",
    "recall_subject": "Time for your {type}",
    "change_moved": (
        "Schedule change: your {type} at {location} is now on {when}. "
        "Call {phone} if that time does not suit you."
    ),
    "change_call": (
        "Schedule change: your {type} at {location} on {when} cannot go ahead. "
        "Please call {phone} to choose a new time."
    ),
    "change_subject": "A change to your appointment",
    "when": "%a %b %d at %I:%M %p",
    "video": " Join by video: {link}",
}
_ES = {
    "reminder": (
        "Recordatorio: {type} en {location} el {when}. "
        "Responda C para confirmar, R para reprogramar, X para cancelar."
    ),
    "reminder_subject": "Su cita del {when}",
    "confirmed": "Gracias, su cita del {when} está confirmada.",
    "cancelled": "Su cita del {when} fue cancelada. Responda R si desea otra hora.",
    "reschedule": "Le llamaremos para buscar otra hora.",
    "help": "Mensajes de citas de Care Hub. Responda C, R o X. STOP para no recibir más.",
    "stopped": "No recibirá más mensajes. Responda START para volver a recibirlos.",
    "started": "Recibirá mensajes de citas otra vez. Responda STOP para no recibirlos.",
    "offer": (
        "Se abrió una hora: {type} en {location} el {when}. "
        "Responda SI en {minutes} minutos para tomarla, NO para pasar."
    ),
    "taken": "Lo sentimos, esa hora ya fue tomada. Sigue en la lista de espera.",
    "booked": "Reservada: {type} en {location} el {when}.",
    "code": "Su código de Care Hub es {code}. Vence en {minutes} minutos.",
    "recall": "Es hora de su {type}. Reserve en {link} o responda R y le llamaremos.",
    "recall_subject": "Es hora de su {type}",
    "change_moved": (
        "Cambio de agenda: su {type} en {location} es ahora el {when}. "
        "Llame al {phone} si esa hora no le conviene."
    ),
    "change_call": (
        "Cambio de agenda: su {type} en {location} el {when} no puede realizarse. "
        "Llame al {phone} para elegir otra hora."
    ),
    "change_subject": "Un cambio en su cita",
    "when": "%d/%m a las %H:%M",
    "video": " Únase por video: {link}",
}
CATALOGUES = {"en": _EN, "es": _ES}


def catalogue(language: str) -> dict[str, str]:
    return CATALOGUES.get((language or "en")[:2].lower(), _EN)


def render(key: str, language: str, visit: Visit | None = None, **extra: object) -> str:
    texts = catalogue(language)
    fields: dict[str, object] = dict(extra)
    if visit is not None:
        fields.update(
            type=visit.type_name,
            location=visit.location_name,
            when=visit.local_start.strftime(texts["when"]),
        )
    body = texts[key].format(**fields)
    if visit is not None and visit.video_link and not key.endswith("_subject"):
        body += texts["video"].format(link=visit.video_link)
    return body
