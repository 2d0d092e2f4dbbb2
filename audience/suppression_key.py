"""The suppression list's key for an address: HMAC-SHA256 of the normalised address under
``settings.CONSENT_HASH_KEY``.

A keyed hash rather than a plain one, so that the list cannot be reversed by hashing a
dictionary of addresses without the key; a key of its own, never rotated (unlike the Fernet
keys in ``FIELD_ENCRYPTION_KEYS``), because a new key would make every entry unfindable and
let erased and opted-out addresses back in.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings

from mailworx_crm.email_address import normalise_email


def address_hash(email: str) -> str:
    """64 hex characters; equal for every spelling ``normalise_email`` treats as one."""
    key = settings.CONSENT_HASH_KEY.encode()
    return hmac.new(key, normalise_email(email).encode(), hashlib.sha256).hexdigest()
