-- name: status-mix
-- description: Status codes per origin: the share of each sc_status among the requests a behavior's
-- description: target received (an origin id or an origin group id, from the ingested distribution
-- description: config); without a config the viewer's Host header (x_host_header) is the origin key.
-- description: share = requests / all requests of that origin (in that bucket, when bucketed).
-- param: start timestamp = null Inclusive lower bound on the request time (UTC).
-- param: end timestamp = null Exclusive upper bound on the request time (UTC).
-- param: distribution text = null Only this distribution id.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
-- param: bucket text = null [minute|hour|day] Also split by minute, hour or day; bucket_start is NULL without it.
WITH r AS (
    SELECT
        CASE $bucket WHEN 'minute' THEN utc_floor(timestamp, 60)
                     WHEN 'hour' THEN utc_floor(timestamp, 3600)
                     WHEN 'day' THEN utc_floor(timestamp, 86400) END AS bucket_start,
        distribution_id,
        CASE WHEN has_config THEN target ELSE host END AS origin,
        status AS sc_status
    FROM resolved_requests($log, $start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution)
),
counted AS (
    SELECT bucket_start, distribution_id, origin, sc_status, count(*) AS requests
    FROM r GROUP BY ALL
)
SELECT bucket_start, distribution_id, origin, sc_status, requests,
    requests::DOUBLE / sum(requests) OVER (PARTITION BY bucket_start, distribution_id, origin) AS share
FROM counted
ORDER BY bucket_start NULLS FIRST, distribution_id, origin NULLS LAST, sc_status;
