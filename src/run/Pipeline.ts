/**
 * The collection run as a pipeline, from the collector's users to the sinks' queues: the one place
 * where collection, mapping and delivery meet.
 */
import type * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Accounts } from "../accounts/Accounts.ts"
import type { AccountTarget } from "../accounts/discover.ts"
import { ownString } from "../common/ownString.ts"
import { collect, type CollectionOptions } from "../collect/strategy.ts"
import type { UserOutcome } from "../collect/users.ts"
import { DeadLetter, type DeadLetterError } from "../delivery/DeadLetter.ts"
import { type DeliveryTarget, deliverStream } from "../delivery/Delivery.ts"
import { Iam, type IamService } from "../iam/Iam.ts"
import { BadData, IamError } from "../iam/IamError.ts"
import {
  type AccountContext,
  changeMapperFor,
  eventKey,
  hasChangeEvents,
  mapperFor,
  needsAccessKeyIds,
  needsIdentity,
  type OcsfProfile
} from "../ocsf/index.ts"
import { type Detected, deletions, observeUser } from "../changes/detect.ts"
import { type Emission, emissionFor, type EmitSettings } from "../changes/emission.ts"
import type { IamUser } from "../iam/IamUser.ts"
import { type RunState, StateError, StateStore, type StateStoreService } from "../state/StateStore.ts"
import { Progress } from "../cli/progress.ts"
import { type AccountCounts, type AwsFigures, formatAccount, RunStats, type RunSummary } from "./RunStats.ts"
import type { Envelope } from "../delivery/Sink.ts"
import { StopSignal } from "./StopSignal.ts"
import { recordUser } from "../telemetry/metrics.ts"

export interface RunSettings {
  /** How users are collected; whether key ids are needed follows from the profile. */
  readonly collect: Omit<CollectionOptions, "accessKeyIds" | "identity">
  readonly profile: OcsfProfile
  /** Inventory, change events or both (`ocsf.emit`); changes need the `StateStore`. */
  readonly emit?: EmitSettings | undefined
  /** How often a long run logs its progress. */
  readonly progressEvery?: Duration.Duration
  /**
   * The accounts to read, instead of discovering them: a coordinated worker reads the accounts of
   * the jobs it took (`src/coordination/`).
   */
  readonly accounts?: ReadonlyArray<AccountTarget> | undefined
}

/**
 * What a run asks of one account's `Iam` service from now on: its counts and learned rate since
 * the account's collection started (in the daemon, the service lives across runs).
 */
const awsFiguresOf = (iam: IamService) => Effect.gen(function*() {
  const clock = yield* Clock.Clock
  const total = (calls: Readonly<Record<string, number>>) => Object.values(calls).reduce((n, c) => n + c, 0)
  const start = iam.counts()
  const startedAt = clock.currentTimeMillisUnsafe()
  const startRate = iam.requestRate(startedAt, true)
  return (): AwsFigures => {
    const now = clock.currentTimeMillisUnsafe()
    const counts = iam.counts()
    const rate = iam.requestRate(now)
    const seconds = (now - startedAt) / 1000
    return {
      calls: total(counts.calls) - total(start.calls),
      throttled: counts.throttled - start.throttled,
      retries: counts.retries - start.retries,
      rate: { mean: seconds > 0 ? (rate.integral - startRate.integral) / seconds : rate.now, peak: rate.peak }
    }
  }
})

/** Users a run that keeps state reads together from it (`RunState.readAhead`), at most. */
const STATE_CHUNK = 32
/** How long such a chunk waits for more users: a bound on the delay it adds to an event. */
const STATE_CHUNK_WAIT = Duration.millis(50)

/**
 * One collection run: users → enrichment → OCSF events → every sink's queue → batches. Users that
 * cannot be collected are dead-lettered with their reason and counted; they are never
 * emitted with guessed values. Memory is bounded by the page size, the concurrency and each
 * sink's queue and batch sizes, never by the number of users.
 */
