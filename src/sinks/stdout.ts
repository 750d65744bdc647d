/**
 * NDJSON on standard output: for `npm start`, pipes (`| jq`), and collectors that read stdout.
 * A failed write (the reader gone: EPIPE; a full disk: ENOSPC) is the batch's failure like any
 * sink's, dead-lettered, never an error that ends the process.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { commonSinkFields, defineSink, SinkError, toNdjson } from "../delivery/Sink.ts"

/**
 * The first error of stdout. Node's stdout stream stays failed after a write error (every later
 * write fails with the same error), and reports it as an `error` event besides the write's
 * callback: without a listener that event would end the process.
 */
let broken: (Error & { readonly code?: string }) | undefined
let listening = false

const listen = () => {
  if (listening) return
  listening = true
  process.stdout.on("error", (error) => void (broken ??= error))
}

const why = (error: Error & { readonly code?: string }): string =>
  error.code === "EPIPE"
    ? "the reader of standard output has gone away"
    : "standard output takes no more writes in this process"

const failure = (sink: string, error: Error & { readonly code?: string }) =>
  // Never retryable: Node's stdout stream does not recover from a failed write.
  new SinkError({ sink, message: `stdout: ${error.message} (${why(error)})`, retryable: false, cause: error })

export default defineSink({
  type: "stdout",
  summary: "one JSON event per line on standard output",
  config: Schema.Struct({ type: Schema.Literal("stdout"), ...commonSinkFields }),
  make: (_config, name) =>
    Effect.sync(() => {
      listen()
      return {
        name,
        write: (batch) =>
          Effect.callback<void, SinkError>((resume) => {
            if (broken !== undefined) return resume(Effect.fail(failure(name, broken)))
            // Waiting for the write callback is what gives a slow reader backpressure.
            process.stdout.write(toNdjson(batch), (err) => {
              if (err) broken ??= err
              resume(err ? Effect.fail(failure(name, err)) : Effect.void)
            })
          })
      }
    })
})
