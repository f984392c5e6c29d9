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

