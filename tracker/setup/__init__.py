"""Setup: traffic sources, affiliate networks, offers, landers, flows and campaigns.

``services`` holds the plain functions shared by the UI, the API and the CLI; ``schemas`` the
validated shapes they take and give; ``presets`` the known sources and networks; ``urls`` the
campaign and postback URLs a buyer copies out.
"""
