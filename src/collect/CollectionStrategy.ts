import * as Schema from "effect/Schema"

/**
 * Which strategy collects the users. `per-user`: ListUsers, then seven calls a user (the
 * spec's minimal permissions). `bulk`: a handful of account-wide calls (`bulk.ts`). `auto`:
 * bulk, or per-user for the whole run when an action bulk needs is denied. Every strategy
 * yields the same events for the same account. A module of its own so that reading the config
 * does not load the collectors.
 */
export const CollectionStrategy = Schema.Literals(["per-user", "bulk", "auto"])
export type CollectionStrategy = typeof CollectionStrategy.Type
