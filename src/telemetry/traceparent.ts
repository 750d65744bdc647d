/**
 * Trace context for deliveries: the W3C `traceparent` a sink sends downstream, so that a consumer's
 * trace joins the run's.
 */
import * as Effect from "effect/Effect"

/**
 * The W3C `traceparent` of the span the caller runs in, for a delivery to carry downstream
 * (an HTTP header, a Kafka record header), so that a consumer's trace joins the run's. Undefined
 * outside any span. Formatted here rather than through `effect/http`'s trace context, so that
 * sinks without HTTP do not load the HTTP modules for one string.
 */
export const currentTraceparent: Effect.Effect<string | undefined> = Effect.currentSpan.pipe(
  Effect.map((span) => `00-${span.traceId.padStart(32, "0")}-${span.spanId}-${span.sampled ? "01" : "00"}`),
  Effect.orElseSucceed(() => undefined)
)

/** `{ traceparent }`, or `{}` outside any span: spread into a request's or a record's headers. */
export const traceHeaders = (traceparent: string | undefined): Record<string, string> =>
  traceparent === undefined ? {} : { traceparent }
