-- name: hit-ratio
-- description: Cache hit ratio per distribution and cache behavior (optionally per hour or day).
-- description: cacheable = method not in POST/PUT/PATCH/DELETE, x_edge_response_result_type in
-- description: (Hit, RefreshHit, Miss) and protocol not ws/wss; errors, redirects and writes are not
-- description: cacheable. hits = Hit + RefreshHit. hit_ratio = hits / cacheable (NULL when nothing was
-- description: cacheable); byte_hit_ratio the same over sc_bytes. origin_offload = (hits + cacheable
-- description: OriginShieldHit rows) / cacheable: an Origin Shield hit is a miss at the edge but never
-- description: reached the origin. Behavior: the logged cache-behavior-path-pattern when present, else
-- description: replayed from the ingested distribution config, else 'unknown'.
-- param: start timestamp = null Inclusive lower bound on the request time (UTC).
-- param: end timestamp = null Exclusive upper bound on the request time (UTC).
-- param: distribution text = null Only this distribution id.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read (they describe the same requests).
-- param: bucket text = null [minute|hour|day] Also split by minute, hour or day; bucket_start is NULL without it.
WITH r AS (
    SELECT
        CASE $bucket WHEN 'minute' THEN utc_floor(timestamp, 60)
                     WHEN 'hour' THEN utc_floor(timestamp, 3600)
                     WHEN 'day' THEN utc_floor(timestamp, 86400) END AS bucket_start,
        distribution_id, behavior, bytes,
        (method NOT IN ('POST', 'PUT', 'PATCH', 'DELETE')
            AND response_result_type IN ('Hit', 'RefreshHit', 'Miss')
            AND coalesce(protocol, '') NOT IN ('ws', 'wss')) AS cacheable,
        response_result_type IN ('Hit', 'RefreshHit') AS hit,
        detailed_result_type = 'OriginShieldHit' AS shield_hit
    FROM resolved_requests($log, $start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution)
)
SELECT
    bucket_start, distribution_id, behavior,
    count(*) AS requests,
    count(*) FILTER (WHERE cacheable) AS cacheable_requests,
    count(*) FILTER (WHERE cacheable AND hit) AS hits,
    count(*) FILTER (WHERE cacheable AND hit)::DOUBLE
        / nullif(count(*) FILTER (WHERE cacheable), 0) AS hit_ratio,
    coalesce(sum(bytes) FILTER (WHERE cacheable AND hit), 0)::DOUBLE
        / nullif(sum(bytes) FILTER (WHERE cacheable), 0) AS byte_hit_ratio,
    count(*) FILTER (WHERE cacheable AND (hit OR shield_hit))::DOUBLE
        / nullif(count(*) FILTER (WHERE cacheable), 0) AS origin_offload
FROM r
GROUP BY ALL
ORDER BY bucket_start NULLS FIRST, distribution_id, behavior;
