/**
 * The `coordination` section of the config file: several `iam-ocsf run` daemons share the accounts
 * of an organization through one PostgreSQL (its pg-boss job queue and the state store). Absent,
 * a daemon reads every account itself, as one process does. `postgres` is a secret (its URL
 * holds the password): a plain string in the file, usually `${DATABASE_URL}`, `Redacted` once read.
 */
import * as Schema from "effect/Schema"
import { durationField } from "../config/durations.ts"
import { intBetween, withDefault, withoutCredentials } from "../config/fields.ts"

const expected = `a PostgreSQL URL like "postgres://iam_ocsf:PASSWORD@db.example.com:5432/iam_ocsf"`

/** A PostgreSQL connection URL; a problem line never shows its password. */
const PostgresUrl = Schema.String.check(Schema.makeFilter((text: string) => {
  const found = `found ${JSON.stringify(withoutCredentials(text))}`
  if (!URL.canParse(text)) return `expected ${expected}; ${found}`
  const url = new URL(text)
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    return `expected ${expected} (scheme postgres: or postgresql:); ${found}`
  }
  if (url.hostname === "" && !url.searchParams.has("host")) return `expected ${expected} naming a host; ${found}`
  return undefined
}, { expected }))

export const CoordinationConfig = Schema.Struct({
  /** The database: a `postgres://` URL, secret. */
  postgres: Schema.RedactedFromValue(PostgresUrl),
  /**
   * How often a worker says it still holds its jobs: a job not heard of for this long (its worker
   * killed, cut off or frozen) is given to another worker.
   */
  heartbeat: durationField({ minimum: "10s", maximum: "10m", default: "30s" }),
  /** The longest one account's collection may take, heartbeats or not: after it, the job is taken back. */
  jobTimeout: durationField({ minimum: "1m", maximum: "24h", default: "6h" }),
  /** How often an idle worker asks for jobs. */
  pollInterval: durationField({ minimum: "1s", maximum: "1m", default: "2s" }),
  /**
   * How often a failed job is tried again (an account read in part, or taken back from a worker
   * that lost it) before it stays failed until the account is next due.
   */
  retryLimit: intBetween(0, 100).pipe(withDefault(2)),
  /** How long a failed job waits before it is tried again (pg-boss counts whole seconds). */
  retryDelay: durationField({ minimum: "0s", maximum: "1h", default: "5s" })
})
export type CoordinationConfig = typeof CoordinationConfig.Type
