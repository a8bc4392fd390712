"""Access tokens and the caller's identity.

Access tokens are short-lived JWTs (HS256, `kid` in the header so keys rotate) that carry the user id, the
login session id and the caller's role grants: never a name, a phone or an ID number. Verifying one costs
about 100 µs, so verified tokens are cached, bounded in size and never past their `exp`.

Grants inside the token mean a changed grant takes effect at the next refresh (at most
`access_ttl_seconds`). Logout, deactivation and a detected refresh-token reuse revoke the session: the
refresh token stops working everywhere at once; the revoking process stops accepting the session's access
tokens at once, and every other process within `revocation_check_seconds` (a request that finds the last
check older reads the sessions revoked since, `SessionService.catch_up_revocations`). Between checks a
request costs no database read: the JWT-only path stays a cache lookup.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from bson import ObjectId

from server.core.config import AuthConfig
from server.core.errors import Unauthenticated
from server.core.permissions import CENTER_STAFF_TOWN_WIDE, ROLES, STAFF, roles_for

_ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["exp", "iat", "sub", "aud", "iss", "jti"]


@dataclass(frozen=True, slots=True)
class Grant:
    """One role over one org unit and everything under it (residents hold `resident` with no org)."""

    role: str
    org_id: str | None = None
    liaison_for: str | None = None
    town_id: str | None = None  # the town of the grant's unit (none at the county), set when the token is minted

    def to_claim(self) -> list[str | None]:
        return [self.role, self.org_id, self.liaison_for, *([self.town_id] if self.town_id else [])]

    @classmethod
    def from_claim(cls, claim: list[str | None]) -> Grant:
        role, org_id, liaison_for, town_id = ([*list(claim), None, None, None])[:4]
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        return cls(role=str(role), org_id=org_id, liaison_for=liaison_for, town_id=town_id)

    def root_for(self, capability: str) -> str | None:
        """The unit whose subtree this grant covers for `capability`: its own unit, or for the town-wide duties
        of a town's center staff (`CENTER_STAFF_TOWN_WIDE`) the whole town."""
        if self.town_id and self.role == "center_staff" and capability in CENTER_STAFF_TOWN_WIDE:
            return self.town_id
        return self.org_id


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    session_id: str
    grants: tuple[Grant, ...]
    expires_at: float

    def has_role(self, *roles: str) -> bool:
        return any(g.role in roles for g in self.grants)

    def orgs_for(self, *roles: str) -> list[str]:
        """The org units at whose root the caller holds any of `roles` (all roles if none are named)."""
        return sorted({g.org_id for g in self.grants if g.org_id and (not roles or g.role in roles)})

    def can(self, capability: str) -> bool:
        """Whether any of the caller's grants carries `capability` (somewhere; scope is the service's)."""
        return self.has_role(*roles_for(capability))

    def liaison_towns(self) -> set[ObjectId]:
        """The towns where the caller is a liaison: they hand over and follow their own town's disputes."""
        return {ObjectId(g.town_id) for g in self.grants if g.role == "liaison" and g.town_id}

    def orgs_with(self, capability: str) -> list[str]:
        """The org units at whose root the caller holds `capability`."""
        roles = roles_for(capability)
        return sorted({root for g in self.grants if g.role in roles and (root := g.root_for(capability))})

    @property
    def is_staff(self) -> bool:
        return self.has_role(*STAFF)


class TokenCache:
    """Verified tokens by their exact text: least recently used first out, never served past `exp`."""

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[str, Principal] = OrderedDict()

    def get(self, token: str, now: float) -> Principal | None:
        principal = self._entries.get(token)
        if principal is None:
            return None
        if principal.expires_at <= now:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return principal

    def put(self, token: str, principal: Principal) -> None:
        if self._maxsize <= 0:
            return
        self._entries[token] = principal
        self._entries.move_to_end(token)
        while len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)

    def drop_sessions(self, session_ids: set[str]) -> None:
        for token in [t for t, p in self._entries.items() if p.session_id in session_ids]:
            del self._entries[token]

    def __len__(self) -> int:
        return len(self._entries)


