-- Table macro: resolved_requests(log_name, t0, t1, dist)
-- edge_requests of one log in [t0, t1) (either bound may be NULL), optionally one distribution,
-- each with the cache behavior that served it and that behavior's target:
--   behavior      the logged cache-behavior-path-pattern when the log has it (real-time, v2);
--                 otherwise replayed from the ingested distribution config: behaviors in precedence
--                 order, first match wins, the default `*` last; 'unknown' when no config exists.
--   target        the behavior's TargetOriginId (an origin id or an origin group id); NULL if unknown.
--   target_is_group, failover_status_codes (the group's criteria), has_config.
-- How a path is matched: per row, with one CASE over the config's behaviors in precedence order.
-- behavior_slot(...) below is not a function: pipeline/query/behaviors.py expands it into one WHEN per
-- behavior, reading the values (distribution, pattern parts, precedence) from session variables set
-- with bound parameters, so no value is put into SQL text. A pattern is tested with equality, prefix
-- and suffix tests where it is `head*tail` or has no wildcard (most are), otherwise with GLOB (same
-- meaning: `*` any run of characters, `?` one character), with its path_regex only when it holds one
-- of GLOB's specials `[`, `]`, `\`. Matching each distinct path once, as this used to, cost a hash
-- aggregate over millions of distinct paths (hashed assets, ids), a regex compiled per pair and a
-- join back: over 10M requests it was killed after 548 s at 3 GB (the bare scan: 2.4 s in that run).
-- `dt` (the UTC date of `timestamp`) is filtered along with the time bounds so that whole days of
-- files are skipped before any is opened; the timestamp bounds still decide each row.
CREATE OR REPLACE MACRO resolved_requests(log_name, t0, t1, dist) AS TABLE
WITH req AS (
    SELECT *
    FROM edge_requests
    WHERE log = log_name
      AND (t0 IS NULL OR (timestamp >= t0 AND dt >= CAST(t0 AS DATE)))
      AND (t1 IS NULL OR (timestamp < t1 AND dt <= CAST(t1 AS DATE)))
      AND (dist IS NULL OR distribution_id = dist)
),
configured AS (SELECT DISTINCT distribution_id FROM behaviors),
picked AS (
    SELECT r.*,
        CASE WHEN r.logged_behavior IS NULL THEN behavior_slot(r.distribution_id, r.uri_stem)
             ELSE bl.precedence END AS behavior_precedence,
        (r.distribution_id IN (SELECT distribution_id FROM configured)) AS has_config
    FROM req r
    LEFT JOIN behaviors bl ON r.logged_behavior IS NOT NULL AND bl.distribution_id = r.distribution_id
                          AND bl.path_pattern = r.logged_behavior
)
SELECT p.* EXCLUDE (behavior_precedence),
    coalesce(p.logged_behavior, b.path_pattern, 'unknown') AS behavior,
    b.target_origin_id AS target,
    b.target_is_group,
    g.failover_status_codes
FROM picked p
LEFT JOIN behaviors b ON b.distribution_id = p.distribution_id AND b.precedence = p.behavior_precedence
LEFT JOIN origin_groups g ON b.target_is_group AND g.distribution_id = p.distribution_id
                         AND g.origin_group_id = b.target_origin_id;
