/**
 * NDJSON appended to a file. Each batch is one write of whole lines followed by an fsync, so
 * a reader (or a crash) never sees half an event and a delivered batch is on disk. The file
 * holds whole lines only, whatever fails: a write that fails part way (a full disk) is cut back
 * to where the batch began, and a file found ending in a partial line (a crash during a write)
 * is repaired when the sink opens it, before anything is appended to it.
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import * as Path from "effect/Path"
import * as Schema from "effect/Schema"
import { causeText } from "../common/causeText.ts"
import { commonSinkFields, defineSink, SinkError, toNdjson } from "../delivery/Sink.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** A last line longer than this is not read to see whether it is JSON: it is cut. */
const readableTail = 1024 * 1024

/**
 * Where the file's whole lines end, and what follows them: the bytes after the last newline,
 * read backwards in chunks so that a large file costs a few reads.
 */
const lastLineStart = (file: FileSystem.File, size: number) =>
  Effect.gen(function*() {
    let end = size
    while (end > 0) {
      const start = Math.max(0, end - 65536)
      yield* file.seek(BigInt(start), "start")
      const chunk = Option.getOrElse(yield* file.readAlloc(end - start), () => new Uint8Array(0))
      const newline = chunk.lastIndexOf(0x0a)
      if (newline >= 0) return start + newline + 1
      end = start
    }
    return 0
  })

/**
 * The decision for a file that does not end with a newline: a last line that is a whole JSON
 * value (someone else's file, written without a final newline) is ended with one; anything else
 * is half an event from a write that failed or a crash, and is cut. That half event was never
 * counted as delivered, so it is in the dead-letter file or in the next run's snapshot.
 */
const repairPartialLine = (fs: FileSystem.FileSystem, filePath: string) =>
  Effect.gen(function*() {
    const found = yield* Effect.scoped(Effect.gen(function*() {
      const file = yield* fs.open(filePath, { flag: "r" })
      const size = Number((yield* file.stat).size)
      const start = yield* lastLineStart(file, size)
      if (start === size || size - start > readableTail) return { size, start, whole: false }
      yield* file.seek(BigInt(start), "start")
      const tail = decoder.decode(Option.getOrElse(yield* file.readAlloc(size - start), () => new Uint8Array(0)))
      try {
        JSON.parse(tail)
        return { size, start, whole: true }
      } catch {
        return { size, start, whole: false }
      }
    }))
    const { size, start, whole } = found
    if (start === size) return undefined
    if (whole) {
      yield* fs.writeFile(filePath, encoder.encode("\n"), { flag: "a" })
      return `${filePath} ended in a JSON line without a newline; the newline was added`
    }
    yield* fs.truncate(filePath, start)
    return `${filePath} ended in ${size - start} bytes of a partial line (a write that failed, or a crash); ` +
      "they were cut back to the last whole line"
  })

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
    // Only a regular file keeps what was written: a device or a pipe (/dev/stdout) has no last
    // line to repair and nothing to cut back.
    const existing = yield* fs.stat(config.path).pipe(Effect.option)
    const regular = existing._tag === "None" || existing.value.type === "File"
    if (existing._tag === "Some" && regular) {
      const repaired = yield* repairPartialLine(fs, config.path).pipe(Effect.mapError(fail("cannot repair the last line of")))
      if (repaired !== undefined) yield* Effect.logWarning(`sink ${name}: ${repaired}`)
    }
    const file = yield* fs.open(config.path, { flag: "a" }).pipe(Effect.mapError(fail("cannot open")))
    // A device or a pipe has nothing to make durable, and fsync on one fails (EINVAL): every batch
    // to /dev/null would be retried, then dead-lettered.
    const sync = regular && (config.fsync ?? true)
    // Set when a failed write could not be cut back: the size to cut the file to before the next
    // write, so that no batch is ever appended to half a line.
    let cutBackTo: number | undefined

    const cutBack = (size: number) =>
      file.truncate(size).pipe(
        Effect.andThen(file.sync),
        Effect.tap(() => Effect.sync(() => void (cutBackTo = undefined))),
        Effect.tapError(() => Effect.sync(() => void (cutBackTo = size)))
      )

    const writeAndSync = (bytes: Uint8Array) =>
      file.writeAll(bytes).pipe(Effect.andThen(sync ? file.sync : Effect.void), Effect.mapError(fail("cannot write")))

    const write = (bytes: Uint8Array) =>
      Effect.gen(function*() {
        if (!regular) return yield* writeAndSync(bytes)
        if (cutBackTo !== undefined) {
          yield* cutBack(cutBackTo).pipe(Effect.mapError(fail("cannot cut back the partial last line of")))
        }
        const before = Number((yield* file.stat.pipe(Effect.mapError(fail("cannot stat")))).size)
        const written = yield* writeAndSync(bytes).pipe(Effect.exit)
        if (written._tag === "Success") return
        // The batch is retried or dead-lettered: none of it may stay, whole or half.
        yield* cutBack(before).pipe(
          Effect.catch((cause) =>
            Effect.logError(
              `sink ${name}: cannot cut ${config.path} back to its last whole line after a failed write ` +
                `(tried again before the next write): ${causeText(cause)}`
            )
          )
        )
        return yield* written
      })

    return {
      name,
      // Not cancelled half way by the shutdown deadline: a write and its cutting back belong together.
      write: (batch) => Effect.uninterruptible(write(encoder.encode(toNdjson(batch))))
    }
  })
})
