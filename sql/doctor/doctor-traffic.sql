-- name: doctor-traffic
-- description: Requests per distribution and serving behavior (with its target), split into reads
-- description: (GET/HEAD/OPTIONS) and writes, with the first and last request, and how many rows carry
-- description: an x-edge-detailed-result-type (standard logs before 2019-12-12 have none: the doctor
-- description: cannot tell origin errors apart by kind there). Read by `edgelake doctor`.
-- param: start timestamp = null Inclusive lower bound on the request time (UTC).
-- param: end timestamp = null Exclusive upper bound on the request time (UTC).
-- param: distribution text = null Only this distribution id.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
SELECT distribution_id, behavior, target,
    count(*) AS requests,
    count(*) FILTER (WHERE method IN ('GET', 'HEAD', 'OPTIONS')) AS reads,
    count(*) FILTER (WHERE method NOT IN ('GET', 'HEAD', 'OPTIONS')) AS writes,
    count(detailed_result_type) AS with_detailed_type,
    min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM resolved_requests($log, $start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution)
GROUP BY ALL
ORDER BY distribution_id, behavior, target NULLS LAST;
