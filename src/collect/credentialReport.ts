/**
 * The account's credential report: reused while younger than the configured age, otherwise
 * generated (GenerateCredentialReport, then GetCredentialReport polled while it answers
 * ReportInProgress); read line by line as it downloads. AWS generates at most one report every
 * four hours and hands back the last one meanwhile, so a report may come back older than asked
 * for: it is used, and its age said.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { type CredentialReport, Iam } from "../iam/Iam.ts"
import { BadData, IamError, Pending } from "../iam/IamError.ts"
import { ownString } from "../common/ownString.ts"
import { recordReportAge } from "../telemetry/metrics.ts"

/** One user's row, as far as a collection needs it. `null`: the report said N/A, no_information or not_supported. */
export interface ReportRow {
  readonly passwordEnabled: boolean | null
  readonly mfaActive: boolean | null
  /** Keys 1 and 2 that are Active; null when either cell is not a plain true/false. */
  readonly activeKeys: number | null
  /**
   * Whether the user has an access key at all, active or not; null when the report does not
   * say for certain (see `keySlot`).
   */
  readonly hasKeys: boolean | null
}

/** The longest wait for AWS to generate a report before the run gives up. */
const GENERATION_LIMIT = Duration.minutes(5)
/** Polls start after this and double up to `POLL_MAX`: a small account's report is ready in a second. */
const POLL_FIRST_MS = 100
const POLL_MAX_MS = 2_000

const isMissing = (e: IamError) => e.reason._tag === "NotFound"
const isPending = (e: IamError) => e.reason._tag === "Pending"

const tooSlow = (action: string) =>
  new IamError({
    action,
    reason: new Pending({
      code: "ReportGenerationTimeout",
      message: `the credential report was still being generated after ${Duration.format(GENERATION_LIMIT)}`
    })
  })

/**
 * Repeats `step` until it returns a value, waiting longer between tries, up to the limit.
 * Not the retry policy: nothing failed, AWS said "not yet".
 */
const poll = <A>(action: string, step: Effect.Effect<A | undefined, IamError, Iam>) =>
  Effect.gen(function*() {
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(GENERATION_LIMIT)
    for (let delay = POLL_FIRST_MS;; delay = Math.min(POLL_MAX_MS, delay * 2)) {
      const result = yield* step
      if (result !== undefined) return result
      if ((yield* Clock.currentTimeMillis) + delay > deadline) return yield* Effect.fail(tooSlow(action))
      yield* Effect.sleep(delay)
    }
  })

/** The rows of one report, by user name, packed (`packRow`): about 100 bytes a user with its key. */
export type ReportRows = Map<string, number>

interface Downloaded {
  readonly report: CredentialReport
  readonly rows: ReportRows
  readonly identity: ReportIdentityRows
}

/**
 * The report, fresh enough or regenerated, read into `ReportRows`; logs its age and sets the
 * age gauge. A downloaded report turns out stale only once read (GeneratedTime follows the
 * content), so each download reads into a map of its own and a stale one is dropped whole.
 */
export const fetchCredentialReport = Effect.fn("credential report")(function*(maxAge: Duration.Duration, withIdentity = false) {
  const iam = yield* Iam
  const download = Effect.suspend(() => {
    const reader = reportReader(withIdentity)
    return iam.getCredentialReport(reader.line).pipe(
      Effect.flatMap((report) => Effect.map(reader.done, (rows): Downloaded => ({ report, rows, identity: reader.identity })))
    )
  })
  const ageOf = (report: CredentialReport, now: number) => now - report.generatedAt.getTime()

  let got = yield* download.pipe(
    Effect.map((r): Downloaded | undefined => r),
    // None yet, expired, or one being generated: all are answered by generating (or joining) one.
    Effect.catchIf((e) => isMissing(e) || isPending(e), () => Effect.succeed(undefined))
  )
  let how = "reused"
  if (got === undefined || ageOf(got.report, yield* Clock.currentTimeMillis) >= Duration.toMillis(maxAge)) {
    got = undefined
    how = "newly generated"
    // Started (or under way, or done): from here the download says when the report is ready.
    yield* poll(
      "GenerateCredentialReport",
      iam.generateCredentialReport.pipe(
        Effect.map((state): string | undefined => state),
        // LimitExceeded: too many generations at once; ask again in a while.
        Effect.catchIf(isPending, () => Effect.succeed(undefined))
      )
    )
    got = yield* poll(
      "GetCredentialReport",
      download.pipe(
        Effect.map((r): Downloaded | undefined => r),
        // ReportInProgress, or not there yet just after the generation started.
        Effect.catchIf((e) => isPending(e) || isMissing(e), () => Effect.succeed(undefined))
      )
    )
  }
  const { report, rows, identity } = got

  const ageMs = Math.max(0, ageOf(report, yield* Clock.currentTimeMillis))
  yield* recordReportAge(ageMs)
  const age = Duration.format(Duration.millis(Math.round(ageMs / 1000) * 1000))
  yield* Effect.annotateCurrentSpan({
    "credential_report.age_seconds": ageMs / 1000,
    "credential_report.source": how,
    "credential_report.users": rows.size
  })
  if (ageMs >= Duration.toMillis(maxAge)) {
    yield* Effect.logWarning(
      `the credential report is ${age} old, older than collection.maxCredentialReportAge ` +
        `(${Duration.format(maxAge)}): AWS generates at most one every 4 hours and returned the last one`
    )
  } else {
    yield* Effect.logInfo(`credential report ${how}: generated at ${report.generatedAt.toISOString()}, ${age} old`)
  }
  return { rows, ageMs, generatedAt: report.generatedAt, identity }
})

