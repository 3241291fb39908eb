#!/bin/sh
# rig test, on the web node: it serves the page db1's maintenance fact calls for (the holding page while it is true).
set -eu
maintenance=$(rig-fact get db1 maintenance 2>/dev/null || echo false)
case "$maintenance" in
  true) expected=control-repo/web/holding/index.html ;;
  *) expected=control-repo/web/site/index.html ;;
esac
served=$(timeout 10 wget -q -O - http://localhost/)
if [ "$served" != "$(cat "$expected")" ]; then
  echo "db1 says maintenance=$maintenance, so the page should be $expected; it is:" >&2
  printf '%s\n' "$served" >&2
  exit 1
fi
echo "maintenance=$maintenance: serving $expected"
