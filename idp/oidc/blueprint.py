"""The relying-party surface's blueprint; each endpoint module adds its routes to it."""

from flask import Blueprint

bp = Blueprint("oidc", __name__)
