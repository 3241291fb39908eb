#!/bin/sh
# The application node's smoke test: write through the master, read back from the replica.
set -eu
master=$(rig-fact get barn ipaddress)
replica=$(rig-fact get mill ipaddress)
echo "master barn at $master, replica mill at $replica"
# WAIT blocks until one replica has acknowledged the write (Redis tells us; no polling).
printf 'SET village:greeting "hello from %s"\nWAIT 1 10000\n' "$(hostname)" | redis-cli -h barn
test "$(redis-cli -h mill get village:greeting)" = "hello from $(hostname)"
rig-fact set replication ok
echo "replication works: mill answers $(redis-cli -h mill get village:greeting)"
