#!/bin/sh
# The streaming standby: clone the primary once (pg_basebackup -R writes standby.signal and
# primary_conninfo), then run postgres as a hot standby. Promote with `pg_ctl promote` (docs/operations.md).
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h postgres -U replikator -D "$PGDATA" \
        -X stream -S standby1 -R -P; do
    echo "waiting for the primary"; sleep 2
  done
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
