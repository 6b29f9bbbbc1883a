-- Table macro: failures(log_name, t0, t1, dist)
-- The origin failures among resolved_requests, each with its failover category: the rows of
-- classified_requests (sql/views/classified_requests.sql) that have one. Shared by the failover query,
-- the incident report and the doctor (which also reads the behavior, the request and its result types).
CREATE OR REPLACE MACRO failures(log_name, t0, t1, dist) AS TABLE
SELECT * FROM classified_requests(log_name, t0, t1, dist) WHERE category IS NOT NULL;
