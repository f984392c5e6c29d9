"""The people's pages: the operator's live map (/ops) and the field inbox (/inbox)."""
