-- name: rate-limit-table
-- description: For each evaluation window and candidate AWS WAF rate limit: how many legit and suspect keys,
-- description: and how many requests at their peaks, a rate-based rule with that limit would limit.
-- param: start timestamp = null   Inclusive lower bound on the WAF request time (UTC).
-- param: end timestamp = null   Exclusive upper bound on the WAF request time (UTC).
-- param: distribution text = null   Only requests to this CloudFront distribution (WAF http_source_id).
-- param: key_type text = ip [ip|forwarded_ip|ip_uri|header]   Aggregation key (see sql/views/rate_keys.sql).
-- param: header text = null   Header name for key_type=header; forwarded-IP header for forwarded_ip (X-Forwarded-For).
-- param: windows text[] = 60,120,300,600   Evaluation windows in seconds; WAF offers 60, 120, 300 and 600.
-- param: path_prefix text = null   Scope-down: only requests whose URI path starts with this (case-sensitive).
-- param: method text = null   Scope-down: only requests with this HTTP method.
-- param: allowlist text[] = null   Keys always legit (e.g. office NAT IPs); matches the key or its IP exactly.
-- param: min_requests int = 20   Keys with fewer requests in scope are left out.
-- param: limits text[] = 100,500,1000,2000,5000,10000   Candidate limits (each 10 ... 2,000,000,000).
--
-- One row per window and candidate limit: window_s, limit, legit_keys_limited, suspect_keys_limited,
-- legit_requests_over, suspect_requests_over. ORDER BY window_s, limit.
--
-- Keys, peaks and the legit/suspect classification are exactly those of rate-sizing: both select from
-- the rate_keys table macro with the same parameters (read sql/views/rate_keys.sql for how WAF counts,
-- why trailing windows, the keys and the classification signals).
--   *_keys_limited   keys whose peak_requests exceeds the limit (WAF limits a key above the limit)
--   *_requests_over  sum over those keys of peak_requests - limit: the requests over the limit in each
--                    key's busiest window. It is the excess at the peak, not the total WAF would block
--                    (a limited key stays blocked for as long as its count stays over the limit).
WITH sized AS (
    SELECT * FROM rate_keys($start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution::VARCHAR, $key_type::VARCHAR,
                            $header::VARCHAR, $windows::VARCHAR[], $path_prefix::VARCHAR, $method::VARCHAR,
                            $allowlist::VARCHAR[], $min_requests::BIGINT)
),
windows AS (
    -- the requested windows, already checked by rate_keys while planning
    SELECT DISTINCT CAST(w AS INTEGER) AS window_s FROM unnest($windows::VARCHAR[]) AS t(w)
),
limits AS (
    -- checked in a CASE over constants, folded while planning (see sql/views/rate_keys.sql)
    SELECT DISTINCT CAST(l AS BIGINT) AS "limit"
    FROM unnest(CASE
        WHEN len($limits::VARCHAR[]) = 0 THEN error('limits: give at least one candidate limit')
        WHEN list_aggregate($limits::VARCHAR[], 'count') < len($limits::VARCHAR[])
          OR NOT regexp_full_match(array_to_string($limits::VARCHAR[], ','), '[0-9]{1,10}(,[0-9]{1,10})*')
          OR list_min(TRY_CAST($limits::VARCHAR[] AS BIGINT[])) < 10
          OR list_max(TRY_CAST($limits::VARCHAR[] AS BIGINT[])) > 2000000000
        THEN error('limits: ' || array_to_string($limits::VARCHAR[], ',')
                   || ': each must be a WAF rate limit, a whole number from 10 to 2000000000')
        ELSE $limits::VARCHAR[] END) AS t(l)
)
SELECT w.window_s, l."limit",
    count(s.key) FILTER (WHERE s.classification = 'legit' AND s.peak_requests > l."limit") AS legit_keys_limited,
    count(s.key) FILTER (WHERE s.classification = 'suspect' AND s.peak_requests > l."limit") AS suspect_keys_limited,
    CAST(coalesce(sum(s.peak_requests - l."limit")
                  FILTER (WHERE s.classification = 'legit' AND s.peak_requests > l."limit"), 0) AS BIGINT)
        AS legit_requests_over,
    CAST(coalesce(sum(s.peak_requests - l."limit")
                  FILTER (WHERE s.classification = 'suspect' AND s.peak_requests > l."limit"), 0) AS BIGINT)
        AS suspect_requests_over
FROM windows w
CROSS JOIN limits l
LEFT JOIN sized s ON s.window_s = w.window_s
GROUP BY w.window_s, l."limit"
ORDER BY w.window_s, l."limit";
