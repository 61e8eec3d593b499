"""Partner webhooks: order confirmations, cancellations and expiries POSTed to the URL a partner registered.

- `signing`: the HMAC-SHA256 signature over timestamp and body (the partner's per-webhook secret);
- `store`: registrations (secret encrypted with ENCRYPTION_SECRET) and one delivery row per event and partner;
- `delivery`: the `webhooks` consumer's handler (core/consumer.py runs it on its durable queue): POST, record,
  retry with back-off on redelivery, dead-lettered by the broker after the queue's delivery limit.
"""
