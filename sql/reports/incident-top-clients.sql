-- name: incident-top-clients
-- description: The incident report's 15 busiest client IPs in the window: requests, distinct URI stems,
-- description: failures by kind and their most frequent user agent.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
-- param: start timestamp Inclusive start of the incident window (UTC).
-- param: end timestamp Exclusive end of the incident window (UTC).
-- param: distribution text = null Only this distribution id.
SELECT client_ip, count(*) AS requests, count(DISTINCT uri_stem) AS distinct_uris,
    count(*) FILTER (WHERE status >= 500) AS status_5xx, count(*) FILTER (WHERE status = 429) AS status_429,
    count(*) FILTER (WHERE status BETWEEN 400 AND 499 AND status <> 429) AS other_4xx,
    mode(user_agent) AS user_agent
FROM edge_requests
WHERE log = $log AND timestamp >= $start AND timestamp < $end
    AND ($distribution IS NULL OR distribution_id = $distribution)
GROUP BY ALL ORDER BY requests DESC, client_ip LIMIT 15
