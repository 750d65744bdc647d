/** NDJSON on standard output: for `npm start`, pipes (`| jq`), and collectors that read stdout. */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { commonSinkFields, defineSink, SinkError, toNdjson } from "../delivery/Sink.ts"

export default defineSink({
  type: "stdout",
  summary: "one JSON event per line on standard output",
  config: Schema.Struct({ type: Schema.Literal("stdout"), ...commonSinkFields }),
  make: (_config, name) =>
    Effect.succeed({
      name,
      write: (batch) =>
        Effect.callback<void, SinkError>((resume) => {
          // Waiting for the write callback is what gives a slow reader backpressure.
          process.stdout.write(toNdjson(batch), (err) =>
            resume(
              err
                ? Effect.fail(new SinkError({ sink: name, message: `stdout: ${err.message}`, retryable: false, cause: err }))
                : Effect.void
            ))
        })
    })
})
