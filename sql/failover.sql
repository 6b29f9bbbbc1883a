-- name: failover
-- description: Origin failover events and the gaps no origin group closes. A request is a failure
-- description: when its status is any 5xx, 429, or a code in its target group's failover criteria.
-- description: Not origin failures, so left out: requests WAF ended (action BLOCK, CAPTCHA or
-- description: CHALLENGE, joined on request id) and errors the edge made itself (result types
-- description: LimitExceeded, CapacityExceeded, LambdaExecutionError; detailed types for Lambda and
-- description: function errors, client-side errors and geo blocks). Categories: eligible (origin group,
-- description: GET/HEAD/OPTIONS, status in its criteria: CloudFront retried it on the secondary);
-- description: gap_status (origin group, GET/HEAD/OPTIONS, status not in its criteria: 429 unless
-- description: configured); gap_method (origin group, any other method: writes never fail over; only
-- description: a config CloudFront would refuse puts writes there, since it rejects POST, PUT, PATCH or
-- description: DELETE on a behavior aimed at an origin group: `edgelake doctor` says so);
-- description: no_group (the behavior targets a single origin: failover can never happen); no_config
-- description: (no distribution config ingested; target is then the Host header). Observed: status,
-- description: method, behavior. Inferred: the target and its criteria, from the config; no log field
-- description: says which origin answered, so an eligible row means "CloudFront would have tried the
-- description: secondary", not that it did or that the secondary succeeded.
-- param: start timestamp = null Inclusive lower bound on the request time (UTC).
-- param: end timestamp = null Exclusive upper bound on the request time (UTC).
-- param: distribution text = null Only this distribution id.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
SELECT distribution_id, target, category, status AS sc_status, count(*) AS requests,
    min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM failures($log, $start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution)
GROUP BY ALL
ORDER BY distribution_id, target NULLS LAST, category, sc_status;
