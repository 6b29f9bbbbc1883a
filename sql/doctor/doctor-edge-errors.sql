-- name: doctor-edge-errors
-- description: Errors CloudFront made itself (the edge_generated macro: LimitExceeded, CapacityExceeded,
-- description: Lambda@Edge and CloudFront Functions failures), per distribution, serving behavior and
-- description: kind (the detailed result type when it names one, else the result type), with the
-- description: statuses, first and last, the busiest minute and samples: no origin is to blame for
-- description: them. Read by `edgelake doctor`.
-- param: start timestamp = null Inclusive lower bound on the request time (UTC).
-- param: end timestamp = null Exclusive upper bound on the request time (UTC).
-- param: distribution text = null Only this distribution id.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
-- param: samples int = 3 How many requests each row lists as samples (earliest first, then by request id).
WITH e AS (
    SELECT distribution_id, behavior, target,
        CASE WHEN edge_generated(NULL, detailed_result_type) THEN detailed_result_type ELSE result_type END AS kind,
        status, method, timestamp, request_id, uri_stem, client_ip, utc_floor(timestamp, 60) AS minute
    FROM resolved_requests($log, $start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution)
    WHERE status >= 400 AND edge_generated(result_type, detailed_result_type)
),
minutes AS (
    SELECT *, row_number() OVER (PARTITION BY distribution_id, behavior, kind ORDER BY n DESC, minute) AS rank
    FROM (SELECT distribution_id, behavior, kind, minute, count(*) AS n FROM e GROUP BY ALL)
),
statuses AS (
    SELECT distribution_id, behavior, kind, list({'status': status, 'requests': n} ORDER BY status) AS by_status
    FROM (SELECT distribution_id, behavior, kind, status, count(*) AS n FROM e GROUP BY ALL)
    GROUP BY ALL
)
SELECT e.distribution_id, e.behavior, any_value(e.target) AS target, e.kind, count(*) AS requests,
    any_value(s.by_status) AS by_status, min(e.timestamp) AS first_seen, max(e.timestamp) AS last_seen,
    any_value(m.minute) AS peak_minute, any_value(m.n) AS peak_requests_per_minute,
    list({'timestamp': e.timestamp, 'method': e.method, 'uri': e.uri_stem, 'status': e.status,
          'client_ip': e.client_ip, 'request_id': e.request_id}
         ORDER BY e.timestamp, e.request_id)[1:$samples] AS samples
FROM e
JOIN statuses s USING (distribution_id, behavior, kind)
JOIN minutes m ON m.rank = 1 AND m.distribution_id = e.distribution_id AND m.behavior = e.behavior AND m.kind = e.kind
GROUP BY e.distribution_id, e.behavior, e.kind
ORDER BY e.distribution_id, e.behavior, e.kind;
