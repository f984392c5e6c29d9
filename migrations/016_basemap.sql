-- The offline street base map: layers imported from the OSM extract, served as Mapbox Vector
-- Tiles by /tiles/{z}/{x}/{y}.mvt (ST_AsMVT). Geometries are stored in EPSG:3857, the tiles'
-- own projection, so a tile query transforms nothing. min_zoom is decided at import (by
-- class and size) so that low-zoom tiles over the county stay small and fast.

-- One row per import; exactly one is current. Its id is part of every tile's ETag, so a new
-- import changes every ETag at once in every process.
CREATE TABLE basemap_imports (
    id          bigserial PRIMARY KEY,
    source_file text NOT NULL,
    counts      jsonb NOT NULL DEFAULT '{}'::jsonb,
    imported_at timestamptz NOT NULL DEFAULT now(),
    is_current  boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX basemap_imports_one_current ON basemap_imports (is_current) WHERE is_current;

CREATE TABLE basemap_roads (
    id       bigserial PRIMARY KEY,
    osm_id   bigint NOT NULL,
    class    text NOT NULL,   -- motorway, trunk, primary, secondary, tertiary, minor, service, track, path
    name     text,
    name_zh  text,
    min_zoom smallint NOT NULL,
    geom     geometry(LineString, 3857) NOT NULL
);
CREATE INDEX basemap_roads_geom ON basemap_roads USING gist (geom);

CREATE TABLE basemap_buildings (
    id       bigserial PRIMARY KEY,
    osm_id   bigint NOT NULL,
    min_zoom smallint NOT NULL,
    geom     geometry(MultiPolygon, 3857) NOT NULL
);
CREATE INDEX basemap_buildings_geom ON basemap_buildings USING gist (geom);

-- Lakes, rivers' areas and reservoirs (polygons) and waterways (lines) in one layer.
CREATE TABLE basemap_water (
    id       bigserial PRIMARY KEY,
    osm_id   bigint NOT NULL,
    class    text NOT NULL,   -- water, river, stream, canal
    name     text,
    min_zoom smallint NOT NULL,
    geom     geometry(Geometry, 3857) NOT NULL
);
CREATE INDEX basemap_water_geom ON basemap_water USING gist (geom);

CREATE TABLE basemap_landuse (
    id       bigserial PRIMARY KEY,
    osm_id   bigint NOT NULL,
    class    text NOT NULL,   -- residential, commercial, industrial, forest, farmland, grass, park, ...
    min_zoom smallint NOT NULL,
    geom     geometry(MultiPolygon, 3857) NOT NULL
);
CREATE INDEX basemap_landuse_geom ON basemap_landuse USING gist (geom);

-- Place labels; name_zh from name:zh (or name:zh-Hans) where the data have it.
CREATE TABLE basemap_places (
    id       bigserial PRIMARY KEY,
    osm_id   bigint NOT NULL,
    class    text NOT NULL,   -- city, town, village, suburb, hamlet, neighbourhood, locality, ...
    name     text NOT NULL,
    name_zh  text,
    rank     smallint NOT NULL,  -- 1 = most important (drawn first, wins label collisions)
    min_zoom smallint NOT NULL,
    geom     geometry(Point, 3857) NOT NULL
);
CREATE INDEX basemap_places_geom ON basemap_places USING gist (geom);
