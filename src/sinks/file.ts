/**
 * NDJSON appended to a file. Each batch is one write of whole lines followed by an fsync, so
 * a reader (or a crash) never sees half an event and a delivered batch is on disk.
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Path from "effect/Path"
import * as Schema from "effect/Schema"
import { causeText } from "../common/causeText.ts"
import { commonSinkFields, defineSink, SinkError, toNdjson } from "../delivery/Sink.ts"

const encoder = new TextEncoder()

export default defineSink({
  type: "file",
  summary: "NDJSON appended to a file (the folder is created)",
  config: Schema.Struct({
    type: Schema.Literal("file"),
    ...commonSinkFields,
    /** Relative paths are resolved against the working directory. */
    path: Schema.NonEmptyString,
    /** fsync after every batch (default true); off trades durability for speed. */
    fsync: Schema.optional(Schema.Boolean)
  }),
  make: Effect.fnUntraced(function*(config, name) {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const fail = (what: string) => (cause: unknown) =>
      new SinkError({ sink: name, message: `${what} ${config.path}: ${causeText(cause)}`, retryable: true, cause })
    yield* fs.makeDirectory(path.dirname(config.path), { recursive: true }).pipe(
      Effect.mapError(fail("cannot create the folder of"))
    )
    const file = yield* fs.open(config.path, { flag: "a" }).pipe(Effect.mapError(fail("cannot open")))
    const sync = config.fsync ?? true
    return {
      name,
      write: (batch) =>
        file.writeAll(encoder.encode(toNdjson(batch))).pipe(
          Effect.andThen(sync ? file.sync : Effect.void),
          Effect.mapError(fail("cannot write"))
        )
    }
  })
})
