-- name: rate-limit-table
-- description: For each evaluation window and candidate AWS WAF rate limit: how many legit and suspect keys,
-- description: and how many requests at their peaks, a rate-based rule with that limit would limit.
-- param: start timestamp = null   Inclusive lower bound on the WAF request time (UTC).
-- param: end timestamp = null   Exclusive upper bound on the WAF request time (UTC).
-- param: distribution text = null   Only requests to this CloudFront distribution (WAF http_source_id).
-- param: key_type text = ip [ip|forwarded_ip|ip_uri|header]   Aggregation key (see rate-sizing).
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
-- Keys, peaks and the legit/suspect classification are exactly those of rate-sizing (same parameters,
-- same shared block below; read rate-sizing.sql for how WAF counts and why trailing windows).
--   *_keys_limited   keys whose peak_requests exceeds the limit (WAF limits a key above the limit)
--   *_requests_over  sum over those keys of peak_requests - limit: the requests over the limit in each
--                    key's busiest window. It is the excess at the peak, not the total WAF would block
--                    (a limited key stays blocked for as long as its count stays over the limit).
-- shared: rate keys (begin)
WITH windows AS (
    -- Parameters are checked here, in one CASE over constants that DuckDB folds while planning: an
    -- error() raised while the Arrow scans of the lake are running can abort the process instead.
    -- (So no lambdas and no per-row checks: those run at execution time.)
    SELECT DISTINCT CAST(w AS INTEGER) AS window_s
    FROM unnest(CASE
        WHEN len($windows::VARCHAR[]) = 0 THEN error('windows: give at least one of 60, 120, 300, 600')
        WHEN list_aggregate($windows::VARCHAR[], 'count') < len($windows::VARCHAR[])
          OR NOT regexp_full_match(array_to_string($windows::VARCHAR[], ','), '[0-9]{1,4}(,[0-9]{1,4})*')
          OR NOT list_has_all([60, 120, 300, 600], TRY_CAST($windows::VARCHAR[] AS INTEGER[]))
        THEN error('windows: ' || array_to_string($windows::VARCHAR[], ',')
                   || ': each must be a WAF evaluation window (60, 120, 300 or 600 s)')
        WHEN $key_type::VARCHAR = 'header' AND $header::VARCHAR IS NULL
        THEN error('key_type=header needs --param header=<header name>')
        ELSE $windows::VARCHAR[] END) AS t(w)
),
picked AS (
    SELECT timestamp, client_ip, uri, action, labels, request_id,
        struct_extract(list_filter(headers, lambda h: lower(h.name) = lower(coalesce($header::VARCHAR, 'X-Forwarded-For')))[1],
                       'value') AS header_value
    FROM waf
    WHERE timestamp IS NOT NULL
      AND ($start::TIMESTAMPTZ IS NULL OR timestamp >= $start::TIMESTAMPTZ)
      AND ($end::TIMESTAMPTZ IS NULL OR timestamp < $end::TIMESTAMPTZ)
      AND ($distribution::VARCHAR IS NULL OR http_source_id = $distribution::VARCHAR)
      AND ($path_prefix::VARCHAR IS NULL OR starts_with(uri, $path_prefix::VARCHAR))
      AND ($method::VARCHAR IS NULL OR upper(http_method) = upper($method::VARCHAR))
),
forwarded AS (
    SELECT *, trim(split_part(header_value, ',', 1)) AS first_forwarded FROM picked
),
keyed AS (
    SELECT timestamp, uri, action, labels, request_id, key,
        CASE WHEN $key_type::VARCHAR IN ('ip', 'ip_uri') THEN client_ip
             WHEN $key_type::VARCHAR = 'forwarded_ip' THEN key END AS key_ip
    FROM (
        SELECT *,
            CASE $key_type::VARCHAR
                WHEN 'ip' THEN client_ip
                WHEN 'ip_uri' THEN client_ip || ' ' || uri
                WHEN 'forwarded_ip' THEN
                    CASE WHEN regexp_full_match(first_forwarded, '[0-9A-Fa-f:.]+') THEN first_forwarded END
                WHEN 'header' THEN header_value
            END AS key
        FROM forwarded
    )
    WHERE key IS NOT NULL AND key <> ''
),
outcomes AS (
    SELECT x_edge_request_id AS request_id, max(sc_status) AS status
    FROM cloudfront
    WHERE x_edge_request_id IN (SELECT request_id FROM keyed)
    GROUP BY x_edge_request_id
),
flagged AS (
    SELECT k.key, k.key_ip, k.timestamp, k.uri, o.status,
        coalesce(k.action IN ('BLOCK', 'CAPTCHA', 'CHALLENGE'), false) AS terminated,
        coalesce(len(list_filter(k.labels, lambda l: starts_with(l, 'awswaf:managed:aws:amazon-ip-list:')
                                              OR starts_with(l, 'awswaf:managed:aws:anonymous-ip-list:')
                                              OR starts_with(l, 'awswaf:managed:aws:atp:')
                                              OR starts_with(l, 'awswaf:managed:aws:acfp:'))) > 0, false)
        OR (coalesce(len(list_filter(k.labels, lambda l: starts_with(l, 'awswaf:managed:aws:bot-control:'))) > 0, false)
            AND NOT coalesce(list_contains(k.labels, 'awswaf:managed:aws:bot-control:bot:verified'), false))
            AS labelled
    FROM keyed k
    LEFT JOIN outcomes o ON o.request_id = k.request_id
),
key_stats AS (
    SELECT key,
        count(*) AS requests,
        count(status) AS answered,
        count(*) FILTER (WHERE status BETWEEN 400 AND 499) AS client_errors,
        count(*) FILTER (WHERE status IN (401, 403, 429)) AS auth_failures,
        count(*) FILTER (WHERE terminated) AS terminated,
        count(*) FILTER (WHERE labelled) AS labelled,
        count(DISTINCT uri) AS distinct_uris,
        coalesce(bool_or(list_contains($allowlist::VARCHAR[], key) OR list_contains($allowlist::VARCHAR[], key_ip)),
                 false) AS allowlisted
    FROM flagged
    GROUP BY key
    HAVING count(*) >= $min_requests::BIGINT
),
signals AS (
    SELECT *,
        CASE WHEN answered > 0 AND 2 * client_errors >= answered
             THEN '4xx ' || CAST(client_errors AS VARCHAR) || '/' || CAST(answered AS VARCHAR) || ' answered' END AS s_4xx,
        CASE WHEN answered > 0 AND 4 * auth_failures >= answered
             THEN 'auth_failures ' || CAST(auth_failures AS VARCHAR) || '/' || CAST(answered AS VARCHAR)
                  || ' answered 401/403/429' END AS s_auth,
        CASE WHEN terminated > 0 AND 10 * terminated >= requests
             THEN 'waf_terminated ' || CAST(terminated AS VARCHAR) || '/' || CAST(requests AS VARCHAR) END AS s_waf,
        CASE WHEN labelled > 0 AND 5 * labelled >= requests
             THEN 'bot_or_reputation_labels ' || CAST(labelled AS VARCHAR) || '/' || CAST(requests AS VARCHAR) END AS s_labels,
        CASE WHEN distinct_uris >= 50 AND 5 * distinct_uris >= 4 * requests
                  AND (answered = 0 OR 5 * client_errors >= answered)
             THEN 'uri_diversity ' || CAST(distinct_uris AS VARCHAR) || '/' || CAST(requests AS VARCHAR) END AS s_uris
    FROM key_stats
),
classified AS (
    SELECT key, requests,
        CASE WHEN allowlisted THEN 'legit'
             WHEN coalesce(s_4xx, s_auth, s_waf, s_labels, s_uris) IS NOT NULL THEN 'suspect'
             ELSE 'legit' END AS classification,
        coalesce(nullif(concat_ws('; ', CASE WHEN allowlisted THEN 'allowlisted' END,
                                  s_4xx, s_auth, s_waf, s_labels, s_uris), ''),
                 'no suspect signal') AS reasons
    FROM signals
),
bins AS (
    SELECT key,
        (epoch_us(timestamp) // 10000000 + CASE WHEN epoch_us(timestamp) % 10000000 > 0 THEN 1 ELSE 0 END) * 10
            AS bin_s,
        count(*) AS n
    FROM flagged
    WHERE key IN (SELECT key FROM classified)
    GROUP BY ALL
),
rolled AS (
    SELECT w.window_s, b.key, b.bin_s,
        sum(b.n) OVER (PARTITION BY w.window_s, b.key ORDER BY b.bin_s
                       RANGE BETWEEN w.window_s - 10 PRECEDING AND CURRENT ROW) AS in_window
    FROM bins b CROSS JOIN windows w
),
peaks AS (
    SELECT window_s, key, max(in_window)::BIGINT AS peak_requests,
        min(bin_s) FILTER (WHERE in_window = peak_max) AS peak_t
    FROM (SELECT *, max(in_window) OVER (PARTITION BY window_s, key) AS peak_max FROM rolled)
    GROUP BY window_s, key
),
sized AS (
    SELECT p.window_s, $key_type::VARCHAR AS key_type, p.key, p.peak_requests,
        to_timestamp(p.peak_t - p.window_s) AS peak_window_start,
        c.requests, c.classification, c.reasons
    FROM peaks p
    JOIN classified c ON c.key = p.key
)
-- shared: rate keys (end)
, limits AS (
    -- checked in a CASE over constants, folded while planning (see the windows CTE)
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
