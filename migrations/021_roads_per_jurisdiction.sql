-- Road networks per jurisdiction (issue 12): a city centre dispatches for several counties,
-- each with its own roads; importing one county must not remove another's. One network is
-- current per jurisdiction (jurisdiction_id NULL: the installation's network, for a database
-- without jurisdictions or an import that names none). A jurisdiction without a network of
-- its own uses its nearest ancestor's (a city-wide network serves its counties), else the
-- NULL one.
ALTER TABLE road_networks
    ADD COLUMN jurisdiction_id bigint REFERENCES jurisdictions (id) ON DELETE CASCADE;

-- Existing networks belong to the jurisdiction they were clipped to, else to the only
-- top-level jurisdiction (the one-county installations before this migration).
UPDATE road_networks SET jurisdiction_id = coalesce(
    clip_jurisdiction_id,
    (SELECT min(id) FROM jurisdictions WHERE parent_id IS NULL HAVING count(*) = 1)
);

DROP INDEX road_networks_one_current;
CREATE UNIQUE INDEX road_networks_one_current ON road_networks (coalesce(jurisdiction_id, 0))
    WHERE is_current;


-- The street base map likewise: one current import per jurisdiction (NULL: the
-- installation's), each feature tagged with its import, so importing one county's base map
-- replaces that county's features only. A tile draws every current import's features.
ALTER TABLE basemap_imports
    ADD COLUMN jurisdiction_id bigint REFERENCES jurisdictions (id) ON DELETE CASCADE;
UPDATE basemap_imports SET jurisdiction_id =
    (SELECT min(id) FROM jurisdictions WHERE parent_id IS NULL HAVING count(*) = 1);
DROP INDEX basemap_imports_one_current;
CREATE UNIQUE INDEX basemap_imports_one_current ON basemap_imports (coalesce(jurisdiction_id, 0))
    WHERE is_current;

ALTER TABLE basemap_roads ADD COLUMN import_id bigint;
ALTER TABLE basemap_buildings ADD COLUMN import_id bigint;
ALTER TABLE basemap_water ADD COLUMN import_id bigint;
ALTER TABLE basemap_landuse ADD COLUMN import_id bigint;
ALTER TABLE basemap_places ADD COLUMN import_id bigint;
-- Every row so far is the current import's (an import deleted all rows before writing).
UPDATE basemap_roads SET import_id = (SELECT id FROM basemap_imports WHERE is_current);
UPDATE basemap_buildings SET import_id = (SELECT id FROM basemap_imports WHERE is_current);
UPDATE basemap_water SET import_id = (SELECT id FROM basemap_imports WHERE is_current);
UPDATE basemap_landuse SET import_id = (SELECT id FROM basemap_imports WHERE is_current);
UPDATE basemap_places SET import_id = (SELECT id FROM basemap_imports WHERE is_current);
