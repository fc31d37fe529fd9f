"""Request bodies and queries of the web app's /v1 API (camelCase on the wire)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True,
                              str_strip_whitespace=True, frozen=True)


class Credentials(Body):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=128)


class Login(Credentials):
    totp_code: str | None = Field(default=None, max_length=10)


class RefreshBody(Body):
    refresh_token: str = Field(min_length=10, max_length=200)


class PasswordChange(Body):
    current_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=128)


class TotpCode(Body):
    code: str = Field(min_length=6, max_length=10)


class NewApiKey(Body):
    label: str = Field(default="", max_length=64)
    permissions: list[str] = Field(min_length=1, max_length=3)
    ip_allowlist: list[str] = Field(default_factory=list, max_length=30)
    totp_code: str | None = Field(default=None, max_length=10)
