/**
 * How a run is asked to stop without being interrupted: the daemon gives the signal on SIGTERM, and
 * the collection run reads it.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"

/**
 * Asked to stop (SIGTERM in the daemon): a run in progress stops taking new users and delivers
 * every event it has already produced, then ends as usual. Interrupting the run instead would
 * drop the events waiting in a partial batch. The default never fires.
 */
export const StopSignal = Context.Reference<{ readonly requested: Effect.Effect<void> }>("iam-ocsf/StopSignal", {
  defaultValue: () => ({ requested: Effect.never })
})
