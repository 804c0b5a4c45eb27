#!/usr/bin/env bash
# Make sure the suite's PostgreSQL and Redis answer on 127.0.0.1. A server that is installed but
# stopped is started; one that is missing is installed from Debian's packages when we can
# (root with apt-get). Otherwise stop with a message saying what is missing.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
fail() { echo "error: $*" >&2; exit 1; }

if ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    can_install || fail "PostgreSQL is not installed and cannot be installed here; install it (Debian: apt-get install postgresql) or set TEST_DATABASE_URL to a server the suite may create databases on"
    echo "Installing PostgreSQL"
    apt_install postgresql postgresql-client
  fi
  version=$(ls /etc/postgresql | sort -V | tail -1)
  echo "Starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || fail "PostgreSQL did not start on 127.0.0.1:5432 (see /var/log/postgresql/)"
fi
# The suite connects as 'postgres' over TCP; check it may log in and create databases.
psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user" 2>/dev/null | grep -q t \
  || fail "cannot connect to PostgreSQL at 127.0.0.1:5432 as 'postgres' with the right to create databases (pg_hba.conf must trust local TCP, or set TEST_DATABASE_URL with a password)"

# Django's migration checks look at the suite's own database; pytest creates test_itb itself.
psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'itb'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE itb"

if ! redis_up; then
  if ! command -v redis-server >/dev/null 2>&1; then
    can_install || fail "Redis is not installed and cannot be installed here; install it (Debian: apt-get install redis-server)"
    echo "Installing Redis"
    apt_install redis-server
  fi
  echo "Starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
  redis_up || fail "Redis did not start on 127.0.0.1:6379 (see /var/log/redis/ci.log)"
fi
echo "PostgreSQL and Redis are up."
