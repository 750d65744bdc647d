/**
 * Where whatever could not be delivered goes, so that nothing is lost silently: one NDJSON
 * record per failed user (with the reason, so an operator can fix a permission) and per
 * failed sink batch (with its events, so they can be sent again). The file is created on the
 * first record only: an empty dead-letter file would look like a problem. It is opened for each
 * record rather than held open: `iam-ocsf replay` replaces the file (rename), and a record
 * written through a descriptor held from before would land in the replaced, unlinked file.
 * Whether it can be written is checked when a run starts, before the first AWS call: a record
 * that cannot be written stops the run, and finding that out half way would leave the sinks
 * with part of a snapshot and the log claiming a batch was dead-lettered.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Path from "effect/Path"
import * as Schema from "effect/Schema"
import * as Semaphore from "effect/Semaphore"
import { causeText } from "../common/causeText.ts"
import { RunFailed } from "../common/exit.ts"
import type { IamError } from "../iam/IamError.ts"
import type { Envelope, SinkError } from "./Sink.ts"

export class DeadLetterError extends Schema.TaggedError<DeadLetterError>()("DeadLetterError", {
  path: Schema.String,
  message: Schema.String
}) {}

export interface DeadLetterService {
  readonly path: string
  /** Fails when records could not be written (`checkWritable`): a run starts with it. */
  readonly check: Effect.Effect<void, DeadLetterError>
  readonly user: (userName: string, arn: string | undefined, error: IamError) => Effect.Effect<void, DeadLetterError>
  /** An account the run could not read (whole or in part): its role could not be assumed, its listing failed. */
  readonly account: (
    account: { readonly id: string; readonly name?: string | undefined },
    error: IamError
  ) => Effect.Effect<void, DeadLetterError>
  readonly batch: (sink: string, error: SinkError, batch: ReadonlyArray<Envelope>) => Effect.Effect<void, DeadLetterError>
}

export class DeadLetter extends Context.Service<DeadLetter, DeadLetterService>()("iam-ocsf/DeadLetter") {
  static readonly layer = (path: string) => Layer.effect(DeadLetter, make(path))
}

/**
 * Whether records could be written to `filePath`, without writing one: its folder is created,
 * then an existing file is opened for appending, or the folder is checked writable (the file is
 * created on the first record only).
 */
/**
 * A dead-letter file that cannot be written is a config to fix, found at start (a run, a daemon,
 * a worker) rather than at the first record: logged, and the start fails.
 */
export const deadLetterWritableAtStart = (filePath: string) =>
  checkWritable(filePath).pipe(
    Effect.catch((error) => Effect.logError(error.message).pipe(Effect.andThen(new RunFailed({ message: error.message }))))
  )

export const checkWritable = Effect.fnUntraced(function*(filePath: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const fail = (cause: unknown) =>
    new DeadLetterError({ path: filePath, message: `the dead-letter file ${filePath} cannot be written: ${causeText(cause)}` })
  const folder = path.dirname(filePath)
  yield* fs.makeDirectory(folder, { recursive: true }).pipe(Effect.mapError(fail))
  if (yield* fs.exists(filePath).pipe(Effect.mapError(fail))) {
    yield* Effect.scoped(fs.open(filePath, { flag: "a" })).pipe(Effect.mapError(fail))
  } else {
    yield* fs.access(folder, { writable: true }).pipe(Effect.mapError(fail))
  }
})

const encoder = new TextEncoder()

const make = Effect.fnUntraced(function*(filePath: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const lock = yield* Semaphore.make(1)
  const fail = (what: string) => (cause: unknown) =>
    new DeadLetterError({ path: filePath, message: `cannot ${what} ${filePath}: ${causeText(cause)}` })
  let folderMade = false

  // One record is one line written in one call, under a lock, then synced: records never interleave.
  const append = (line: string) =>
    lock.withPermits(1)(
      Effect.gen(function*() {
        if (!folderMade) {
          yield* fs.makeDirectory(path.dirname(filePath), { recursive: true }).pipe(
            Effect.mapError(fail("create the folder of"))
          )
          folderMade = true
        }
        const f = yield* fs.open(filePath, { flag: "a" }).pipe(Effect.mapError(fail("open")))
        yield* f.writeAll(encoder.encode(line + "\n")).pipe(Effect.mapError(fail("write")))
        yield* f.sync.pipe(Effect.mapError(fail("sync")))
      }).pipe(Effect.scoped)
    ).pipe(Effect.withSpan("deadLetter.write"))

  const now = () => new Date().toISOString()
  const errorJson = (error: IamError) => ({
    action: error.action,
    reason: error.reason._tag,
    code: error.reason.code,
    ...(error.reason.status === undefined ? {} : { status: error.reason.status }),
    message: error.reason.message
  })

  return DeadLetter.of({
    path: filePath,
    check: checkWritable(filePath).pipe(Effect.provideService(FileSystem.FileSystem, fs), Effect.provideService(Path.Path, path)),
    user: (userName, arn, error) =>
      append(JSON.stringify({
        kind: "user",
        time: now(),
        user: { UserName: userName, ...(arn === undefined ? {} : { Arn: arn }) },
        error: errorJson(error)
      })),
    account: (account, error) =>
      append(JSON.stringify({
        kind: "account",
        time: now(),
        account: { id: account.id, ...(account.name === undefined ? {} : { name: account.name }) },
        error: errorJson(error)
      })),
    batch: (sink, error, batch) =>
      // The events are already JSON: splice them in rather than parse and re-serialize them.
      append(
        JSON.stringify({
          kind: "batch",
          time: now(),
          sink,
          error: { message: error.message, retryable: error.retryable },
          count: batch.length
        })
          .slice(0, -1) + `,"events":[${batch.map((e) => e.json).join(",")}]}`
      )
  })
})
