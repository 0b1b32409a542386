#!/bin/sh
# Run once by the postgres image when it initialises an empty data directory
# (/docker-entrypoint-initdb.d). Creates the role pitrd connects as and lets it open replication
# connections: pitrd streams WAL over the physical replication protocol and takes base backups
# with BASE_BACKUP, both of which need the REPLICATION attribute and a "replication" pg_hba line.
set -eu

: "${PITRD_REPLICATION_USER:=pitrd}"
: "${PITRD_REPLICATION_PASSWORD:?set PITRD_REPLICATION_PASSWORD for the postgres service}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
	--set=role="$PITRD_REPLICATION_USER" --set=password="$PITRD_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE :"role" WITH LOGIN REPLICATION PASSWORD :'password';
-- Read-only views pitrd uses to report on the server (pg_stat_replication, settings).
GRANT pg_monitor TO :"role";
SQL

# The image's default pg_hba.conf ends with "host all all all scram-sha-256", which does not
# cover replication connections ("all" never matches the replication pseudo-database).
printf 'host replication %s all scram-sha-256\n' "$PITRD_REPLICATION_USER" >>"$PGDATA/pg_hba.conf"
