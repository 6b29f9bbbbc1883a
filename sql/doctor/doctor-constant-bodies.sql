-- name: doctor-constant-bodies
-- description: Per distribution and serving behavior, the most frequent small body among its 200
-- description: responses (Content-Length at most max_bytes; ties: the smaller size): how many 200s
-- description: carry exactly that length, their share of the behavior's 200s, first and last, samples.
-- description: Edge code that rewrites origin errors into 200 with a fixed body (the origin-response
-- description: example of seed 002) leaves this trace; an API answering many identical small
-- description: documents leaves it too, so the doctor shows it as evidence, never as proof.
-- param: start timestamp = null Inclusive lower bound on the request time (UTC).
-- param: end timestamp = null Exclusive upper bound on the request time (UTC).
-- param: distribution text = null Only this distribution id.
-- param: log text = cloudfront [cloudfront|realtime] Which log to read.
-- param: max_bytes int = 1024 Largest body counted as small.
-- param: samples int = 3 How many responses each row lists as samples (earliest first, then by request id).
WITH ok AS (
    SELECT distribution_id, behavior, content_length, method, timestamp, request_id, uri_stem, client_ip, status
    FROM resolved_requests($log, $start::TIMESTAMPTZ, $end::TIMESTAMPTZ, $distribution)
    WHERE status = 200
),
totals AS (SELECT distribution_id, behavior, count(*) AS ok_responses FROM ok GROUP BY ALL),
sizes AS (
    SELECT *, row_number() OVER (PARTITION BY distribution_id, behavior ORDER BY n DESC, content_length) AS rank
    FROM (SELECT distribution_id, behavior, content_length, count(*) AS n
          FROM ok WHERE content_length BETWEEN 0 AND $max_bytes GROUP BY ALL)
)
SELECT s.distribution_id, s.behavior, s.content_length, s.n AS responses, t.ok_responses,
    s.n::DOUBLE / t.ok_responses AS share, min(o.timestamp) AS first_seen, max(o.timestamp) AS last_seen,
    list({'timestamp': o.timestamp, 'method': o.method, 'uri': o.uri_stem, 'status': o.status,
          'client_ip': o.client_ip, 'request_id': o.request_id}
         ORDER BY o.timestamp, o.request_id)[1:$samples] AS samples
FROM sizes s
JOIN totals t USING (distribution_id, behavior)
JOIN ok o ON o.distribution_id = s.distribution_id AND o.behavior = s.behavior AND o.content_length = s.content_length
WHERE s.rank = 1
GROUP BY s.distribution_id, s.behavior, s.content_length, s.n, t.ok_responses
ORDER BY s.distribution_id, s.behavior;
