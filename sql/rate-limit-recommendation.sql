-- name: rate-limit-recommendation
-- description: Recommended AWS WAF rate-based rule limit per key type and window: the smallest limit that
-- description: rate-limits no legit key, plus headroom, clamped to WAF's 10 ... 2,000,000,000.
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
-- param: headroom float = 0.25   Safety margin above the busiest legit key's peak (0.25 = 25 %); >= 0.
--
-- One row per window (for the requested key_type): window_s, key_type, recommended_limit,
-- legit_max_peak, suspect_keys_over_limit, legit_keys_over_limit, headroom. ORDER BY window_s.
--
-- Keys, peaks and the legit/suspect classification are exactly those of rate-sizing: both select from
-- the rate_keys table macro with the same parameters (read sql/views/rate_keys.sql for how WAF counts,
-- why trailing windows, the keys and the classification signals).
-- WAF limits a key when its count in the window EXCEEDS the limit, so a limit equal to the busiest
-- legit key's peak already limits no legit key. The recommendation adds the headroom on top:
--   recommended_limit = clamp(ceil(legit_max_peak * (1 + headroom) - 1e-9), 10, 2000000000)
-- (the 1e-9 keeps binary rounding from pushing an exact product such as 100 * 1.1 up by one), and
-- 10 when no legit key was seen (nothing to protect: WAF's minimum). legit_max_peak is the highest
-- peak_requests of a legit key in that window (null when there is none). The two counts are the keys
-- whose peak exceeds recommended_limit: legit_keys_over_limit is 0 unless the 2,000,000,000 clamp
-- bites; suspect_keys_over_limit is what the rule would catch at its peak.
WITH sized AS (
    SELECT * FROM rate_keys($start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution::VARCHAR, $key_type::VARCHAR,
                            $header::VARCHAR, $windows::VARCHAR[], $path_prefix::VARCHAR, $method::VARCHAR,
                            $allowlist::VARCHAR[], $min_requests::BIGINT)
),
windows AS (
    -- the requested windows, already checked by rate_keys while planning
    SELECT DISTINCT CAST(w AS INTEGER) AS window_s FROM unnest($windows::VARCHAR[]) AS t(w)
),
legit AS (
    SELECT w.window_s, max(s.peak_requests) FILTER (WHERE s.classification = 'legit') AS legit_max_peak
    FROM windows w
    LEFT JOIN sized s ON s.window_s = w.window_s
    GROUP BY w.window_s
),
recommended AS (
    -- headroom is checked in a CASE over constants, folded while planning (see sql/views/rate_keys.sql)
    SELECT l.window_s, l.legit_max_peak, h.headroom,
        least(2000000000, greatest(10, coalesce(CAST(ceil(l.legit_max_peak * (1 + h.headroom) - 1e-9) AS BIGINT), 10)))
            AS recommended_limit
    FROM legit l,
        unnest(CASE WHEN NOT isfinite($headroom::DOUBLE) OR $headroom::DOUBLE < 0
                    THEN error('headroom must be a finite number >= 0 (0.25 means 25 % above the busiest legit key)')
                    ELSE [$headroom::DOUBLE] END) AS h(headroom)
)
SELECT r.window_s, $key_type::VARCHAR AS key_type, r.recommended_limit, r.legit_max_peak,
    count(s.key) FILTER (WHERE s.classification = 'suspect' AND s.peak_requests > r.recommended_limit)
        AS suspect_keys_over_limit,
    count(s.key) FILTER (WHERE s.classification = 'legit' AND s.peak_requests > r.recommended_limit)
        AS legit_keys_over_limit,
    r.headroom
FROM recommended r
LEFT JOIN sized s ON s.window_s = r.window_s
GROUP BY r.window_s, r.recommended_limit, r.legit_max_peak, r.headroom
ORDER BY r.window_s;
