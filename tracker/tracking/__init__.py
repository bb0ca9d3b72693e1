"""The hot path: campaign visits (``/c/<key>``) and click-throughs (``/click``)."""
