"""Ledgerline's benchmarks: `python -m bench.ledger` (the ledger alone) and `python -m bench.e2e` (the whole stack).

Both run the real services as their own processes on the real Kafka broker and PostgreSQL (port base 48100),
measure from the outside, and compare with a raw ceiling measured in the same run. See bench/README.md.

What both share, one module per concern:

* `harness`: paths, port base and instance id, progress output (`say`), `BenchAborted`, run identity;
* `kafka_io`: lean Kafka I/O (the services' producer settings, publishing, offsets, reading windows and live
  topics, set-up commands, the topic namespace);
* `groups`: `GroupGuard`, which keeps other developers' consumers and records out of our consumer groups;
* `sampling`: CPU time and peak RSS (psutil) of our processes, the broker and PostgreSQL;
* `metrics`: the services' own `/metrics`;
* `postgres`: fresh databases per service for the run, PostgreSQL's own counters and session states;
* `ceilings`: the raw COPY and Kafka ceilings;
* `profiling`: py-spy and the summary of its profiles;
* `figures`: percentiles, per-second buckets, phases, the JSON result file.

Shared machine rules built in:

* our processes run on their own port base (48100 by default) and identify themselves with an instance id
  (`bench48100`), which the services put into their Kafka client id (`ledger-bench48100`);
* before measuring, every consumer group the benchmark relies on must have no member but ours (`GroupGuard`):
  other developers' services use the same group names, and a member of theirs would take a share of our
  partitions and falsify the figures. The guard waits, says why, and gives up with a clear message;
* the guard keeps watching during the measurement; a foreign member appearing invalidates the run;
* by default the services get fresh databases of their own for the run (`ServiceDatabases`), dropped after it;
* with a topic namespace (`LEDGERLINE_TOPIC_PREFIX`), a `bench…` namespace is cleaned up after the run.
"""
