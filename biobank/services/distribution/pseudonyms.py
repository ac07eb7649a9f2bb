"""Study pseudonyms: how a participant is named to a study, on its manifest and its data.

A keyed HMAC-SHA256 of the protocol and the participant ID: the same participant has the same
pseudonym throughout one study (its tubes can be grouped), a different one in every other study
(two studies cannot link their data through it), and nobody without the key can go back to the
participant ID, or even check a guess of it. The key is ``BIOBANK_PSEUDONYM_KEY``; unset, it is
derived from the app's secret key under a label of its own (so it is not the key that signs
sessions). Changing either changes every pseudonym: set a dedicated key before the first
distribution and keep it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from biobank.models import DistributionProtocol
from biobank.services.core.ids import ALPHABET
from biobank.services.core.settings import setting

PREFIX = "SP"
LENGTH = 16  # Crockford base-32 characters: 80 bits of the HMAC
_DERIVATION_LABEL = b"biobank/study-pseudonym-key/v1"
_TO_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET)


def pseudonym_key() -> bytes:
    dedicated = setting("BIOBANK_PSEUDONYM_KEY")
    if dedicated:
        return str(dedicated).encode()
    secret = str(setting("SECRET_KEY")).encode()
    return hmac.new(secret, _DERIVATION_LABEL, hashlib.sha256).digest()


def study_pseudonym(participant_id: str, protocol: DistributionProtocol | int) -> str:
    """``SP-XXXX-XXXX-XXXX-XXXX``: the participant as this protocol's study knows them."""
    protocol_id = protocol if isinstance(protocol, int) else protocol.id
    message = f"protocol:{protocol_id}\nparticipant:{participant_id.strip().upper()}".encode()
    digest = hmac.new(pseudonym_key(), message, hashlib.sha256).digest()
    code = base64.b32encode(digest[: LENGTH * 5 // 8]).decode().translate(_TO_CROCKFORD)
    return "-".join([PREFIX, *(code[at : at + 4] for at in range(0, LENGTH, 4))])