class TokenService:
    def __init__(self, config: AuthConfig) -> None:
        self._config = config
        self._keys = config.keyring
        self._active_kid = next(iter(self._keys))
        self._cache = TokenCache(config.token_cache_size)
        # Sessions known revoked (here or by another process), kept until their last access token expires.
        self._revoked: dict[str, float] = {}
        # When this process last tried to read every process's revocations, and up to when it has read them
        # (the services' clock); None before the first read.
        self._revocations_tried_at: datetime | None = None
        self._revocations_read_until: datetime | None = None

    def mint_access(self, user_id: str, session_id: str, grants: Iterable[Grant]) -> tuple[str, datetime]:
        # Wall-clock time, not the services' clock: PyJWT checks `exp` against the wall clock too.
        now = datetime.now(UTC)
        exp = int(now.timestamp()) + self._config.access_ttl_seconds
        claims = {
            "iss": self._config.issuer,
            "aud": self._config.audience,
            "sub": user_id,
            "sid": session_id,
            "roles": [g.to_claim() for g in grants],
            "iat": int(now.timestamp()),
            "exp": exp,
            "jti": secrets.token_urlsafe(12),
        }
        token = jwt.encode(
            claims, self._keys[self._active_kid], algorithm=_ALGORITHM, headers={"kid": self._active_kid}
        )
        return token, datetime.fromtimestamp(exp, tz=UTC)

    def verify(self, token: str) -> Principal:
        now = time.time()
        principal = self._cache.get(token, now)
        if principal is None:
            principal = self._decode(token)
            self._cache.put(token, principal)
        if principal.session_id in self._revoked:
            raise Unauthenticated("已退出登录，请重新登录", code="session_revoked")
        return principal

    def revocations_due(self, now: datetime) -> bool:
        """Whether it is time to read the sessions other processes revoked."""
        tried = self._revocations_tried_at
        return tried is None or (now - tried).total_seconds() >= self._config.revocation_check_seconds

    def start_revocation_read(self, now: datetime) -> datetime:
        """Note a read of revocations begun at `now` (requests meanwhile do not start another) and return
        from when to read: the end of the last read that succeeded, or as far back as an access token lives."""
        self._revocations_tried_at = now
        lookback = timedelta(seconds=self._config.access_ttl_seconds + 60)
        return self._revocations_read_until or now - lookback

    def finish_revocation_read(self, session_ids: Iterable[str], began: datetime) -> None:
        """The sessions a read begun at `began` found revoked; the next read starts from there."""
        self.forget_sessions(session_ids)
        self._revocations_read_until = began

    def forget_session(self, session_id: str) -> None:
        """Stop accepting the session's access tokens in this process (logout, reuse detected)."""
        self.forget_sessions([session_id])

    def forget_sessions(self, session_ids: Iterable[str]) -> None:
        """Stop accepting these sessions' access tokens; ones already known revoked cost nothing."""
        new = {sid for sid in session_ids if sid not in self._revoked}
        if not new:
            return
        now = time.time()
        self._revoked = {sid: until for sid, until in self._revoked.items() if until > now}
        for session_id in new:
            self._revoked[session_id] = now + self._config.access_ttl_seconds + 60
        self._cache.drop_sessions(new)

    def _decode(self, token: str) -> Principal:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise jwt.InvalidTokenError("unknown kid")
            claims = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                audience=self._config.audience,
                issuer=self._config.issuer,
                options={"require": _REQUIRED_CLAIMS},
            )
            grants = tuple(Grant.from_claim(c) for c in claims.get("roles", []))
            session_id = claims["sid"]
            if not isinstance(session_id, str):
                raise jwt.InvalidTokenError("sid must be a string")
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("登录已过期，请重新登录", code="token_expired") from exc
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError) as exc:
            raise Unauthenticated("登录凭证无效，请重新登录", code="token_invalid") from exc
        return Principal(user_id=claims["sub"], session_id=session_id, grants=grants, expires_at=float(claims["exp"]))
