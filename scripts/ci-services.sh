#!/usr/bin/env bash
# The services `.ci/run` expects on 127.0.0.1, as the developers' machines run them: PostgreSQL (user postgres,
# no password from localhost), Redis and RabbitMQ (guest/guest). For a bare Debian CI container (the GitHub
# workflow); starts only what is not answering already. Run as root.
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need=()
answers 5432 || need+=(postgresql)
answers 6379 || need+=(redis-server)
answers 5672 || need+=(rabbitmq-server)
((${#need[@]})) || { echo "PostgreSQL, Redis and RabbitMQ already answer"; exit 0; }

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
for service in "${need[@]}"; do
  if [[ $service == postgresql ]]; then
    # The tests connect as postgres without a password over TCP from this machine only.
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    done
  fi
  service "$service" start
done
for port in 5432 6379 5672; do
  for _ in $(seq 60); do answers "$port" && break; sleep 1; done
  answers "$port" || { echo "ci-services.sh: nothing answers on 127.0.0.1:$port" >&2; exit 1; }
done
echo "started: ${need[*]}"