export const runCollection = Effect.fn("collection run")(function*(
  settings: RunSettings,
  targets: ReadonlyArray<DeliveryTarget>
) {
  const deadLetter = yield* DeadLetter
  const accounts = yield* Accounts
  const stats = new RunStats(targets.map((t) => t.sink.name))
  const map = mapperFor(settings.profile)
  // What to read: a discovery that fails fails the run (it cannot know what it missed).
  const list = settings.accounts ?? (yield* accounts.discover)
  if (accounts.several) {
    yield* Effect.logInfo(`reading ${list.length} accounts, ${accounts.concurrency} at once: ${list.map((a) => a.id).join(", ")}`)
  }

  /** The event of one collected user, or undefined when its mapping failed (it is then dead-lettered). */
  const inventoryEvent = (account: AccountCounts | undefined, where: AccountContext, user: IamUser, collectedAt: Date) =>
    Effect.suspend(() => {
      try {
        const event = map(user, { collectedAt, account: where })
        return Effect.succeed<Envelope | undefined>({ key: ownString(eventKey(event)), json: JSON.stringify(event) })
      } catch (cause) {
        const error = new IamError({
          action: "MapToOcsf",
          userName: user.UserName,
          reason: new BadData({ code: "MappingFailed", message: String(cause) })
        })
        return failUser(account, user.UserName, user.Arn, error)
      }
    })

  /** One change as its event (class 3001). */
  const changeEvent = (detected: Detected, where: AccountContext, observedAt: Date): Envelope => {
    const event = changeMap!(detected.change, { observedAt, previous: detected.previous, current: detected.current, account: where })
    return { key: ownString(eventKey(event)), json: JSON.stringify(event) }
  }

  /**
   * One user's outcome → its events: the inventory event, the change events, or neither (its
   * dead-letter record); counted for the run and its account, and seen by the account's state.
   */
  const toEvents = (account: AccountCounts | undefined, where: AccountContext, tracked: Tracked | undefined) =>
  (outcome: UserOutcome): Effect.Effect<ReadonlyArray<Envelope>, DeadLetterError | StateError> => {
    stats.seen += 1
    switch (outcome._tag) {
      case "Vanished":
        stats.vanished += 1
        if (account !== undefined) account.vanished += 1
        return Effect.logInfo(`user ${outcome.userName} was deleted during the run; skipped`).pipe(Effect.as([]))
      case "Failed": {
        // The state keeps what it knew of the user; without its id, the run cannot say which that is.
        const keep = tracked === undefined
          ? Effect.void
          : outcome.userId === undefined
          ? Effect.sync(() => void (tracked.lossy = true))
          : tracked.run.keep(outcome.userId)
        return keep.pipe(Effect.andThen(failUser(account, outcome.userName, outcome.arn, outcome.error)), Effect.as([]))
      }
      case "Collected":
        return Effect.gen(function*() {
          const events: Array<Envelope> = []
          if (tracked === undefined || tracked.emission.snapshot) {
            const event = yield* inventoryEvent(account, where, outcome.user, outcome.collectedAt)
            if (event === undefined) {
              if (tracked !== undefined) yield* tracked.run.keep(outcome.user.UserId)
              return events
            }
            events.push(event)
          }
          if (tracked !== undefined) {
            const detected = yield* observeUser(tracked.run, outcome.user, outcome.reported)
            if (tracked.emission.changes) {
              for (const d of detected) events.push(changeEvent(d, where, outcome.collectedAt))
              tracked.changes += detected.length
            }
          }
          stats.collected += 1
          stats.emitted += events.length
          if (account !== undefined) account.collected += 1
          yield* recordUser("collected", account?.id)
          return events
        })
    }
  }

  /**
   * A chunk of outcomes (as the collector emits them: up to a few dozen users) → their events, as
   * one chunk. Element by element, each user would be an effect of the stream and each event a
   * chunk of its own down to the sinks' queues, and a span each: a third of a bulk run's time at
   * 10,000 users (measured: 2.05 s → 1.4 s). The users that failed or vanished are seen to first
   * (they have no event, and their dead-letter records are no mapping); the `ocsf.map` span then
   * covers and names the users mapped (in a run that keeps state, their staging and change
   * events too: `toEvents` does both for each user).
   */
  const chunkEvents = (account: AccountCounts | undefined, where: AccountContext, tracked: Tracked | undefined) => {
    const eventsOf = toEvents(account, where, tracked)
    return (chunk: ReadonlyArray<UserOutcome>): Effect.Effect<ReadonlyArray<Envelope>, DeadLetterError | StateError> =>
      Effect.suspend(() => {
        const collected: Array<UserOutcome & { readonly _tag: "Collected" }> = []
        const others: Array<UserOutcome> = []
        for (const o of chunk) (o._tag === "Collected" ? collected : others).push(o)
        // The state's side of the chunk's users in one read, not one each (`RunState.readAhead`);
        // a span of its own, so that a slow database does not pass for slow mapping.
        const readAhead = tracked === undefined || collected.length === 0
          ? Effect.void
          : tracked.run.readAhead(collected.map((o) => o.user.UserId)).pipe(
            Effect.withSpan("state.readAhead", { attributes: { "state.users": collected.length } }, { captureStackTrace: false })
          )
        const mapped = collected.length === 0 ? Effect.succeed([]) : Effect.forEach(collected, eventsOf).pipe(
          Effect.map((lists) => lists.length === 1 ? lists[0]! : lists.flat()),
          Effect.withSpan("ocsf.map", {
            attributes: { "ocsf.profile": settings.profile, "ocsf.users": collected.length, "aws.iam.users": collected.map((o) => o.user.UserName) }
          }, { captureStackTrace: false })
        )
        return Effect.forEach(others, eventsOf, { discard: true }).pipe(
          Effect.andThen(readAhead),
          Effect.andThen(mapped)
        )
      })
  }

  const failUser = (account: AccountCounts | undefined, userName: string, arn: string | undefined, error: IamError): Effect.Effect<undefined, DeadLetterError> => {
    stats.failed += 1
    if (account !== undefined) account.failed += 1
    return Effect.logWarning(`user ${userName} not collected: ${error.message}`).pipe(
      Effect.annotateLogs({
        ...(account === undefined ? {} : { account: account.id }),
        user: userName,
        action: error.action,
        reason: error.reason._tag,
        code: error.reason.code
      }),
      Effect.andThen(deadLetter.user(userName, arn, error)),
      Effect.andThen(recordUser("failed", account?.id)),
      Effect.as(undefined)
    )
  }

  /** An account that could not be read (whole or in part): its own record, and the run goes on. */
  const failAccount = (account: AccountCounts, error: IamError) => {
    account.status = "failed"
    account.error = error.message
    return Effect.logError(`account ${account.id}${account.name === undefined ? "" : ` (${account.name})`} not read: ${error.message}`).pipe(
      Effect.annotateLogs({ account: account.id, action: error.action, reason: error.reason._tag, code: error.reason.code }),
      Effect.andThen(deadLetter.account({ id: account.id, name: account.name }, error))
    )
  }

  const options = { ...settings.collect, accessKeyIds: needsAccessKeyIds(settings.profile), identity: needsIdentity(settings.profile) }
  const progress = yield* Progress
  const store = yield* Effect.serviceOption(StateStore)
  const changeMap = settings.emit !== undefined && settings.emit.emit !== "snapshot" && hasChangeEvents(settings.profile)
    ? changeMapperFor(settings.profile)
    : undefined

  /** The state of one account in this run, when change events are asked for. */
  interface Tracked {
    readonly accountId: string
    readonly run: RunState
    readonly emission: Emission
    /** The listing was read to its end (not failed, not stopped): only then are deletions inferred. */
    listingComplete: boolean
    /** A user failed whose id the run does not know: the state cannot be complete. */
    lossy: boolean
    changes: number
  }
  const tracked: Array<Tracked> = []
  const runStartedAt = new Date()
  const runScope = yield* Effect.scope

  /** Starts the account's run in the state store and decides what it sends (`emissionFor`). */
  const track = (target: AccountTarget, store: StateStoreService, emit: EmitSettings) =>
    Effect.gen(function*() {
      const accountId = yield* accounts.idOf(target)
      const run = yield* store.beginRun(accountId).pipe(Scope.provide(runScope))
      const emission = emissionFor(emit, run, runStartedAt)
      if (emission.baseline) {
        yield* Effect.logInfo(`account ${accountId}: no complete run recorded yet; this run records the baseline and sends the full inventory (no change events this time)`)
      }
      const t: Tracked = { accountId, run, emission, listingComplete: false, lossy: false, changes: 0 }
      tracked.push(t)
      return t
    })

  /** One account's users as events: with its own IAM service (its door, rate and credentials). */
  const accountEvents = (target: AccountTarget): Stream.Stream<Envelope, IamError | DeadLetterError | StateError> => {
    const counts = target.id === undefined ? undefined : stats.account(target.id, target.name)
    const where: AccountContext = { name: target.name, organizationId: target.organizationId }
    const events = Stream.unwrap(Effect.gen(function*() {
      const iam = yield* accounts.open(target)
      const figures = yield* awsFiguresOf(iam)
      if (counts === undefined) stats.aws = figures
      else counts.aws = figures
      if (progress.estimates) {
        // Only an estimate: users come and go during the run, and the call may not be permitted.
        yield* iam.accountSummary.pipe(
          Effect.tap((summary) => Effect.sync(() => void (stats.estimatedUsers = (stats.estimatedUsers ?? 0) + (summary["Users"] ?? 0)))),
          Effect.catch((error) => Effect.logDebug(`no estimate of the total: ${error.message}`)),
          Effect.forkChild
        )
      }
      const t = Option.isSome(store) && settings.emit !== undefined && settings.emit.emit !== "snapshot"
        ? yield* track(target, store.value, settings.emit)
        : undefined
      const users = collect(options).pipe(
        Stream.provideService(Iam, iam),
        // The users that needed calls come one by one (bulk's key listings, every user of
        // per-user): a run that keeps state gathers them, so that its reads stay one a chunk.
        (collected): Stream.Stream<ReadonlyArray<UserOutcome>, IamError> =>
          t === undefined ? Stream.chunks(collected) : Stream.groupedWithin(collected, STATE_CHUNK, STATE_CHUNK_WAIT),
        Stream.mapEffect(chunkEvents(counts, where, t)),
        Stream.filter((events): events is Arr.NonEmptyReadonlyArray<Envelope> => events.length > 0),
        Stream.flattenArray,
        Stream.onEnd(Effect.sync(() => {
          if (counts !== undefined && counts.status === "reading") counts.status = "complete"
          if (t !== undefined) t.listingComplete = true
        }))
      )
      if (t === undefined || !t.emission.changes) return users
      // After the whole listing, the users the last complete run saw and this one did not are gone.
      return Stream.concat(
        users,
        Stream.unwrap(Effect.sync(() =>
          t.listingComplete && !t.lossy
            ? deletions(t.run).pipe(Stream.map((d) => {
              t.changes += 1
              stats.emitted += 1
              return changeEvent(d, where, runStartedAt)
            }))
            : Stream.empty
        ))
      )
    }))
    if (counts === undefined) return events
    // Several accounts: one account's failure is its own; the others are read on.
    return events.pipe(
      Stream.catchTag("IamError", (error) => Stream.fromEffectDrain(failAccount(counts, error))),
      Stream.withSpan("account", { attributes: { "aws.account.id": counts.id } })
    )
  }

  const reporting = yield* progress.report(stats, settings.progressEvery ?? Duration.seconds(10)).pipe(Effect.forkChild)
  const stop = yield* StopSignal

  yield* deliverStream(
    Stream.fromIterable(list).pipe(
      Stream.flatMap(accountEvents, { concurrency: accounts.concurrency }),
      // On SIGTERM no new user is taken; the events already made are still delivered.
      Stream.interruptWhen(stop.requested.pipe(Effect.andThen(Effect.sync(() => void (stats.stopped = true)))))
    ),
    targets,
    stats,
    stop.deadline
  )
  yield* Fiber.interrupt(reporting)

  // Every event was delivered or dead-lettered (dead letters stay replayable): the state may now
  // say so. A run that dies before this line leaves the state as it was, and the next run finds
  // the same changes again (at least once, never zero).
  for (const t of tracked) {
    const complete = t.listingComplete && !t.lossy && !stats.stopped
    const committing = performance.now()
    const committed = yield* t.run.commit({ complete, at: runStartedAt, snapshot: t.emission.snapshot }).pipe(
      // A worker's run whose job was taken back: that account's failure, not the run's (the
      // accounts of the other jobs still commit). Its events went out: the new holder of the
      // account sends them again, the documented at-least-once repeat.
      Effect.map((summary) => summary as typeof summary | undefined),
      Effect.catchIf((error) => error.reason === "Fenced", (error) => {
        const counts = stats.accounts.get(t.accountId) ?? stats.account(t.accountId, undefined)
        counts.status = "failed"
        counts.error = error.message
        return Effect.logError(error.message).pipe(Effect.annotateLogs({ account: t.accountId }), Effect.as(undefined))
      })
    )
    if (committed === undefined) continue
    const written = committed
    const seconds = (performance.now() - committing) / 1000
    yield* Effect.logInfo(
      `account ${t.accountId}: state recorded in ${seconds.toFixed(2)}s (${written.written} users written, ${written.removed} removed` +
        `${t.emission.changes ? `, ${t.changes} change events` : ""}${complete ? "" : "; incomplete: no deletion inferred"})`
    )
  }

  const summary: RunSummary = stats.summary()
  if (accounts.several) {
    for (const account of summary.accounts) {
      const line = formatAccount(account)
      yield* account.status === "complete" ? Effect.logInfo(line) : Effect.logWarning(line)
    }
  }
  yield* Effect.annotateCurrentSpan({ "users.collected": summary.collected, "users.failed": summary.failed })
  return summary
})
