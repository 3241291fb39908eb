#!/bin/sh
# rig test, on the web node: the application's redis is the one it publishes as redis_master, and that redis is a
# master that takes writes (a replica answers READONLY).
set -eu
host=$(sed -n 's/^redis_host=//p' /etc/shop/app.conf)
published=$(rig-fact get "$(hostname)" redis_master)
[ "$host" = "$published" ] || { echo "the application uses $host, but the web node publishes $published" >&2; exit 1; }
redis-cli -h "$host" info replication | grep -q '^role:master' || { echo "$host's redis is not a master" >&2; exit 1; }
answer=$(redis-cli -h "$host" set shop:probe "$(date +%s)")
[ "$answer" = OK ] || { echo "$host's redis did not take a write: $answer" >&2; exit 1; }
echo "the application uses $host, a master that takes writes"
