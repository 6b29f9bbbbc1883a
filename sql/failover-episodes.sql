-- name: failover-episodes
-- description: Failures (as in the failover query) grouped per target into time episodes: a new
-- description: episode starts when more than gap_s seconds pass without a failure on that target.
-- description: Episodes with fewer than min_failures failures are left out (background noise).
-- description: peak_failures_per_minute and peak_failure_rate look at clock minutes: failures of the
-- description: target in the minute, and that over all requests the target received in the minute.
-- description: dominant_category/dominant_status: the most frequent one (ties: alphabetical / lowest).
-- param: start timestamp = null Inclusive lower bound on the request time (UTC).
-- param: end timestamp = null Exclusive upper bound on the request time (UTC).
-- param: distribution text = null Only this distribution id.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
-- param: gap_s int = 120 Seconds without a failure that close an episode.
-- param: min_failures int = 10 Smallest episode reported.
WITH minutes AS (
    -- One read and one behavior replay of the requests feed both the failures and each minute's traffic
    -- per target: the failures travel in a list per (target, minute) and are unnested below.
    SELECT distribution_id, target, utc_floor(timestamp, 60) AS minute, count(*) AS requests,
        list({'category': category, 'status': status, 'timestamp': timestamp})
            FILTER (WHERE category IS NOT NULL) AS failed
    FROM classified_requests($log, $start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution)
    GROUP BY ALL
),
f AS (
    SELECT distribution_id, target, minute, requests,
        x.category AS category, x.status AS status, x.timestamp AS timestamp
    FROM (SELECT distribution_id, target, minute, requests, unnest(failed) AS x FROM minutes WHERE len(failed) > 0)
),
marked AS (
    SELECT *,
        CASE WHEN lag(timestamp) OVER w IS NULL
                  OR epoch(timestamp) - epoch(lag(timestamp) OVER w) > $gap_s THEN 1 ELSE 0 END AS starts
    FROM f
    WINDOW w AS (PARTITION BY distribution_id, target ORDER BY timestamp)
),
numbered AS (
    SELECT *, sum(starts) OVER (PARTITION BY distribution_id, target ORDER BY timestamp
                                ROWS UNBOUNDED PRECEDING) AS episode
    FROM marked
),
episodes AS (
    SELECT distribution_id, target, episode, min(timestamp) AS started_at, max(timestamp) AS ended_at,
        count(*) AS failures
    FROM numbered GROUP BY distribution_id, target, episode
    HAVING count(*) >= $min_failures
),
per_minute AS (
    SELECT distribution_id, target, episode, minute, requests, count(*) AS failures
    FROM numbered GROUP BY distribution_id, target, episode, minute, requests
),
peaks AS (
    SELECT distribution_id, target, episode,
        max(failures) AS peak_failures_per_minute,
        max(failures::DOUBLE / requests) AS peak_failure_rate
    FROM per_minute
    GROUP BY distribution_id, target, episode
),
cats AS (
    SELECT *, row_number() OVER (PARTITION BY distribution_id, target, episode ORDER BY n DESC, category) AS rank
    FROM (SELECT distribution_id, target, episode, category, count(*) AS n FROM numbered
          GROUP BY distribution_id, target, episode, category)
),
statuses AS (
    SELECT *, row_number() OVER (PARTITION BY distribution_id, target, episode ORDER BY n DESC, status) AS rank
    FROM (SELECT distribution_id, target, episode, status, count(*) AS n FROM numbered
          GROUP BY distribution_id, target, episode, status)
)
SELECT e.distribution_id, e.target, e.started_at, e.ended_at, e.failures,
    p.peak_failures_per_minute, p.peak_failure_rate,
    c.category AS dominant_category, s.status AS dominant_status
FROM episodes e
JOIN peaks p ON p.distribution_id = e.distribution_id AND p.target IS NOT DISTINCT FROM e.target
            AND p.episode = e.episode
JOIN cats c ON c.distribution_id = e.distribution_id AND c.target IS NOT DISTINCT FROM e.target
           AND c.episode = e.episode AND c.rank = 1
JOIN statuses s ON s.distribution_id = e.distribution_id AND s.target IS NOT DISTINCT FROM e.target
               AND s.episode = e.episode AND s.rank = 1
ORDER BY e.started_at, e.distribution_id, e.target;
