#!/usr/bin/env bash
# Deploy an image tag with docker compose: pull, migrate, roll the services, health-check,
# and roll back to the previous tag automatically when the health check fails.
# Usage: deploy/scripts/deploy.sh ENVIRONMENT IMAGE_TAG      (ENVIRONMENT: dev | staging | production)
set -euo pipefail

ENVIRONMENT="${1:?usage: deploy.sh ENVIRONMENT IMAGE_TAG}"
IMAGE_TAG="${2:?usage: deploy.sh ENVIRONMENT IMAGE_TAG}"
case "$ENVIRONMENT" in
  dev|staging|production) ;;
  *) echo "ENVIRONMENT must be dev, staging or production, not '$ENVIRONMENT'" >&2; exit 2 ;;
esac

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_FILE="$DEPLOY_DIR/.env.$ENVIRONMENT"
[[ -f "$ENV_FILE" ]] || ENV_FILE="$DEPLOY_DIR/.env"
STATE_FILE="$DEPLOY_DIR/.deployed-$ENVIRONMENT"

compose() {
  IMAGE_TAG="$IMAGE_TAG" docker compose --env-file "$ENV_FILE" \
    -f "$DEPLOY_DIR/docker-compose.yml" -f "$DEPLOY_DIR/compose.$ENVIRONMENT.yml" "$@"
}

previous=""
[[ -f "$STATE_FILE" ]] && previous="$(tail -n 1 "$STATE_FILE")"
echo "deploying $IMAGE_TAG to $ENVIRONMENT (previous: ${previous:-none})"

compose pull --quiet
compose run --rm migrate
compose up -d --remove-orphans

if "$DEPLOY_DIR/scripts/health-check.sh" --timeout 180; then
  echo "$IMAGE_TAG" >> "$STATE_FILE"
  echo "deployed $IMAGE_TAG"
  exit 0
fi

echo "health check failed for $IMAGE_TAG" >&2
if [[ -n "$previous" ]]; then
  "$DEPLOY_DIR/scripts/rollback.sh" "$ENVIRONMENT" "$previous"
fi
exit 1
