#!/usr/bin/env bash
# Roll the application services back to an earlier image tag (default: the one deployed before
# the current one). Schema migrations are not reverted automatically: run
# `hotelctl migrate`-compatible downgrades by hand when a release note says so.
# Usage: deploy/scripts/rollback.sh ENVIRONMENT [IMAGE_TAG]
set -euo pipefail

ENVIRONMENT="${1:?usage: rollback.sh ENVIRONMENT [IMAGE_TAG]}"
DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_FILE="$DEPLOY_DIR/.deployed-$ENVIRONMENT"
ENV_FILE="$DEPLOY_DIR/.env.$ENVIRONMENT"
[[ -f "$ENV_FILE" ]] || ENV_FILE="$DEPLOY_DIR/.env"

target="${2:-}"
if [[ -z "$target" ]]; then
  if [[ ! -f "$STATE_FILE" ]] || [[ "$(wc -l < "$STATE_FILE")" -lt 2 ]]; then
    echo "no earlier deployment recorded in $STATE_FILE; name the tag" >&2
    exit 2
  fi
  target="$(tail -n 2 "$STATE_FILE" | head -n 1)"
fi

echo "rolling $ENVIRONMENT back to $target"
IMAGE_TAG="$target" docker compose --env-file "$ENV_FILE" \
  -f "$DEPLOY_DIR/docker-compose.yml" -f "$DEPLOY_DIR/compose.$ENVIRONMENT.yml" \
  up -d --no-deps api relay dagster-code-server dagster-webserver dagster-daemon
"$DEPLOY_DIR/scripts/health-check.sh" --timeout 120
echo "$target" >> "$STATE_FILE"
echo "rolled back to $target"
