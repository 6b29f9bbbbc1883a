-- Table macro: resolved_requests(log_name, t0, t1, dist)
-- edge_requests of one log in [t0, t1) (either bound may be NULL), optionally one distribution,
-- each with the cache behavior that served it and that behavior's target:
--   behavior      the logged cache-behavior-path-pattern when the log has it (real-time, v2);
--                 otherwise replayed from the ingested distribution config: behaviors in precedence
--                 order, first match wins, the default `*` last; 'unknown' when no config exists.
--   target        the behavior's TargetOriginId (an origin id or an origin group id); NULL if unknown.
--   target_is_group, failover_status_codes (the group's criteria), has_config.
-- Paths are matched once per distinct path (paths repeat enormously), not once per request.
CREATE OR REPLACE MACRO resolved_requests(log_name, t0, t1, dist) AS TABLE
WITH req AS (
    SELECT *,
        CASE WHEN starts_with(uri_stem, '/') THEN uri_stem[2:] ELSE coalesce(uri_stem, '') END AS npath
    FROM edge_requests
    WHERE log = log_name
      AND (t0 IS NULL OR timestamp >= t0)
      AND (t1 IS NULL OR timestamp < t1)
      AND (dist IS NULL OR distribution_id = dist)
),
configured AS (SELECT DISTINCT distribution_id FROM behaviors),
paths AS (
    SELECT DISTINCT distribution_id, npath FROM req
    WHERE logged_behavior IS NULL AND distribution_id IN (SELECT distribution_id FROM configured)
),
matched AS (
    SELECT p.distribution_id, p.npath, min(b.precedence) AS precedence
    FROM paths p
    JOIN behaviors b ON b.distribution_id = p.distribution_id AND regexp_full_match(p.npath, b.path_regex)
    GROUP BY ALL
),
picked AS (
    SELECT r.*,
        coalesce(bl.precedence, m.precedence) AS behavior_precedence,
        (r.distribution_id IN (SELECT distribution_id FROM configured)) AS has_config
    FROM req r
    LEFT JOIN matched m ON r.logged_behavior IS NULL AND m.distribution_id = r.distribution_id
                       AND m.npath = r.npath
    LEFT JOIN behaviors bl ON r.logged_behavior IS NOT NULL AND bl.distribution_id = r.distribution_id
                          AND bl.path_pattern = r.logged_behavior
)
SELECT p.* EXCLUDE (npath, behavior_precedence),
    coalesce(p.logged_behavior, b.path_pattern, 'unknown') AS behavior,
    b.target_origin_id AS target,
    b.target_is_group,
    g.failover_status_codes
FROM picked p
LEFT JOIN behaviors b ON b.distribution_id = p.distribution_id AND b.precedence = p.behavior_precedence
LEFT JOIN origin_groups g ON b.target_is_group AND g.distribution_id = p.distribution_id
                         AND g.origin_group_id = b.target_origin_id;
