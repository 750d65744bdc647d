/**
 * How events reach each sink: the `delivery` section holds the defaults, and every sink entry may
 * override any of them with the same key (`{ "type": "http", ..., "batchSize": 100 }`); the
 * `deadLetter` section says where what no sink accepted goes.
 */
import * as Schema from "effect/Schema"
import { durationBetween, durationField } from "../config/durations.ts"
import { intBetween, section, withDefault } from "../config/fields.ts"
import { RetryConfig } from "../common/RetryConfig.ts"

const BatchSize = intBetween(1, 100_000)
/** 1 KiB to 256 MiB: below that a batch would hold barely one event. */
const BatchBytes = intBetween(1024, 256 * 1024 * 1024)
const QueueSize = intBetween(1, 1_000_000)
/** Events wait in a batch at most this long: a longer window only delays them. */
const BatchWindowMax = "10m"

export const DeliveryConfig = Schema.Struct({
  /** Most events in one batch. */
  batchSize: BatchSize.pipe(withDefault(500)),
  /** Most bytes of events (JSON) in one batch; a single larger event still goes, alone. */
  batchBytes: BatchBytes.pipe(withDefault(1024 * 1024)),
  /** Longest a batch waits for more events after its first one. */
  batchWindow: durationField({ minimum: "1ms", maximum: BatchWindowMax, default: "1s" }),
  /** Events waiting for one sink; when full, collection waits for that sink (nothing is dropped). */
  queueSize: QueueSize.pipe(withDefault(5_000)),
  /** Attempts and backoff of one batch before it goes to the dead-letter file. */
  retry: RetryConfig.pipe(section)
})
export type DeliveryConfig = typeof DeliveryConfig.Type

/** The same settings on a sink entry, each optional: absent ones come from `delivery`. */
export const sinkDeliveryFields = {
  batchSize: Schema.optional(BatchSize),
  batchBytes: Schema.optional(BatchBytes),
  batchWindow: Schema.optional(durationBetween("1ms", BatchWindowMax)),
  queueSize: Schema.optional(QueueSize),
  /** Replaces `delivery.retry` as a whole; its absent fields take the usual defaults. */
  retry: Schema.optional(RetryConfig)
}

export const DeadLetterConfig = Schema.Struct({
  /** NDJSON file of events no sink accepted. */
  path: Schema.NonEmptyString.pipe(withDefault("dead-letter.ndjson"))
})
export type DeadLetterConfig = typeof DeadLetterConfig.Type
