-- Daily rollups of the figures (services/sla/src/figures.rs): a period's ended clocks and
-- fired ladder steps, counted per local day (the city's date, Asia/Shanghai like the SLA
-- calendar), department ('centre' for the centre's own stages) and stage. A figure over 30
-- days read ~100,000 index entries (0.2-0.3 s, docs/performance.md "The console's pages");
-- now it reads the whole days here and only the period's partial first and last day from the
-- clocks and the log.
--
-- Kept in the statements that write what they count (the clocks' close, the log's insert),
-- so a rollup is exact in every committed state: no job to run, nothing to catch up after an
-- outage, and an event applied late lands on the day it happened.
CREATE TABLE sla.day_ended (
    day        DATE NOT NULL,
    department TEXT NOT NULL,
    stage      TEXT NOT NULL,
    ended      BIGINT NOT NULL,
    on_time    BIGINT NOT NULL,
    PRIMARY KEY (day, department, stage)
);

CREATE TABLE sla.day_steps (
    day        DATE NOT NULL,
    department TEXT NOT NULL,
    stage      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    n          BIGINT NOT NULL,
    PRIMARY KEY (day, department, stage, kind)
);

INSERT INTO sla.day_ended (day, department, stage, ended, on_time)
SELECT (closed_at AT TIME ZONE 'Asia/Shanghai')::date, COALESCE(department, 'centre'), stage,
       count(*), count(*) FILTER (WHERE state = 'met')
FROM sla.clock WHERE closed_at IS NOT NULL GROUP BY 1, 2, 3;

INSERT INTO sla.day_steps (day, department, stage, kind, n)
SELECT (fired_at AT TIME ZONE 'Asia/Shanghai')::date, COALESCE(department, 'centre'), stage,
       kind, count(*)
FROM sla.event_log WHERE kind IN ('warning', 'overdue', 'supervised', 'escalated')
GROUP BY 1, 2, 3, 4;
