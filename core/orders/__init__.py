"""Orders: state machine, idempotency, credit, risk, velocity, expiry and the booking flow."""
