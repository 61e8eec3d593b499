"""aio-pika instrumentation: a PRODUCER span per publish, its context injected into the message headers
(`traceparent`), and a CONSUMER span per delivery continuing the context its headers carry.

The same spans as opentelemetry-instrumentation-aio-pika (which wraps the same `Exchange.publish` and
`Queue.consume`), kept here because its latest release (0.66b1) pins opentelemetry-semantic-conventions 0.66b1,
which cannot be installed beside opentelemetry-sdk 1.45.2 (it needs 0.66b2): replace this module by that
package once a release of the SDK's train exists.
"""

from __future__ import annotations

from collections.abc import Collection

import wrapt
from aio_pika import Exchange, Queue
from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_DESTINATION_NAME,
    MESSAGING_MESSAGE_ID,
    MESSAGING_OPERATION_TYPE,
    MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY,
    MESSAGING_SYSTEM,
)
from opentelemetry.trace import SpanKind


def _attributes(operation: str, destination: str, routing_key: str | None, message_id: str | None) -> dict:
    attributes = {MESSAGING_SYSTEM: "rabbitmq", MESSAGING_OPERATION_TYPE: operation,
                  MESSAGING_DESTINATION_NAME: destination}
    if routing_key:
        attributes[MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY] = routing_key
    if message_id:
        attributes[MESSAGING_MESSAGE_ID] = message_id
    return attributes


class AioPikaInstrumentor(BaseInstrumentor):
    def instrumentation_dependencies(self) -> Collection[str]:
        return ("aio_pika >= 7.2.0, < 11.0.0",)

    def _instrument(self, **kwargs) -> None:
        tracer = trace.get_tracer(__name__, tracer_provider=kwargs.get("tracer_provider"))

        async def publish(wrapped, instance, args, kwargs):
            message = args[0] if args else kwargs["message"]
            routing_key = args[1] if len(args) > 1 else kwargs.get("routing_key", "")
            if not is_instrumentation_enabled():
                return await wrapped(*args, **kwargs)
            with tracer.start_as_current_span(
                    f"publish {instance.name or '(default)'}", kind=SpanKind.PRODUCER,
                    attributes=_attributes("publish", instance.name, routing_key, message.message_id)):
                if message.headers is None:
                    message.headers = {}
                propagate.inject(message.headers)
                return await wrapped(*args, **kwargs)

        async def consume(wrapped, instance, args, kwargs):
            callback = args[0] if args else kwargs.pop("callback")
            rest = args[1:] if args else ()

            async def traced(message):
                if not is_instrumentation_enabled():
                    return await callback(message)
                headers = {key: value.decode() if isinstance(value, bytes) else value
                           for key, value in (message.headers or {}).items()}
                token = context.attach(propagate.extract(headers))
                try:
                    with tracer.start_as_current_span(
                            f"process {instance.name}", kind=SpanKind.CONSUMER,
                            attributes=_attributes("process", instance.name, message.routing_key,
                                                   message.message_id)):
                        return await callback(message)
                finally:
                    context.detach(token)

            return await wrapped(traced, *rest, **kwargs)

        wrapt.wrap_function_wrapper(Exchange, "publish", publish)
        wrapt.wrap_function_wrapper(Queue, "consume", consume)

    def _uninstrument(self, **kwargs) -> None:
        unwrap(Exchange, "publish")
        unwrap(Queue, "consume")
