#!/usr/bin/env bash
# Dump the operational PostgreSQL database (custom format, compressed) and keep the last N dumps.
# Usage: deploy/scripts/backup-db.sh [BACKUP_DIR]
# Env: DATABASE_URL (required, postgresql://…), BACKUP_KEEP (default 14),
#      COMPOSE_FILE set → dump through `docker compose exec postgres` instead of a local pg_dump.
set -euo pipefail

BACKUP_DIR="${1:-${BACKUP_DIR:-./backups}}"
BACKUP_KEEP="${BACKUP_KEEP:-14}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
target="$BACKUP_DIR/hotel_db_${stamp}.dump"

mkdir -p "$BACKUP_DIR"
if [[ -n "${COMPOSE_FILE:-}" ]]; then
  docker compose exec -T postgres pg_dump -U hotel -d hotel_db --format=custom --compress=6 > "$target"
else
  : "${DATABASE_URL:?set DATABASE_URL to the database to back up}"
  pg_dump --dbname="$DATABASE_URL" --format=custom --compress=6 --file="$target"
fi

# A dump that pg_restore cannot list is not a backup.
pg_restore --list "$target" > /dev/null
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
