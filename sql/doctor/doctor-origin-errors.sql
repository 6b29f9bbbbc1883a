-- name: doctor-origin-errors
-- description: Origin failures by kind (x-edge-detailed-result-type values starting with Origin:
-- description: OriginDnsError, OriginConnectError, OriginCommError, OriginReadError, ...) per distribution,
-- description: target and the origin inferred to have answered, with onset (first failure), last failure,
-- description: the busiest minute and samples. Inferred, not observed (no log field names the origin):
-- description: a single-origin target is that origin; in an origin group a failure in the failover
-- description: criteria was retried on the secondary, so the logged error is the secondary's
-- description: (answered_by secondary); any other failure never left the primary. Failures as in the
-- description: failures macro. Read by `edgelake doctor`.
-- param: start timestamp = null Inclusive lower bound on the request time (UTC).
-- param: end timestamp = null Exclusive upper bound on the request time (UTC).
-- param: distribution text = null Only this distribution id.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
-- param: samples int = 3 How many failures each row lists as samples (earliest first, then by request id).
WITH f AS (
    SELECT f.distribution_id, f.target,
        CASE f.category WHEN 'eligible' THEN 'secondary' WHEN 'gap_status' THEN 'primary'
                        WHEN 'gap_method' THEN 'primary' WHEN 'no_group' THEN 'origin' ELSE 'unknown' END
            AS answered_by,
        CASE f.category WHEN 'eligible' THEN g.secondary_origin_id WHEN 'gap_status' THEN g.primary_origin_id
                        WHEN 'gap_method' THEN g.primary_origin_id WHEN 'no_group' THEN f.target END AS origin,
        f.detailed_result_type, f.status, f.method, f.timestamp, f.request_id, f.uri_stem, f.client_ip
    FROM failures($log, $start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution) f
    LEFT JOIN origin_groups g ON g.distribution_id = f.distribution_id AND g.origin_group_id = f.target
    WHERE starts_with(f.detailed_result_type, 'Origin')
),
keyed AS (
    SELECT *, utc_floor(timestamp, 60) AS minute FROM f
),
minutes AS (
    SELECT *, row_number() OVER (PARTITION BY distribution_id, target, answered_by, origin, detailed_result_type
                                 ORDER BY n DESC, minute) AS rank
    FROM (SELECT distribution_id, target, answered_by, origin, detailed_result_type, minute, count(*) AS n
          FROM keyed GROUP BY ALL)
),
statuses AS (
    SELECT distribution_id, target, answered_by, origin, detailed_result_type,
        list({'status': status, 'failures': n} ORDER BY status) AS by_status
    FROM (SELECT distribution_id, target, answered_by, origin, detailed_result_type, status, count(*) AS n
          FROM keyed GROUP BY ALL)
    GROUP BY ALL
)
SELECT k.distribution_id, k.target, k.answered_by, k.origin, k.detailed_result_type,
    count(*) AS failures, any_value(s.by_status) AS by_status,
    min(k.timestamp) AS first_seen, max(k.timestamp) AS last_seen,
    any_value(m.minute) AS peak_minute, any_value(m.n) AS peak_failures_per_minute,
    list({'timestamp': k.timestamp, 'method': k.method, 'uri': k.uri_stem, 'status': k.status,
          'client_ip': k.client_ip, 'request_id': k.request_id}
         ORDER BY k.timestamp, k.request_id)[1:$samples] AS samples
FROM keyed k
JOIN statuses s ON s.distribution_id = k.distribution_id AND s.target IS NOT DISTINCT FROM k.target
               AND s.answered_by = k.answered_by AND s.origin IS NOT DISTINCT FROM k.origin
               AND s.detailed_result_type = k.detailed_result_type
JOIN minutes m ON m.rank = 1 AND m.distribution_id = k.distribution_id AND m.target IS NOT DISTINCT FROM k.target
              AND m.answered_by = k.answered_by AND m.origin IS NOT DISTINCT FROM k.origin
              AND m.detailed_result_type = k.detailed_result_type
GROUP BY k.distribution_id, k.target, k.answered_by, k.origin, k.detailed_result_type
ORDER BY k.distribution_id, k.target NULLS LAST, k.origin NULLS LAST, k.detailed_result_type;
