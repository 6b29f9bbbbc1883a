-- name: doctor-failures
-- description: Origin failures (the failures macro: the failover query's definition, WAF blocks and the
-- description: edge's own errors left out) per distribution, serving behavior, target, failover category
-- description: and method kind (read: GET/HEAD/OPTIONS; write: any other), with the failures per status,
-- description: the first and last failure, the clock minute with the most failures (ties: the earliest)
-- description: and their share of the behavior's requests in that minute, the behavior's requests in
-- description: the window, and the earliest failures as samples. Read by `edgelake doctor`.
-- param: start timestamp = null Inclusive lower bound on the request time (UTC).
-- param: end timestamp = null Exclusive upper bound on the request time (UTC).
-- param: distribution text = null Only this distribution id.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
-- param: samples int = 3 How many failures each row lists as samples (earliest first, then by request id).
WITH f AS (
    SELECT distribution_id, behavior, target, category,
        CASE WHEN method IN ('GET', 'HEAD', 'OPTIONS') THEN 'read' ELSE 'write' END AS method_kind,
        status, method, timestamp, request_id, uri_stem, client_ip
    FROM failures($log, $start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution)
),
traffic AS (
    SELECT distribution_id, behavior, utc_floor(timestamp, 60) AS minute, count(*) AS requests
    FROM resolved_requests($log, $start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution)
    GROUP BY ALL
),
totals AS (
    SELECT distribution_id, behavior, sum(requests)::BIGINT AS behavior_requests FROM traffic GROUP BY ALL
),
minutes AS (
    SELECT distribution_id, behavior, target, category, method_kind,
        utc_floor(timestamp, 60) AS minute, count(*) AS failures
    FROM f GROUP BY ALL
),
worst AS (
    SELECT m.*, t.requests,
        row_number() OVER (PARTITION BY m.distribution_id, m.behavior, m.target, m.category, m.method_kind
                           ORDER BY m.failures DESC, m.minute) AS rank
    FROM minutes m
    JOIN traffic t ON t.distribution_id = m.distribution_id AND t.behavior = m.behavior AND t.minute = m.minute
),
statuses AS (
    SELECT distribution_id, behavior, target, category, method_kind,
        list({'status': status, 'failures': n} ORDER BY status) AS by_status
    FROM (SELECT distribution_id, behavior, target, category, method_kind, status, count(*) AS n FROM f GROUP BY ALL)
    GROUP BY ALL
),
grouped AS (
    SELECT distribution_id, behavior, target, category, method_kind,
        count(*) AS failures, min(timestamp) AS first_seen, max(timestamp) AS last_seen,
        list({'timestamp': timestamp, 'method': method, 'uri': uri_stem, 'status': status,
              'client_ip': client_ip, 'request_id': request_id}
             ORDER BY timestamp, request_id)[1:$samples] AS samples
    FROM f GROUP BY ALL
)
SELECT g.distribution_id, g.behavior, g.target, g.category, g.method_kind, g.failures, s.by_status,
    g.first_seen, g.last_seen, w.minute AS peak_minute, w.failures AS peak_failures_per_minute,
    w.failures::DOUBLE / w.requests AS peak_share, t.behavior_requests, g.samples
FROM grouped g
JOIN statuses s USING (distribution_id, behavior, target, category, method_kind)
JOIN worst w ON w.rank = 1 AND w.distribution_id = g.distribution_id AND w.behavior = g.behavior
            AND w.target IS NOT DISTINCT FROM g.target AND w.category = g.category AND w.method_kind = g.method_kind
JOIN totals t ON t.distribution_id = g.distribution_id AND t.behavior = g.behavior
ORDER BY g.distribution_id, g.behavior, g.target NULLS LAST, g.category, g.method_kind;
