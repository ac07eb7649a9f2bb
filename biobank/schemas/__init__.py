"""Marshmallow schemas for everything the API loads or dumps."""
