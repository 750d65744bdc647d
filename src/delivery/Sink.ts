/**
 * The sink contract. A sink is one file in `sinks/` that exports a `SinkDefinition`: a config
 * Schema for its `{ "type": "...", ... }` entry in the config file and a constructor. Batching,
 * fan-out, retries and dead-lettering are shared machinery (`delivery/Delivery.ts`), so a sink only
 * knows how to hand one batch to its destination.
 */
import type * as Effect from "effect/Effect"
import type * as FileSystem from "effect/FileSystem"
import type * as Path from "effect/Path"
import type * as Scope from "effect/Scope"
import * as Schema from "effect/Schema"
import { sinkDeliveryFields } from "./DeliveryConfig.ts"

/** One event, serialized once and shared by every sink. */
export interface Envelope {
  /** The partition key downstream (the event's `user.uid`): one user's events stay in order. */
  readonly key: string
  /** The event as one line of JSON, without the trailing newline. */
  readonly json: string
}

export class SinkError extends Schema.TaggedError<SinkError>()("SinkError", {
  sink: Schema.String,
  message: Schema.String,
  /** Whether sending the same batch again may succeed (connection refused: yes; 400: no). */
  retryable: Schema.Boolean,
  /** The destination is over its budget (HTTP 429): back off longer. */
  throttled: Schema.optional(Schema.Boolean),
  /** The destination said when to come back (HTTP `Retry-After`). */
  retryAfter: Schema.optional(Schema.Duration),
  cause: Schema.optional(Schema.Defect())
}) {}

export interface Sink {
  /** Unique within a config; names the sink in logs, counters and dead-letter records. */
  readonly name: string
  /**
   * Deliver one batch, all of it or fail. A failure means the destination may have received
   * none, some or all of the batch: delivery is at-least-once. It runs inside the batch's span:
   * send `currentTraceparent` (`telemetry/traceparent.ts`) downstream, as a header, so that the
   * destination's trace joins the run's (`effect/http`'s client adds it by itself).
   */
  readonly write: (batch: ReadonlyArray<Envelope>) => Effect.Effect<void, SinkError>
  /**
   * How many batches `write` may be given at once (default 1). Above 1, a later batch may land
   * before an earlier one that is being retried.
   */
  readonly concurrency?: number
}

/** Fields every sink entry accepts, whatever its type. */
export const commonSinkFields = {
  /** Defaults to the type; needed only when two sinks share a type. */
  name: Schema.optional(Schema.NonEmptyString),
  /** Batching, queue and retry of this sink, when they differ from the `delivery` section. */
  ...sinkDeliveryFields
}

/** What a sink's constructor may use. */
export type SinkEnv = Scope.Scope | FileSystem.FileSystem | Path.Path

export interface SinkDefinition<Type extends string = string, C extends { readonly type: Type } = any> {
  readonly type: Type
  /** One line for `--help` and docs. */
  readonly summary: string
  /** Decodes the sink's entry of the config file (including `type`). */
  readonly config: Schema.Decoder<C>
  /** Acquire the sink; resources are released when the scope closes (after the last batch). */
  readonly make: (config: C, name: string) => Effect.Effect<Sink, SinkError, SinkEnv>
}

export const defineSink = <const Type extends string, C extends { readonly type: Type }>(
  definition: SinkDefinition<Type, C>
): SinkDefinition<Type, C> => definition

/** One NDJSON chunk for a batch: whole lines only, so a reader never sees half an event. */
export const toNdjson = (batch: ReadonlyArray<Envelope>): string => {
  let out = ""
  for (const e of batch) out += e.json + "\n"
  return out
}
