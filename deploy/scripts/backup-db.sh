#!/usr/bin/env bash
# Dump the operational PostgreSQL database (custom format, compressed) and keep the last N dumps.
# Usage: deploy/scripts/backup-db.sh [BACKUP_DIR]
# Env: DATABASE_URL (required, postgresql://…), BACKUP_KEEP (default 14),
#      PG_BIN: the directory of the pg_dump/pg_restore to use (default: found, see below),
#      COMPOSE_FILE set → dump through `docker compose exec postgres` instead of a local pg_dump.
# pg_dump refuses a server newer than itself, so a local dump uses one at least as new as the server:
# PG_BIN if set (only that one), else Debian's /usr/lib/postgresql/<server major>/bin, else the embedded
# engine's own binaries (pgserver, through $PYTHON, default the repo's .venv), else pg_dump on PATH; none new
# enough stops with one line saying which version it needs.
set -euo pipefail

BACKUP_DIR="${1:-${BACKUP_DIR:-./backups}}"
BACKUP_KEEP="${BACKUP_KEEP:-14}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
target="$BACKUP_DIR/hotel_db_${stamp}.dump"

mkdir -p "$BACKUP_DIR"
if [[ -n "${COMPOSE_FILE:-}" ]]; then
  docker compose exec -T postgres pg_dump -U hotel -d hotel_db --format=custom --compress=6 > "$target"
  pg_restore=pg_restore
else
  : "${DATABASE_URL:?set DATABASE_URL to the database to back up}"
  major_of() { "$1" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/'; }
  psql=$(command -v psql || true)
  [[ -n "${PG_BIN:-}" && -x "$PG_BIN/psql" ]] && psql="$PG_BIN/psql"
  [[ -n "$psql" ]] || { echo "backup-db.sh: psql is needed to read the server's version" >&2; exit 1; }
  server_major=$(("$("$psql" -X -A -t -c 'SHOW server_version_num' "$DATABASE_URL")" / 10000))
  candidates=()
  if [[ -n "${PG_BIN:-}" ]]; then
    candidates+=("$PG_BIN/pg_dump")
  else
    candidates+=("/usr/lib/postgresql/$server_major/bin/pg_dump")
    venv_python="$(dirname "$0")/../../.venv/bin/python"
    [[ -x "$venv_python" ]] || venv_python=python3
    embedded=$("${PYTHON:-$venv_python}" -c 'import os, pgserver; print(os.path.dirname(pgserver.__file__))' \
      2>/dev/null || true)
    [[ -n "$embedded" ]] && candidates+=("$embedded/pginstall/bin/pg_dump")
    candidates+=("$(command -v pg_dump || true)")
  fi
  pg_dump=""
  for candidate in "${candidates[@]}"; do
    if [[ -x "$candidate" ]] && (($(major_of "$candidate") >= server_major)); then
      pg_dump=$candidate
      break
    fi
  done
  if [[ -z "$pg_dump" ]]; then
    found=$(for c in "${candidates[@]}"; do if [[ -x "$c" ]]; then echo "$c ($(major_of "$c"))"; fi; done \
      | paste -sd, -)
    echo "backup-db.sh: the server runs PostgreSQL $server_major; pg_dump $server_major or newer is needed" \
      "(found: ${found:-none}); install postgresql-client-$server_major or set PG_BIN to its directory" >&2
    exit 1
  fi
  pg_restore="$(dirname "$pg_dump")/pg_restore"
  "$pg_dump" --dbname="$DATABASE_URL" --format=custom --compress=6 --file="$target"
fi

# A dump that pg_restore cannot list is not a backup.
"$pg_restore" --list "$target" > /dev/null
sha256sum "$target" > "$target.sha256"
echo "backup written: $target ($(du -h "$target" | cut -f1))"

# Keep the newest BACKUP_KEEP dumps (the UTC stamp in the name sorts by time).
shopt -s nullglob
dumps=("$BACKUP_DIR"/hotel_db_*.dump)
mapfile -t old < <(printf '%s\n' "${dumps[@]}" | sort -r | tail -n +"$((BACKUP_KEEP + 1))")
for file in "${old[@]}"; do
  rm -f -- "$file" "$file.sha256"
  echo "removed old backup: $file"
done
