-- Table macro: rate_keys(t0, t1, dist, key_kind, header_name, window_list, uri_prefix, verb,
--                         allowed_keys, min_count)
-- The rows of an AWS WAF rate-based rule sizing: per aggregation key and evaluation window, the key's
-- peak request count in a trailing window evaluated every 10 s, and the key's legit/suspect class.
-- Shared by rate-sizing, rate-limit-recommendation and rate-limit-table, which pass their parameters
-- (cast as shown) in this order:
--   t0            $start::TIMESTAMPTZ      inclusive lower bound on the WAF request time, or NULL
--   t1            $end::TIMESTAMPTZ        exclusive upper bound, or NULL
--   dist          $distribution::VARCHAR   WAF http_source_id (the CloudFront distribution), or NULL
--   key_kind      $key_type::VARCHAR       ip | forwarded_ip | ip_uri | header
--   header_name   $header::VARCHAR         header for key_kind header / forwarded_ip, or NULL
--   window_list   $windows::VARCHAR[]      evaluation windows in seconds, as text
--   uri_prefix    $path_prefix::VARCHAR    scope-down on the URI path, or NULL
--   verb          $method::VARCHAR         scope-down on the HTTP method, or NULL
--   allowed_keys  $allowlist::VARCHAR[]    keys (or IPs in keys) that are always legit, or NULL
--   min_count     $min_requests::BIGINT    keys with fewer requests in scope are left out
-- Below, the parameters are named as the queries' users know them ($start, $header, ...).
-- Columns: window_s INTEGER, key_type, key, peak_requests BIGINT, peak_window_start TIMESTAMPTZ,
-- requests BIGINT, classification (legit | suspect), reasons. Unordered.
-- Parameter errors (windows not offered by WAF, key_type=header without a header) are raised with
-- error() in a CASE over the arguments, which are constants: DuckDB folds it while planning, so a bad
-- parameter fails before any scan of the lake starts (an error() raised while the Arrow scans run can
-- abort the process). Keep checks out of lambdas and per-row expressions: those run at execution.
-- pipeline/analyses/rates.py is the Polars twin: keep the two in step.
--
-- How WAF counts (FORMATS.md e): a rate-based rule keeps, per aggregation key, the number of requests
-- in the trailing EvaluationWindowSec seconds and re-checks it about every 10 s. A key is limited once
-- that count exceeds the limit. So the number to size a limit against is, per key and window W,
--   peak_requests = max over evaluation instants t = 10k s (epoch multiples of 10 s) of
--                   count(requests with t - W < timestamp <= t)
-- and peak_window_start = t - W for the first t that reaches that maximum. A request exactly at t
-- counts in the window ending at t; one exactly at t - W does not.
-- Why not clock buckets: counting per clock-aligned 5-minute bucket (12:00-12:05, 12:05-12:10, ...)
-- splits a burst that straddles a boundary in two, so a key sending 400 requests from 12:04 to 12:06
-- shows as 200 + 200 there, while the trailing 300 s window WAF evaluates at 12:06 sees all 400.
-- Sizing from clock buckets understates bursts and recommends limits that block real peaks.
-- Computation: each request goes to the 10 s bin of the first evaluation instant at or after it
-- (timestamp rounded UP to a multiple of 10 s, so `<= t` holds); the count at t is the sum of the
-- bins in (t - W, t], i.e. the W/10 bins ending at t. The maximum is always reached at a non-empty
-- bin (between non-empty bins the count can only fall), so only those instants are evaluated.
-- Cost, measured on 10M WAF records from 40k IPs (8.9M non-empty (ip, bin) pairs: 10 s bins barely
-- shrink real traffic, so neither a GROUP BY into bins nor a rollup of them saves work) joined with
-- 10M CloudFront rows, DuckDB capped at 1 GB: ~40 CPU-s, where a frame whose size is a column over
-- bins cross-joined with the windows, and one aggregate plus one join of all CloudFront ids, were
-- killed after 300 s. What makes the difference:
-- * The windows are four constant RANGE frames over ONE sort of the requests by (key number, bin):
--   all four always, the requested ones picked at the end; numbering the keys first halves the sort.
-- * The classification counts are one GROUP BY key. "Answered" is a membership test of the id among
--   CloudFront's ids (a mark join: no aggregate of 10M ids first, and the hash table holds ids only);
--   the highest status is only aggregated over ids with some status >= 400 (7 % of the rows here),
--   which is all the 4xx and auth signals need. The CloudFront ids are first narrowed to the ids in
--   scope only when something narrows the WAF records (a time range over a long lake), as that
--   semi-join costs a second scan and a hash table of every id in scope.
-- * Distinct URIs are counted only for keys the other uri_diversity conditions leave possible (>= 50
--   requests, 4xx >= 20 % of answered or none answered); label lists are only tested when not empty.
--
-- Rows: every request in the waf table (time range, distribution, scope-down). Requests terminated
-- by a higher-priority rule are counted too, although WAF stops evaluating them before the rate
-- rule: the peaks are an upper bound of what WAF would count. Requests outside [start, end) are not
-- seen, so a window reaching back before `start` can undercount.
-- Keys (as WAF's aggregate keys; a request without its key is not counted, as in WAF):
--   ip            client_ip
--   forwarded_ip  first comma-separated entry of the header named by `header` (X-Forwarded-For by
--                 default; name matched case-insensitively, first such header), spaces trimmed; an
--                 entry that is not made of hex digits, ':' and '.' only counts as missing
--   ip_uri        client_ip || ' ' || uri (custom keys IP + URI path)
--   header        value of the header named by `header` (first such header); empty counts as missing
-- Outcomes: the CloudFront row with x_edge_request_id = WAF request_id (the highest sc_status when
-- several rows share an id); requests without one are "unanswered" and leave the status shares alone.
-- Classification, per key over the whole range (the same for every window):
--   legit    when the key, or the IP in it (ip, forwarded_ip, ip_uri), is in `allowlist`;
--   suspect  otherwise, when any signal below holds; legit when none does.
--   Signals (integer arithmetic, so both engines agree exactly):
--     4xx            answered > 0 and 4xx answers >= 50 % of answered requests
--     auth_failures  answered > 0 and 401/403/429 answers >= 25 % of answered requests
--     waf_terminated WAF terminated (action BLOCK, CAPTCHA or CHALLENGE, any rule) >= 10 % of requests
--     bot_or_reputation_labels  >= 20 % of requests carry a label starting with
--                    awswaf:managed:aws:amazon-ip-list:, :anonymous-ip-list:, :atp: or :acfp:, or a
--                    awswaf:managed:aws:bot-control: label without ...:bot-control:bot:verified
--     uri_diversity  distinct URIs >= 50 and >= 80 % of requests, and 4xx >= 20 % of answered requests
--                    (or none answered): scanners probing paths that do not exist. Distinct URIs alone
--                    are normal for video players (every segment is a new URI).
--   `reasons` lists 'allowlisted' and each signal that held with its counts, '; '-separated, or
--   'no suspect signal'.
-- Keys with fewer than `min_requests` requests are left out (in every rate query).
CREATE OR REPLACE MACRO rate_keys(t0, t1, dist, key_kind, header_name, window_list, uri_prefix, verb,
                                 allowed_keys, min_count) AS TABLE
WITH windows AS (
    -- The parameter checks: one CASE over the (constant) arguments, folded while planning (see above).
    SELECT DISTINCT CAST(w AS INTEGER) AS window_s
    FROM unnest(CASE
        WHEN len(window_list) = 0 THEN error('windows: give at least one of 60, 120, 300, 600')
        WHEN list_aggregate(window_list, 'count') < len(window_list)
          OR NOT regexp_full_match(array_to_string(window_list, ','), '[0-9]{1,4}(,[0-9]{1,4})*')
          OR NOT list_has_all([60, 120, 300, 600], TRY_CAST(window_list AS INTEGER[]))
        THEN error('windows: ' || array_to_string(window_list, ',')
                   || ': each must be a WAF evaluation window (60, 120, 300 or 600 s)')
        WHEN key_kind = 'header' AND header_name IS NULL
        THEN error('key_type=header needs --param header=<header name>')
        ELSE window_list END) AS t(w)
),
keyed AS NOT MATERIALIZED (
    -- read twice at most (outcomes' narrowing, distinct URIs of few keys): re-scanned, never kept
    SELECT timestamp, uri, action, labels, request_id, key,
        CASE WHEN key_kind IN ('ip', 'ip_uri') THEN client_ip
             WHEN key_kind = 'forwarded_ip' THEN key END AS key_ip
    FROM (
        SELECT *,
            CASE key_kind
                WHEN 'ip' THEN client_ip
                WHEN 'ip_uri' THEN client_ip || ' ' || uri
                WHEN 'forwarded_ip' THEN
                    CASE WHEN regexp_full_match(trim(split_part(header_value, ',', 1)), '[0-9A-Fa-f:.]+')
                         THEN trim(split_part(header_value, ',', 1)) END
                WHEN 'header' THEN header_value
            END AS key
        FROM (
            -- the headers (a list per row) are only read for the key types that need one
            SELECT timestamp, client_ip, uri, action, labels, request_id,
                CASE WHEN key_kind IN ('forwarded_ip', 'header') THEN struct_extract(list_filter(headers,
                    lambda h: lower(h.name) = lower(coalesce(header_name, 'X-Forwarded-For')))[1], 'value') END
                    AS header_value
            FROM waf
            WHERE timestamp IS NOT NULL
              AND (t0 IS NULL OR timestamp >= t0)
              AND (t1 IS NULL OR timestamp < t1)
              AND (dist IS NULL OR http_source_id = dist)
              AND (uri_prefix IS NULL OR starts_with(uri, uri_prefix))
              AND (verb IS NULL OR upper(http_method) = upper(verb))
        )
    )
    WHERE key IS NOT NULL AND key <> ''
),
answered_ids AS (
    -- The CloudFront request ids with a status: a WAF record is answered when its id is among them.
    -- Only the first branch or the second survives planning (their conditions are over the arguments):
    -- the ids are narrowed to those in scope (a semi-join: a second scan and a hash table of every
    -- id in scope) only when something narrows the WAF records.
    SELECT x_edge_request_id AS request_id
    FROM cloudfront
    WHERE sc_status IS NOT NULL
      AND t0 IS NULL AND t1 IS NULL AND dist IS NULL AND uri_prefix IS NULL AND verb IS NULL
      AND key_kind IN ('ip', 'ip_uri')
    UNION ALL
    SELECT x_edge_request_id AS request_id
    FROM cloudfront
    WHERE sc_status IS NOT NULL
      AND NOT (t0 IS NULL AND t1 IS NULL AND dist IS NULL AND uri_prefix IS NULL AND verb IS NULL
               AND key_kind IN ('ip', 'ip_uri'))
      AND x_edge_request_id IN (SELECT request_id FROM keyed)
),
errors AS (
    -- The highest status of each id with some status >= 400: where the highest is below 400 only
    -- "answered" matters, so the rows of errors (7 % of them here) are all the aggregate sees.
    SELECT x_edge_request_id AS request_id, max(sc_status) AS status
    FROM cloudfront
    WHERE sc_status >= 400
    GROUP BY x_edge_request_id
),
key_stats AS (
    SELECT k.key,
        count(*) AS requests,
        count(*) FILTER (WHERE k.request_id IN (SELECT request_id FROM answered_ids)) AS answered,
        count(*) FILTER (WHERE e.status BETWEEN 400 AND 499) AS client_errors,
        count(*) FILTER (WHERE e.status IN (401, 403, 429)) AS auth_failures,
        count(*) FILTER (WHERE k.action IN ('BLOCK', 'CAPTCHA', 'CHALLENGE')) AS terminated,
        -- most records carry no label: the CASE runs the list lambdas only on those that do (-2 CPU-s per 10M)
        count(*) FILTER (WHERE CASE WHEN len(k.labels) > 0 THEN
            len(list_filter(k.labels, lambda l: starts_with(l, 'awswaf:managed:aws:amazon-ip-list:')
                                           OR starts_with(l, 'awswaf:managed:aws:anonymous-ip-list:')
                                           OR starts_with(l, 'awswaf:managed:aws:atp:')
                                           OR starts_with(l, 'awswaf:managed:aws:acfp:'))) > 0
            OR (len(list_filter(k.labels, lambda l: starts_with(l, 'awswaf:managed:aws:bot-control:'))) > 0
                AND NOT coalesce(list_contains(k.labels, 'awswaf:managed:aws:bot-control:bot:verified'), false))
            END) AS labelled,
        coalesce(bool_or(list_contains(allowed_keys, k.key) OR list_contains(allowed_keys, k.key_ip)), false)
            AS allowlisted
    FROM keyed k
    LEFT JOIN errors e ON e.request_id = k.request_id
    GROUP BY k.key
    HAVING count(*) >= min_count
),
key_ids AS (
    -- a number per key: the window below sorts 10M (number, bin) pairs, not (string, bin) pairs (-3 CPU-s)
    SELECT key, CAST(row_number() OVER () AS INTEGER) AS key_id FROM key_stats
),
rolled AS (
    -- Each request's count in the window ending at its bin: a RANGE frame holds the bin's own
    -- requests too, and (t - W, t] holds the bins t - W + 10 ... t. The four frames share one sort of
    -- the requests by key and time (no GROUP BY into bins first: it cost more than it saved).
    SELECT key_id, bin_s,
        count(*) OVER (PARTITION BY key_id ORDER BY bin_s RANGE BETWEEN 50 PRECEDING AND CURRENT ROW) AS w60,
        count(*) OVER (PARTITION BY key_id ORDER BY bin_s RANGE BETWEEN 110 PRECEDING AND CURRENT ROW) AS w120,
        count(*) OVER (PARTITION BY key_id ORDER BY bin_s RANGE BETWEEN 290 PRECEDING AND CURRENT ROW) AS w300,
        count(*) OVER (PARTITION BY key_id ORDER BY bin_s RANGE BETWEEN 590 PRECEDING AND CURRENT ROW) AS w600
    FROM (
        SELECT i.key_id,
            (epoch_us(k.timestamp) // 10000000 + CASE WHEN epoch_us(k.timestamp) % 10000000 > 0 THEN 1 ELSE 0 END) * 10
                AS bin_s
        FROM keyed k
        JOIN key_ids i ON i.key = k.key
    )
),
peaks AS (
    -- per key and window the highest count and the first instant reaching it: the least (-count, t)
    SELECT key_id, min({'neg': -w60, 't': bin_s}) AS p60, min({'neg': -w120, 't': bin_s}) AS p120,
        min({'neg': -w300, 't': bin_s}) AS p300, min({'neg': -w600, 't': bin_s}) AS p600
    FROM rolled
    GROUP BY key_id
),
diverse AS (
    -- distinct URIs only where the other uri_diversity conditions hold (distinct <= requests)
    SELECT key, count(DISTINCT uri) AS distinct_uris
    FROM keyed
    WHERE key IN (SELECT key FROM key_stats
                  WHERE requests >= 50 AND (answered = 0 OR 5 * client_errors >= answered))
    GROUP BY key
),
signals AS (
    SELECT s.*, coalesce(d.distinct_uris, 0) AS distinct_uris,
        CASE WHEN answered > 0 AND 2 * client_errors >= answered
             THEN '4xx ' || CAST(client_errors AS VARCHAR) || '/' || CAST(answered AS VARCHAR) || ' answered' END AS s_4xx,
        CASE WHEN answered > 0 AND 4 * auth_failures >= answered
             THEN 'auth_failures ' || CAST(auth_failures AS VARCHAR) || '/' || CAST(answered AS VARCHAR)
                  || ' answered 401/403/429' END AS s_auth,
        CASE WHEN terminated > 0 AND 10 * terminated >= requests
             THEN 'waf_terminated ' || CAST(terminated AS VARCHAR) || '/' || CAST(requests AS VARCHAR) END AS s_waf,
        CASE WHEN labelled > 0 AND 5 * labelled >= requests
             THEN 'bot_or_reputation_labels ' || CAST(labelled AS VARCHAR) || '/' || CAST(requests AS VARCHAR) END AS s_labels,
        CASE WHEN d.distinct_uris >= 50 AND 5 * d.distinct_uris >= 4 * requests
                  AND (answered = 0 OR 5 * client_errors >= answered)
             THEN 'uri_diversity ' || CAST(d.distinct_uris AS VARCHAR) || '/' || CAST(requests AS VARCHAR) END AS s_uris
    FROM key_stats s
    LEFT JOIN diverse d ON d.key = s.key
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
picked AS (
    SELECT w.window_s, c.key, c.requests, c.classification, c.reasons,
        CASE w.window_s WHEN 60 THEN p.p60 WHEN 120 THEN p.p120 WHEN 300 THEN p.p300 ELSE p.p600 END AS peak
    FROM classified c JOIN key_ids i ON i.key = c.key JOIN peaks p ON p.key_id = i.key_id CROSS JOIN windows w
),
sized AS (
    SELECT window_s, key_kind AS key_type, key, CAST(-peak.neg AS BIGINT) AS peak_requests,
        to_timestamp(peak.t - window_s) AS peak_window_start, requests, classification, reasons
    FROM picked
)
SELECT * FROM sized;
