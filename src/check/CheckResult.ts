/**
 * What `iam-ocsf check` (and `run` at start-up) finds: one result per check, `ok` (green),
 * `warn` (yellow: the run works, but not as configured, or something could not be verified) or
 * `fail` (red: the run would fail there), with what was found and, unless green, how to fix it;
 * and the two ways of printing the results, an aligned table (✓ ! ✗) or one JSON object.
 */

export type CheckStatus = "ok" | "warn" | "fail"

export interface CheckResult {
  /** What was checked: `credentials`, `iam:ListMFADevices`, `sink archive`, ... */
  readonly name: string
  /** The AWS account the check is about, when it is about one. */
  readonly account?: string | undefined
  readonly status: CheckStatus
  /** What was found: the answer, or the reason it failed. */
  readonly detail: string
  /** How to make it green; absent when it is. */
  readonly fix?: string | undefined
}

const result = (status: CheckStatus) => (name: string, detail: string, fix?: string, account?: string): CheckResult => ({
  name,
  ...(account === undefined ? {} : { account }),
  status,
  detail,
  ...(fix === undefined || status === "ok" ? {} : { fix })
})

export const ok = (name: string, detail: string, account?: string): CheckResult => result("ok")(name, detail, undefined, account)
export const warn = result("warn")
export const fail = result("fail")

export interface Tally {
  readonly ok: number
  readonly warn: number
  readonly fail: number
}

export const tally = (results: ReadonlyArray<CheckResult>): Tally => ({
  ok: results.filter((r) => r.status === "ok").length,
  warn: results.filter((r) => r.status === "warn").length,
  fail: results.filter((r) => r.status === "fail").length
})

const plural = (n: number, one: string, many: string = `${one}s`) => `${n} ${n === 1 ? one : many}`

/** `25 passed, 1 warning, 2 failed`. */
export const formatTally = (t: Tally): string =>
  `${t.ok} passed, ${plural(t.warn, "warning")}, ${t.fail} failed`

const MARK: Record<CheckStatus, string> = { ok: "✓", warn: "!", fail: "✗" }
const COLOR: Record<CheckStatus, string> = { ok: "\x1b[32m", warn: "\x1b[33m", fail: "\x1b[31m" }

/** A result as one line of text, without its mark: `account check: detail; fix: ...`. */
export const describeResult = (r: CheckResult): string =>
  `${r.account === undefined ? "" : `${r.account} `}${r.name}: ${r.detail}${r.fix === undefined ? "" : `; fix: ${r.fix}`}`

/**
 * One line per check, the account and the check in aligned columns, then the detail and the fix;
 * a last line with the counts. Coloured (green, yellow, red marks) when `colors`.
 */
export const formatTable = (results: ReadonlyArray<CheckResult>, colors: boolean): string => {
  const accountWidth = Math.max(0, ...results.map((r) => r.account?.length ?? 0))
  const nameWidth = Math.max(0, ...results.map((r) => r.name.length))
  const lines = results.map((r) => {
    const mark = colors ? `${COLOR[r.status]}${MARK[r.status]}\x1b[0m` : MARK[r.status]
    const account = accountWidth === 0 ? "" : `${(r.account ?? "").padEnd(accountWidth)}  `
    const fix = r.fix === undefined ? "" : ` → fix: ${r.fix}`
    return `${mark} ${account}${r.name.padEnd(nameWidth)}  ${r.detail}${fix}`
  })
  const t = tally(results)
  const verdict = t.fail === 0 ? "ready to run" : "not ready to run"
  return [...lines, "", `${formatTally(t)}: ${verdict}`].join("\n")
}

/** One JSON object: `{ ok, summary: { ok, warn, fail }, checks: [{ name, account?, status, detail, fix? }] }`. */
export const formatJson = (results: ReadonlyArray<CheckResult>): string => {
  const t = tally(results)
  return JSON.stringify({ ok: t.fail === 0, summary: t, checks: results })
}
