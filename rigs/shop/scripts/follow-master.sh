#!/bin/sh
# follow-master.sh NODE: when NODE publishes that its redis is the master, point the application at it and say so
# (the web node's fact redis_master). Run at provisioning for db1, and as a reaction to db2's redis_role.
set -eu
node=$1
role=$(rig-fact get "$node" redis_role)
if [ "$role" != master ]; then
  echo "$node's redis is a $role: the application stays on $(rig-fact get "$(hostname)" redis_master 2>/dev/null || echo nothing)"
  exit 0
fi
sh control-repo/app/bin/use-redis "$node"
rig-fact set redis_master "$node"
