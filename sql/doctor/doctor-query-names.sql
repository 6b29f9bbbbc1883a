-- name: doctor-query-names
-- description: Query string parameter names per distribution and serving behavior, among GET and HEAD
-- description: requests, with how many requests carry each (a name repeated in one query counts once):
-- description: what a cache key that lists its query strings would need. Names as they are stored in
-- description: the lake (the text before '=' in each '&'-separated part). The top names per behavior,
-- description: most requests first, ties by name. Read by `edgelake doctor`.
-- param: start timestamp = null Inclusive lower bound on the request time (UTC).
-- param: end timestamp = null Exclusive upper bound on the request time (UTC).
-- param: distribution text = null Only this distribution id.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
-- param: top int = 10 Names kept per behavior (a cache policy lists at most 10 by default).
WITH named AS (
    SELECT distribution_id, behavior,
        list_distinct(list_transform(string_split(uri_query, '&'), lambda p: split_part(p, '=', 1))) AS names
    FROM resolved_requests($log, $start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution)
    WHERE method IN ('GET', 'HEAD') AND coalesce(uri_query, '') <> ''
),
counted AS (
    SELECT distribution_id, behavior, name, count(*) AS requests
    FROM (SELECT distribution_id, behavior, unnest(names) AS name FROM named)
    WHERE name <> ''
    GROUP BY ALL
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY distribution_id, behavior ORDER BY requests DESC, name) AS rank
    FROM counted
)
SELECT distribution_id, behavior, name, requests
FROM ranked WHERE rank <= $top
ORDER BY distribution_id, behavior, requests DESC, name;
