"""Conversions: postbacks, pixels and scripts from networks, de-duplication, the postback log,
forwarding to traffic sources (outbox and worker), conversion types and manual upload.

For reports: ``services.counted_conversion()`` and ``services.counted_revenue()`` are the SQL
of "conversions" and "revenue"; ``Conversion.conversion_type_id`` splits them by type.
"""