// ---------------------------------------------------------------------------------------
// Reading

const REQUIRED = ["user", "password_enabled", "mfa_active", "access_key_1_active", "access_key_2_active"] as const
/** Read when present: without them, whether a user has keys is not certain. */
const OPTIONAL = ["access_key_1_last_rotated", "access_key_2_last_rotated"] as const
/**
 * What the strict profiles read beyond that (`ReportIdentity`), kept as the report wrote it, one
 * string a user, only when asked for: a cell that is missing reads as "not said".
 */
const IDENTITY = [
  "password_last_changed",
  "access_key_1_last_rotated",
  "access_key_1_last_used_date",
  "access_key_1_last_used_region",
  "access_key_1_last_used_service",
  "access_key_2_last_rotated",
  "access_key_2_last_used_date",
  "access_key_2_last_used_region",
  "access_key_2_last_used_service",
  "cert_1_active",
  "cert_1_last_rotated",
  "cert_2_active",
  "cert_2_last_rotated"
] as const
type Columns = Record<(typeof REQUIRED)[number] | (typeof OPTIONAL)[number] | (typeof IDENTITY)[number], number>

/** One user's identity cells (`IDENTITY`), joined by a character no cell holds. */
export type ReportIdentityRows = Map<string, string>
const SEPARATOR = "\u0001"

/** One access key slot of the report: when the key was created (or rotated) and last used. */
interface ReportKeySlot {
  /** Epoch ms; null: the report gives no time (no key in the slot, or a cell not a time). */
  readonly created: number | null
  /** Epoch ms; null: never used (N/A); undefined: the report does not say for certain. */
  readonly lastUsed: number | null | undefined
  readonly region: string | undefined
  readonly service: string | undefined
}

/** What a user's identity cells say (`readReportIdentity`). */
export interface ReportIdentity {
  /** Epoch ms; null: no password (N/A); undefined: the report does not say for certain. */
  readonly passwordLastChanged: number | null | undefined
  readonly keys: readonly [ReportKeySlot, ReportKeySlot]
  /** Whether the user has a signing certificate: null when the report does not say for certain. */
  readonly hasCertificates: boolean | null
}

const reportTime = (cell: string | undefined): number | undefined =>
  cell !== undefined && REPORT_TIME.test(cell) ? Date.parse(cell) : undefined

/** A region or service cell: N/A (or anything empty) is not one. */
/** What AWS writes for "none" (`N/A`, or nothing) is no value. */
export const named = (cell: string | undefined): string | undefined => cell === undefined || cell === "" || cell === "N/A" ? undefined : cell

export const readReportIdentity = (cells: string): ReportIdentity => {
  const c = cells.split(SEPARATOR)
  const cell = (name: (typeof IDENTITY)[number]) => c[IDENTITY.indexOf(name)]
  const slot = (n: 1 | 2): ReportKeySlot => {
    const used = cell(`access_key_${n}_last_used_date`)
    return {
      created: reportTime(cell(`access_key_${n}_last_rotated`)) ?? null,
      lastUsed: used === "N/A" ? null : reportTime(used),
      region: named(cell(`access_key_${n}_last_used_region`)),
      service: named(cell(`access_key_${n}_last_used_service`))
    }
  }
  const changed = cell("password_last_changed")
  const cert1 = keySlot(cell("cert_1_active"), cell("cert_1_last_rotated"))
  const cert2 = keySlot(cell("cert_2_active"), cell("cert_2_last_rotated"))
  return {
    passwordLastChanged: changed === "N/A" ? null : reportTime(changed),
    keys: [slot(1), slot(2)],
    hasCertificates: cert1 === true || cert2 === true ? true : cert1 === false && cert2 === false ? false : null
  }
}

const badReport = (message: string) =>
  new IamError({ action: "GetCredentialReport", reason: new BadData({ code: "BadCredentialReport", message }) })

/** true/false as AWS writes them (lower case, documented in upper case); anything else is unknown. */
const flag = (cell: string | undefined): boolean | null => {
  switch (cell) {
    case "true":
    case "TRUE":
      return true
    case "false":
    case "FALSE":
      return false
    default:
      // N/A, no_information, not_supported, or something new: not a false.
      return null
  }
}

