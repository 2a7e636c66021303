"""Presentation: charts, evidence packs, reports, dashboard, exports."""
