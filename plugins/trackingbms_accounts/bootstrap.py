"""First start: the system administrator ``admin``, with a password from the environment or a random one."""

from __future__ import annotations

import logging
import os
import secrets
import sys

from hub.reading import utc_now
from hub.storage.accounts import AccountConflictError, AccountStore, UserRecord
from trackingbms_accounts.secrets_store import hash_password, new_id

_LOGGER = logging.getLogger(__name__)
ADMIN_USERNAME = "admin"
PASSWORD_ENV = "TRACKINGBMS_ADMIN_PASSWORD"
MIN_PASSWORD = 8


async def ensure_admin(accounts: AccountStore) -> bool:
    """Create ``admin`` when no user exists yet; True when it was created now.

    The password comes from TRACKINGBMS_ADMIN_PASSWORD; without it a random one is printed once to
    the console (never to the log files, never a default password).
    """
    if await accounts.count_users() > 0:
        return False
    given = os.environ.get(PASSWORD_ENV)
    if given is not None and len(given) < MIN_PASSWORD:
        raise ValueError(f"{PASSWORD_ENV} must have at least {MIN_PASSWORD} characters")
    password = given or secrets.token_urlsafe(18)
    now = utc_now()
    user = UserRecord(
        id=new_id(),
        tenant_id=None,
        username=ADMIN_USERNAME,
        password_hash=await hash_password(password),
        created_at=now,
        updated_at=now,
        display_name="Administrator",
        system_admin=True,
    )
    try:
        await accounts.create_user(user)
    except AccountConflictError:
        return False  # another hub on the same database created it first
    _LOGGER.warning("Created the system administrator %r", ADMIN_USERNAME)
    if given is None:
        print(
            f"\n*** TrackingBMS first start: user {ADMIN_USERNAME!r} created with password {password}\n"
            "*** It is shown only this once: log in and change it (PUT /api/v1/auth/profile).\n",
            file=sys.stderr,
            flush=True,
        )
    return True
