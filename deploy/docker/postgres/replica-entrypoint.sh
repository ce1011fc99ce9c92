#!/bin/bash
# The replica: a base backup of the primary through a physical slot on first start (as pg_basebackup -R does in
# the native stack), then a hot standby.
set -euo pipefail
export PGDATA=/var/lib/postgresql/data
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  gosu postgres pg_basebackup -h postgres -p 5432 -U replicator -D "$PGDATA" -R -X stream -C -S bgc_replica -c fast \
    -d 'application_name=replica'
fi
exec gosu postgres postgres -c config_file=/etc/bgc/postgresql.conf
