-- name: hit-ratio-regressions
-- description: Behaviors whose hourly hit ratio fell sharply against their own recent baseline
-- description: (the 94% -> 71% after a deploy case), with when it started. Per distribution and
-- description: behavior, hours with at least min_cacheable cacheable requests are compared with the
-- description: pooled ratio (sum hits / sum cacheable) of the preceding baseline_hours such hours; an
-- description: hour is low when its ratio <= baseline - min_drop. A regression is a run of at least
-- description: min_hours consecutive low hours; it ends when the behavior recovers or when its trailing
-- description: baseline has absorbed the new level. Same cacheable/hit definitions as hit-ratio.
-- param: start timestamp = null Inclusive lower bound on the request time (UTC).
-- param: end timestamp = null Exclusive upper bound on the request time (UTC).
-- param: distribution text = null Only this distribution id.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
-- param: baseline_hours int = 6 Hours of history the baseline pools.
-- param: min_drop float = 0.1 Drop in hit ratio (0..1) that makes an hour low.
-- param: min_hours int = 2 Consecutive low hours that make a regression.
-- param: min_cacheable int = 50 Hours with fewer cacheable requests are ignored.
WITH hourly AS (
    SELECT distribution_id, behavior, utc_floor(timestamp, 3600) AS hour,
        count(*) FILTER (WHERE cacheable) AS cacheable,
        count(*) FILTER (WHERE cacheable AND hit) AS hits
    FROM (
        SELECT distribution_id, behavior, timestamp,
            (method NOT IN ('POST', 'PUT', 'PATCH', 'DELETE')
                AND response_result_type IN ('Hit', 'RefreshHit', 'Miss')
                AND coalesce(protocol, '') NOT IN ('ws', 'wss')) AS cacheable,
            response_result_type IN ('Hit', 'RefreshHit') AS hit
        FROM resolved_requests($log, $start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution)
    )
    GROUP BY ALL
    HAVING count(*) FILTER (WHERE cacheable) >= $min_cacheable
),
based AS (
    SELECT *,
        hits::DOUBLE / cacheable AS ratio,
        sum(hits) OVER w::DOUBLE / sum(cacheable) OVER w AS baseline,
        count(*) OVER w AS baseline_n
    FROM hourly
    WINDOW w AS (PARTITION BY distribution_id, behavior ORDER BY hour
                 ROWS BETWEEN $baseline_hours PRECEDING AND 1 PRECEDING)
),
flagged AS (
    SELECT *,
        coalesce(baseline_n = $baseline_hours AND ratio <= baseline - $min_drop, false) AS low,
        row_number() OVER (PARTITION BY distribution_id, behavior ORDER BY hour) AS rn
    FROM based
),
runs AS (
    SELECT *, rn - row_number() OVER (PARTITION BY distribution_id, behavior, low ORDER BY hour) AS run_id
    FROM flagged
)
SELECT
    distribution_id, behavior,
    min(hour) AS started_at,
    max(hour) + INTERVAL 1 HOUR AS ended_at,
    count(*) AS hours,
    arg_min(baseline, hour) AS baseline_ratio,
    sum(hits)::DOUBLE / sum(cacheable) AS ratio_during,
    arg_min(baseline, hour) - sum(hits)::DOUBLE / sum(cacheable) AS drop,
    sum(cacheable) AS cacheable_requests_during
FROM runs
WHERE low
GROUP BY distribution_id, behavior, run_id
HAVING count(*) >= $min_hours
ORDER BY started_at, distribution_id, behavior;
