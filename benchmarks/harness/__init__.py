"""What the benchmarks share, one job per module; each benchmark script keeps only its own scenario.

* `processes`: child processes with a log file, HTTP polling, one-shot worker subprocesses;
* `redis_server`: a private redis-server on a free loopback port;
* `service_child`: the real service (`python -m service`) as a child, and the service rules the
  benchmarks mirror (which users it precomputes);
* `wrk`: Lua request scripts for wrk, wrk runs and their output;
* `proc`: CPU time, RSS and PSS of processes and process trees (psutil);
* `steps`: wall time, CPU time and peak RSS of named steps in this process;
* `machine`: the machine a run happened on (CPU, versions, load average);
* `report`: the results directory, markdown tables, plots and run records;
* `browser`: Debian's Chromium under Playwright, the dashboard's sign-in and page render times.
"""
