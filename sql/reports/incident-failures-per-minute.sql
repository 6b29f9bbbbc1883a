-- name: incident-failures-per-minute
-- description: The incident report's failures per minute and failover category (the failures() macro of
-- description: sql/views/failures.sql, so "failure" means what it means in the failover analyses).
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
-- param: start timestamp Inclusive start of the incident window (UTC).
-- param: end timestamp Exclusive end of the incident window (UTC).
-- param: distribution text = null Only this distribution id.
SELECT utc_floor(timestamp, 60) AS minute, category, count(*) AS requests
FROM failures($log, $start, $end, $distribution)
GROUP BY ALL ORDER BY minute, category
