-- The figures (services/sla/src/figures.rs) count a period's ended clocks and fired ladder
-- steps by department and stage, and the clocks overdue now. With 100,000 tickets stored each
-- count read its rows from the table one index entry at a time (the console's board and
-- report took over 600 ms, docs/performance.md "The console's pages"); these indexes carry
-- every column the counts read, so they are index-only scans over the period's entries.
CREATE INDEX clock_closed_figures ON sla.clock (closed_at) INCLUDE (department, stage, state)
    WHERE closed_at IS NOT NULL;
CREATE INDEX clock_overdue_figures ON sla.clock (due_at) INCLUDE (department, stage)
    WHERE state IN ('open', 'paused') AND level >= 2;
CREATE INDEX event_log_fired_figures ON sla.event_log (fired_at) INCLUDE (department, stage, kind);
