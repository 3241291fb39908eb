#!/bin/sh
# The web node's reaction to db1's maintenance fact: the holding page while it is true, the shop's pages when not.
set -eu
case "${RIG_REACTION_VALUE:-false}" in
  true) page=holding ;;
  *) page=live ;;
esac
sh control-repo/web/bin/site "$page"
rig-fact set page "$page"
