"""The JSON API at ``/api/v1``: bearer tokens, one error shape, an OpenAPI spec from the schemas."""

from tracker.api.blueprint import api_bp

__all__ = ["api_bp"]
