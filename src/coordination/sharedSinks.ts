/**
 * The sinks and the dead-letter file that a worker's runs in flight share. A worker runs each
 * account's job as a run of its own, several at once, each started as soon as a slot is free;
 * they must not each open the same file sink (one run's repair of a partial last line, or its
 * cutting back of a failed write, would cut another run's batch being written) nor write to a
 * sink more batches at once than it admits. So the first run to start opens the sinks, the runs
 * that start while it goes on use them too, each sink's writes admitted `sink.concurrency` at a
 * time across all of them, and the last run to end closes them: between jobs nothing stays open,
 * as between a single process's runs.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { DeadLetter } from "../delivery/DeadLetter.ts"
import type { DeliveryTarget } from "../delivery/Delivery.ts"
import type { AppConfig } from "../run/AppConfig.ts"
import { acquireSinks } from "../sinks/acquire.ts"

/** What the runs in flight share: opened for `config`, the config of the first of them. */
export interface Shared {
  readonly config: AppConfig
  readonly targets: ReadonlyArray<DeliveryTarget>
  readonly deadLetter: Context.Context<DeadLetter>
}

interface Open extends Shared {
  readonly scope: Scope.Closeable
  users: number
}

/** Each sink's writes admitted at most `concurrency` at a time, whichever run they come from. */
const admitted = (target: DeliveryTarget) =>
  Semaphore.make(target.sink.concurrency ?? 1).pipe(
    Effect.map((gate): DeliveryTarget => ({
      ...target,
      sink: { ...target.sink, write: (batch) => gate.withPermits(1)(target.sink.write(batch)) }
    }))
  )

export const makeSharedSinks = Effect.gen(function*() {
  const lock = yield* Semaphore.make(1)
  let open: Open | undefined

  const acquire = (config: AppConfig) =>
    lock.withPermits(1)(Effect.gen(function*() {
      if (open !== undefined) {
        open.users += 1
        return open as Shared
      }
      const scope = yield* Scope.make()
      const opened = yield* Effect.gen(function*() {
        const targets = yield* acquireSinks(config).pipe(Effect.flatMap(Effect.forEach(admitted)))
        const deadLetter = yield* Layer.buildWithScope(DeadLetter.layer(config.deadLetter.path), scope)
        return { config, targets, deadLetter, scope, users: 1 } satisfies Open
      }).pipe(Scope.provide(scope), Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause))))
      open = opened
      return opened as Shared
    }))

  const release = lock.withPermits(1)(Effect.gen(function*() {
    if (open === undefined) return
    open.users -= 1
    if (open.users > 0) return
    const { scope } = open
    open = undefined
    yield* Scope.close(scope, Exit.void)
  }))

  return {
    /** `f` with the shared sinks, opened for `config` unless runs in flight opened them already. */
    use: <A, E, R>(config: AppConfig, f: (shared: Shared) => Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(acquire(config), f, () => release),
    /** The config the runs in flight opened the sinks for; undefined when none is in flight. */
    openFor: (): AppConfig | undefined => open?.config
  }
})
