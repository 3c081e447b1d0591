"""How X12 files reach a clearinghouse and how its answers come back.

Both kinds work like an SFTP mailbox: we drop files in ``outbox/`` and pick answers up
from ``inbox/``. Files are written under a dot-name and renamed into place, so the other
side never reads half a file (rename is atomic within one filesystem). A picked-up file
is deleted only after the caller has stored it in the ledger (``done``), so a crash
between reading and storing re-reads it rather than losing it.

The files are X12 with NM1/DMG segments, PHI in clear, because the clearinghouse on the
far side reads X12 5010, not our ciphertext. So they are never readable by anyone but
the hub's own user (files 0600, directories 0700: ``write_private``), and they do not
outlive their use: an answer is deleted once it is in the ledger, where it is
encrypted; a file we sent is the far side's to take away (the sandbox payer does at
once).

``x12_mailbox`` is exactly that, with a real clearinghouse on the far side of the
directory. ``sandbox`` puts the sandbox payer on the far side: it answers a 270 at once
(real-time eligibility), acknowledges an 837P with a 999 and a 277CA into the inbox, and
holds the 835 until the next pickup ("later").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from integrations.models import Connector
from integrations.transports import TransportError

from .files import write_private

ERR_NO_ENDPOINT = "Connector {name} has no mailbox directory (endpoint)."
ERR_NOT_CLEARINGHOUSE = "Connector {name} is not an X12 clearinghouse connector."
ERR_DISABLED = "Connector {name} is disabled."

# Billing catches the one integrations error under this module's name too.
__all__ = [
    "ERR_DISABLED",
    "ERR_NOT_CLEARINGHOUSE",
    "ERR_NO_ENDPOINT",
    "ClearinghouseTransport",
    "InboundFile",
    "MailboxTransport",
    "SandboxTransport",
    "TransportError",
    "transport_for",
]


@dataclass(frozen=True)
class InboundFile:
    name: str
    payload: str
    path: Path | None = None


class ClearinghouseTransport(ABC):
    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    @abstractmethod
    def submit(self, *, name: str, payload: str) -> list[InboundFile]:
        """Send one file; returns answers available at once (real-time), maybe none."""

    @abstractmethod
    def collect(self) -> list[InboundFile]:
        """Answers waiting in the inbox, oldest first. Call ``done`` once each is stored."""

    @abstractmethod
    def done(self, file: InboundFile) -> None:
        """The file is safely in the ledger: take it out of the inbox."""


class MailboxTransport(ClearinghouseTransport):
    def __init__(self, connector: Connector) -> None:
        super().__init__(connector)
        if not connector.endpoint:
            raise TransportError(ERR_NO_ENDPOINT.format(name=connector.name), permanent=True)
        self.root = Path(connector.endpoint)
        self.outbox = self.root / "outbox"
        self.inbox = self.root / "inbox"

    def submit(self, *, name: str, payload: str) -> list[InboundFile]:
        try:
            write_private(self.outbox, name, payload)
        except OSError as exc:
            # A full disk or an unmounted share heals; retry later.
            raise TransportError(
                f"Could not write {name}: {exc.strerror}", permanent=False
            ) from exc
        return []

    def collect(self) -> list[InboundFile]:
        if not self.inbox.is_dir():
            return []
        out = []
        for path in sorted(self.inbox.iterdir(), key=lambda p: (p.stat().st_mtime, p.name)):
            if not path.is_file() or path.name.startswith("."):
                continue
            out.append(
                InboundFile(path.name, path.read_text(encoding="utf-8", errors="replace"), path)
            )
        return out

    def done(self, file: InboundFile) -> None:
        # The ledger holds it now, encrypted; a clear copy on disk would only be a leak.
        if file.path is not None:
            file.path.unlink(missing_ok=True)


class SandboxTransport(MailboxTransport):
    """A mailbox whose far side is the sandbox payer, running in-process."""

    def __init__(self, connector: Connector) -> None:
        if not connector.endpoint:
            connector.endpoint = str(Path(settings.VAR_DIR) / "sandbox_payer" / f"c{connector.pk}")
        super().__init__(connector)

    def _payer(self):
        from integrations.sandbox_payer.payer import SandboxPayer

        payer = self.connector.payer
        return SandboxPayer(
            root=self.root,
            payer_name=payer.name if payer else self.connector.name,
            payer_code=payer.payer_code if payer else "SBXPAYER",
        )

    def submit(self, *, name: str, payload: str) -> list[InboundFile]:
        super().submit(name=name, payload=payload)
        answers = self._payer().receive(payload)
        # The sandbox clearinghouse has picked the file up, as a real one's SFTP client
        # removes what it fetched.
        (self.outbox / name).unlink(missing_ok=True)
        return [InboundFile(answer_name, body) for answer_name, body in answers]

    def collect(self) -> list[InboundFile]:
        # Time passes for the payer between our pickups: whatever it adjudicated since
        # the last visit (the 835s) lands in the inbox now.
        self._payer().release_pending(self.inbox)
        return super().collect()


def transport_for(connector: Connector) -> ClearinghouseTransport:
    if connector.role != Connector.Role.CLEARINGHOUSE:
        raise TransportError(ERR_NOT_CLEARINGHOUSE.format(name=connector.name), permanent=True)
    if not connector.enabled:
        raise TransportError(ERR_DISABLED.format(name=connector.name), permanent=True)
    if connector.kind == Connector.Kind.SANDBOX:
        return SandboxTransport(connector)
    if connector.kind == Connector.Kind.X12_MAILBOX:
        return MailboxTransport(connector)
    raise TransportError(ERR_NOT_CLEARINGHOUSE.format(name=connector.name), permanent=True)


def clearinghouse_for(payer_id: int) -> Connector | None:
    """The payer's own clearinghouse connector, else a general one (no payer set)."""
    qs = Connector.objects.filter(role=Connector.Role.CLEARINGHOUSE, enabled=True)
    return (
        qs.filter(payer_id=payer_id).order_by("id").first()
        or qs.filter(payer__isnull=True).order_by("id").first()
    )
