"""Seeded credentials, re-exported for tests and the CLI banner."""

from dynamics_emulator.seed import (
    CLIENT_ID,
    CLIENT_SECRET,
    LIMITED_CLIENT_ID,
    LIMITED_CLIENT_SECRET,
    NTLM_USERS,
    ORPHAN_CLIENT_ID,
    ORPHAN_CLIENT_SECRET,
    TENANT_ID,
)

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "LIMITED_CLIENT_ID", "LIMITED_CLIENT_SECRET",
           "NTLM_USERS", "ORPHAN_CLIENT_ID", "ORPHAN_CLIENT_SECRET", "TENANT_ID"]
