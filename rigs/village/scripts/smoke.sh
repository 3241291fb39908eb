#!/bin/sh
# The application node's smoke test: write through the master, read back from the replica, and check that the
# master is the very redis barn published while it provisioned (its run id: not restarted since).
set -eu
echo "master barn at $(rig-fact get barn ipaddress), replica mill at $(rig-fact get mill ipaddress)"
# WAIT blocks until one replica has acknowledged the write (Redis tells us; no polling).
printf 'SET village:greeting "hello from %s"\nWAIT 1 10000\n' "$(hostname)" | redis-cli -h barn
test "$(redis-cli -h mill get village:greeting)" = "hello from $(hostname)"
run_id=$(redis-cli -h barn info server | sed -n 's/^run_id://p' | tr -d '\r')
test "$run_id" = "$(rig-fact get barn redis_run_id)"
rig-fact set replication ok
echo "replication works: mill answers $(redis-cli -h mill get village:greeting); master run $run_id"
