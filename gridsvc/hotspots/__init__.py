"""Hotspots: events per matter class and ISO week on H3 cells, with their trend (issue 11
item 2): ``GET /reports/hotspots``, the heat layer of /ops and the dashboard's map."""
