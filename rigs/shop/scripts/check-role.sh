#!/bin/sh
# rig test, on a redis node: its redis has the role the node publishes (redis_role): a replica whose link to its
# master is up, or a master.
set -eu
role=$(rig-fact get "$(hostname)" redis_role)
info=$(redis-cli info replication | tr -d '\r')
case "$role" in
  master) printf '%s\n' "$info" | grep -q '^role:master' ;;
  replica) printf '%s\n' "$info" | grep -q '^role:slave' && printf '%s\n' "$info" | grep -q '^master_link_status:up' ;;
  *) false ;;
esac || { echo "$(hostname) publishes redis_role=$role, but its redis says:" >&2; printf '%s\n' "$info" >&2; exit 1; }
echo "$(hostname)'s redis is the $role it says it is"
