"""Reports: the metrics glossary, dimensions, the aggregate query, costs, pages and exports."""
