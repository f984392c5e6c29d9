"""Figures for leaders: the summary by township, department, squad, grid and matter, its
daily rollups and the Excel/CSV export (issue 11 items 1, 4, 5)."""
