"""Brokering upstream OpenID Connect providers (the national public-service portal, VNeID)."""
