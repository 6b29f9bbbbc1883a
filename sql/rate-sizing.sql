-- name: rate-sizing
-- description: Peak request count per aggregation key in trailing 60/120/300/600 s windows, evaluated every
-- description: 10 s the way an AWS WAF rate-based rule counts, with each key classified legit or suspect.
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
--
-- One row per key and window: window_s, key_type, key, peak_requests, peak_window_start, requests,
-- classification (legit | suspect), reasons. ORDER BY window_s, peak_requests DESC, key.
--
-- Keys, peaks and the legit/suspect classification come from the rate_keys table macro: read
-- sql/views/rate_keys.sql for how WAF counts (trailing windows every 10 s, and why not clock buckets),
-- the peak and boundary conventions, which requests count, the four key types, how outcomes are
-- joined, every classification signal and its threshold, and the `reasons` text.
-- pipeline/analyses/rates.py is the Polars twin.
SELECT *
FROM rate_keys($start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution::VARCHAR, $key_type::VARCHAR,
     $header::VARCHAR, $windows::VARCHAR[], $path_prefix::VARCHAR, $method::VARCHAR,
     $allowlist::VARCHAR[], $min_requests::BIGINT)
ORDER BY window_s, peak_requests DESC, key;
