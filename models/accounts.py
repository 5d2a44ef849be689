"""Users, profiles (named permission sets), API keys and login throttling."""

from tortoise import fields
from tortoise.models import Model

from models.fast_rows import FastRows


class Profile(Model):
    """A named set of permissions; built-in ones cannot be edited or deleted."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    description = fields.TextField(default="")
    permissions = fields.JSONField(default=list)  # permission names from permissions.names
    builtin = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "profile"


class User(FastRows, Model):
    """A person who logs in with username and password."""

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=150, unique=True)
    display_name = fields.CharField(max_length=200, default="")
    email = fields.CharField(max_length=320, null=True)
    password_hash = fields.CharField(max_length=255)  # argon2
    profile = fields.ForeignKeyField(
        "models.Profile", related_name="users", on_delete=fields.RESTRICT
    )
    databases = fields.ManyToManyField(
        "models.ContactDatabase", related_name="users", through="user_database_grant"
    )
    is_active = fields.BooleanField(default=True)
    token_version = fields.IntField(default=0)  # bumped by logout / password change
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "app_user"


class ApiKey(Model):
    """A machine credential: shown once, stored as a hash, revocable."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    prefix = fields.CharField(max_length=16, unique=True)  # public part, identifies the key
    key_hash = fields.CharField(max_length=128)  # sha256 of the secret part
    profile = fields.ForeignKeyField(
        "models.Profile", related_name="api_keys", on_delete=fields.RESTRICT
    )
    databases = fields.ManyToManyField(
        "models.ContactDatabase", related_name="api_keys", through="api_key_database_grant"
    )
    created_by = fields.ForeignKeyField(
        "models.User", related_name="api_keys", on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key"


class LoginThrottle(Model):
    """Failed logins per username (existing or not), so throttling reveals nothing."""

    key = fields.CharField(max_length=200, primary_key=True)
    failures = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "login_throttle"
