"""Demo data: a realistic month of a media buyer's traffic, made by the tracker's own code
(``tracker demo``; ``tracker quickstart --demo``)."""

from tracker.demo.service import DemoOptions, DemoRefused, DemoSummary, build_demo

__all__ = ["DemoOptions", "DemoRefused", "DemoSummary", "build_demo"]
