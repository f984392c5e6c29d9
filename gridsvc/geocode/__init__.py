"""The offline geocoder: addresses, streets, POIs and place names of the OSM extract."""
