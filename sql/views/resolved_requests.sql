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
-- behavior_slot and logged_slot give the behavior's slot (its place in the config, in precedence
-- order); its pattern, target, group flag and the group's failover codes are read from per-slot lists
-- in the same session variables, instead of joining every request with the behaviors and the origin
-- groups (those joins were ~4 s of the ~16 s of profile time of hit-ratio over 10M requests).
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
picked AS (
    SELECT r.*,
        CASE WHEN r.logged_behavior IS NULL THEN behavior_slot(r.distribution_id, r.uri_stem)
             ELSE logged_slot(r.distribution_id, r.logged_behavior) END AS slot
    FROM req r
)
SELECT p.* EXCLUDE (slot),
    coalesce(p.logged_behavior, getvariable('edgelake_behavior_patterns')[p.slot + 1], 'unknown') AS behavior,
    getvariable('edgelake_behavior_targets')[p.slot + 1] AS target,
    getvariable('edgelake_behavior_groups')[p.slot + 1] AS target_is_group,
    getvariable('edgelake_behavior_codes')[p.slot + 1] AS failover_status_codes,
    list_contains(getvariable('edgelake_behavior_configured'), p.distribution_id) AS has_config
FROM picked p;
