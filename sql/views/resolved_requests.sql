-- Table macro: resolved_requests(log_name, t0, t1, dist)
-- edge_requests of one log in [t0, t1) (either bound may be NULL), optionally one distribution,
-- each with the cache behavior that served it and that behavior's target:
--   behavior      the logged cache-behavior-path-pattern when the log has it (real-time, v2);
--                 otherwise replayed from the ingested distribution config: behaviors in precedence
--                 order, first match wins, the default `*` last; 'unknown' when no config exists.
--   target        the behavior's TargetOriginId (an origin id or an origin group id); NULL if unknown.
--   target_is_group, failover_status_codes (the group's criteria), has_config.
-- How a path is matched, per row and without a regular expression where the pattern allows: each
-- distribution's behaviors are one short list (joined to every request by distribution id, a hash
-- join against a handful of rows), and the first whose pattern matches wins. A path pattern means
-- what GLOB means (`*` any run of characters, `/` and newlines included; `?` one character; the rest
-- literal) as long as it holds none of GLOB's own specials `[`, `]`, `\`; a pattern that does is
-- matched with its path_regex instead. Matching each distinct path once, as this used to, cost a hash
-- aggregate and a join back over millions of distinct paths (hashed assets, ids): 40x the scan.
-- `dt` (the UTC date of `timestamp`) is filtered along with the time bounds so that whole days of
-- files are skipped before any is opened; the timestamp bounds still decide each row.
CREATE OR REPLACE MACRO resolved_requests(log_name, t0, t1, dist) AS TABLE
WITH req AS (
    SELECT *,
        CASE WHEN starts_with(uri_stem, '/') THEN uri_stem[2:] ELSE coalesce(uri_stem, '') END AS npath
    FROM edge_requests
    WHERE log = log_name
      AND (t0 IS NULL OR (timestamp >= t0 AND dt >= CAST(t0 AS DATE)))
      AND (t1 IS NULL OR (timestamp < t1 AND dt <= CAST(t1 AS DATE)))
      AND (dist IS NULL OR distribution_id = dist)
),
configured AS (SELECT DISTINCT distribution_id FROM behaviors),
rules AS (  -- one row per configured distribution: its behaviors in precedence order
    SELECT distribution_id,
        list({'precedence': precedence,
              'glob': CASE WHEN starts_with(path_pattern, '/') THEN path_pattern[2:] ELSE path_pattern END,
              'regex': CASE WHEN regexp_matches(path_pattern, '[\[\]\\]') THEN path_regex END}
             ORDER BY precedence) AS rules
    FROM behaviors
    GROUP BY distribution_id
),
picked AS (
    SELECT r.*,
        CASE WHEN r.logged_behavior IS NULL
             THEN list_filter(ru.rules, lambda x: CASE WHEN x.regex IS NULL THEN r.npath GLOB x.glob
                                                       ELSE regexp_full_match(r.npath, x.regex) END)[1].precedence
             ELSE bl.precedence END AS behavior_precedence,
        (r.distribution_id IN (SELECT distribution_id FROM configured)) AS has_config
    FROM req r
    LEFT JOIN rules ru ON r.logged_behavior IS NULL AND ru.distribution_id = r.distribution_id
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
