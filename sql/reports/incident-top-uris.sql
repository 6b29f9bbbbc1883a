-- name: incident-top-uris
-- description: The incident report's 15 most requested URI stems in the window, with their failures by kind
-- description: and how many clients asked for them.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
-- param: start timestamp Inclusive start of the incident window (UTC).
-- param: end timestamp Exclusive end of the incident window (UTC).
-- param: distribution text = null Only this distribution id.
SELECT uri_stem AS uri, count(*) AS requests, count(*) FILTER (WHERE status >= 500) AS status_5xx,
    count(*) FILTER (WHERE status = 429) AS status_429,
    count(*) FILTER (WHERE status BETWEEN 400 AND 499 AND status <> 429) AS other_4xx,
    count(DISTINCT client_ip) AS clients
FROM edge_requests
WHERE log = $log AND timestamp >= $start AND timestamp < $end
    AND ($distribution IS NULL OR distribution_id = $distribution)
GROUP BY ALL ORDER BY requests DESC, uri LIMIT 15
