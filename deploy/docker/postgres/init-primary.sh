#!/bin/bash
# Runs once, on the primary's first start (docker-entrypoint-initdb.d): the roles and objects the native stack
# manager creates in PostgresPrimary.afterStart().
set -euo pipefail
psql -v ON_ERROR_STOP=1 -U postgres -d postgres <<'SQL'
CREATE ROLE replicator WITH LOGIN REPLICATION PASSWORD 'replicator';
SQL
for db in template1 postgres bgc; do
  psql -v ON_ERROR_STOP=1 -U postgres -d "$db" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
done