/** A report time, as AWS writes them: `2020-06-04T10:00:00+00:00`. */
const REPORT_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

/**
 * Whether the report shows a key in one of its two slots: `true` when it is active, or
 * inactive with the time it was created or rotated; `false` when it is not active and that
 * time is `N/A` (AWS writes no time for a slot without a key); `null` for anything else.
 */
const keySlot = (active: string | undefined, lastRotated: string | undefined): boolean | null => {
  const isActive = flag(active)
  if (isActive === true) return true
  if (isActive === null || lastRotated === undefined) return null
  return lastRotated === "N/A" ? false : REPORT_TIME.test(lastRotated) ? true : null
}

/** One CSV line (RFC 4180 quoting; IAM names may hold commas but never line breaks). */
export const csvFields = (line: string): Array<string> => {
  const fields: Array<string> = []
  let i = 0
  while (i <= line.length) {
    if (line[i] === "\"") {
      let value = ""
      i += 1
      while (i < line.length) {
        const c = line[i]!
        if (c === "\"") {
          if (line[i + 1] === "\"") {
            value += "\""
            i += 2
            continue
          }
          i += 1
          break
        }
        value += c
        i += 1
      }
      fields.push(value)
      i += 1 // the comma (or past the end)
    } else {
      const comma = line.indexOf(",", i)
      const end = comma < 0 ? line.length : comma
      fields.push(line.slice(i, end))
      i = end + 1
    }
  }
  return fields
}

/** A row in one small integer: two bits each for password, MFA, the number of active keys and whether there are keys. */
export const packRow = (row: ReportRow): number =>
  tri(row.passwordEnabled) | (tri(row.mfaActive) << 2) | ((row.activeKeys === null ? 0 : row.activeKeys + 1) << 4) |
  (tri(row.hasKeys) << 6)

export const unpackRow = (packed: number): ReportRow => {
  const keys = (packed >> 4) & 3
  return {
    passwordEnabled: untri(packed & 3),
    mfaActive: untri((packed >> 2) & 3),
    activeKeys: keys === 0 ? null : keys - 1,
    hasKeys: untri((packed >> 6) & 3)
  }
}

const tri = (b: boolean | null): number => b === null ? 0 : b ? 2 : 1
const untri = (n: number): boolean | null => n === 0 ? null : n === 2

/**
 * Reads the report one line at a time, as `Iam.getCredentialReport` hands them over, into
 * `ReportRows`. The root account's row is skipped (it is no IAM user). The header line seen
 * again starts the rows over, so that a download retried from its first line reads the same.
 */
export const reportReader = (withIdentity = false) => {
  const rows: ReportRows = new Map()
  const identity: ReportIdentityRows = new Map()
  let header: string | undefined
  let columns: Columns | undefined
  let problem: string | undefined
  return {
    line: (line: string): void => {
      if (line === "" || problem !== undefined) return
      if (header === line) {
        rows.clear()
        identity.clear()
        return
      }
      const fields = csvFields(line)
      if (columns === undefined) {
        const missing = REQUIRED.filter((c) => !fields.includes(c))
        if (missing.length > 0) problem = `the report has no column ${missing.join(", ")}`
        header = line
        columns = Object.fromEntries([...REQUIRED, ...OPTIONAL, ...IDENTITY].map((c) => [c, fields.indexOf(c)])) as Columns
        return
      }
      const user = fields[columns.user]
      if (user === undefined || user === "" || user === "<root_account>") return
      const key1 = flag(fields[columns.access_key_1_active])
      const key2 = flag(fields[columns.access_key_2_active])
      const slot1 = keySlot(fields[columns.access_key_1_active], fields[columns.access_key_1_last_rotated])
      const slot2 = keySlot(fields[columns.access_key_2_active], fields[columns.access_key_2_last_rotated])
      rows.set(ownString(user), packRow({
        passwordEnabled: flag(fields[columns.password_enabled]),
        mfaActive: flag(fields[columns.mfa_active]),
        activeKeys: key1 === null || key2 === null ? null : Number(key1) + Number(key2),
        hasKeys: slot1 === true || slot2 === true ? true : slot1 === false && slot2 === false ? false : null
      }))
      if (withIdentity) {
        const c = columns
        identity.set(ownString(user), IDENTITY.map((name) => fields[c[name]] ?? "").join(SEPARATOR))
      }
    },
    /** Each user's identity cells (`readReportIdentity`); empty unless asked for. */
    identity,
    /** The rows, or BadData when the report could not be read. */
    done: Effect.suspend((): Effect.Effect<ReportRows, IamError> =>
      problem !== undefined
        ? Effect.fail(badReport(problem))
        : columns === undefined
        ? Effect.fail(badReport("the report is empty"))
        : Effect.succeed(rows)
    )
  }
}
