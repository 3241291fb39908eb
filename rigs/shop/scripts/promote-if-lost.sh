#!/bin/sh
# The replica's reaction to its master's stage: promote itself when the master is lost (its lease ran out: it died,
# was killed or cut off), and publish that it is the master now. Any other stage (ready, maintenance...) is no failover.
set -eu
if [ "${RIG_REACTION_VALUE:-}" != lost ]; then
  echo "the master is ${RIG_REACTION_VALUE:-unknown}: this replica stays a replica"
  exit 0
fi
sh control-repo/redis/promote
rig-fact set redis_role master
