/**
 * The account's credential report, as AWS keeps it: at most one, generated on request by
 * GenerateCredentialReport (which takes a while, answers STARTED, then INPROGRESS, then
 * COMPLETE, and does not regenerate a report younger than four hours), read by
 * GetCredentialReport as base64 CSV with AWS's columns and its special values: `N/A` (not
 * applicable), `no_information` (never used), `not_supported` (the root account's password).
 */
import type { Account, UserRecord } from "./account.ts"

/** The columns of AWS's report, in AWS's order. */
export const REPORT_COLUMNS = [
  "user",
  "arn",
  "user_creation_time",
  "password_enabled",
  "password_last_used",
  "password_last_changed",
  "password_next_rotation",
  "mfa_active",
  "access_key_1_active",
  "access_key_1_last_rotated",
  "access_key_1_last_used_date",
  "access_key_1_last_used_region",
  "access_key_1_last_used_service",
  "access_key_2_active",
  "access_key_2_last_rotated",
  "access_key_2_last_used_date",
  "access_key_2_last_used_region",
  "access_key_2_last_used_service",
  "cert_1_active",
  "cert_1_last_rotated",
  "cert_2_active",
  "cert_2_last_rotated"
] as const

/** AWS writes report times as `2020-06-04T10:00:00+00:00`. */
const reportTime = (iso: string): string => iso.replace(/(\.\d+)?Z$/, "+00:00")

const csvField = (s: string): string => /[",\r\n]/.test(s) ? `"${s.replaceAll("\"", "\"\"")}"` : s

const rootRow = (accountId: string): string => [
  "<root_account>", `arn:aws:iam::${accountId}:root`, "2015-01-01T00:00:00+00:00",
  "not_supported", "2025-08-01T12:00:00+00:00", "not_supported", "not_supported", "true",
  "false", "N/A", "N/A", "N/A", "N/A", "false", "N/A", "N/A", "N/A", "N/A", "false", "N/A", "false", "N/A"
].join(",")

/**
 * One user's row. Keys 1 and 2 are the user's first two keys, oldest first; a key's
 * `last_rotated` is when it was created, and its last use says N/A when it was never used, as
 * AWS's does. The certificates are the user's first two signing certificates.
 */
export const reportRow = (u: UserRecord): string => {
  const password = u.LoginProfile !== undefined
  const key = (i: number): string => {
    const k = u.AccessKeys[i]
    if (k === undefined) return "false,N/A,N/A,N/A,N/A"
    const used = k.LastUsed === undefined ? "N/A,N/A,N/A" : `${reportTime(k.LastUsed.Date)},${k.LastUsed.Region},${k.LastUsed.ServiceName}`
    return `${k.Status === "Active"},${reportTime(k.CreateDate)},${used}`
  }
  const certificate = (i: number): string => {
    const c = u.SigningCertificates[i]
    return c === undefined ? "false,N/A" : `${c.Status === "Active"},${reportTime(c.UploadDate)}`
  }
  return [
    csvField(u.UserName),
    csvField(u.Arn),
    reportTime(u.CreateDate),
    String(password),
    !password ? "N/A" : u.PasswordLastUsed === undefined ? "no_information" : reportTime(u.PasswordLastUsed),
    password ? reportTime(u.LoginProfile!.PasswordLastChanged ?? u.LoginProfile!.CreateDate) : "N/A",
    "N/A",
    String(u.MFADevices.length > 0),
    key(0),
    key(1),
    certificate(0),
    certificate(1)
  ].join(",")
}

/** The whole report, base64 as GetCredentialReport sends it; `omit`: users it does not list. */
export const reportContent = (account: Account, omit: ReadonlySet<string> = new Set()): string => {
  // Encoded in slices of whole 3-byte groups, so the pieces concatenate to one valid base64.
  const parts: Array<string> = []
  let pending = Buffer.alloc(0)
  let text = REPORT_COLUMNS.join(",") + "\n" + rootRow(account.accountId) + "\n"
  const flush = (final: boolean) => {
    const bytes = Buffer.concat([pending, Buffer.from(text, "utf8")])
    text = ""
    const whole = final ? bytes.length : bytes.length - (bytes.length % 3)
    parts.push(bytes.subarray(0, whole).toString("base64"))
    pending = Buffer.from(bytes.subarray(whole))
  }
  for (const u of account.users()) {
    if (omit.has(u.UserName)) continue
    text += reportRow(u) + "\n"
    if (text.length > 1 << 16) flush(false)
  }
  flush(true)
  return parts.join("")
}

export interface CredentialReportOptions {
  /** Age in milliseconds of the report the account has when the emulator starts; absent: none yet. */
  readonly ageMs?: number
  /** That report has expired: GetCredentialReport answers ReportExpired (410) until a new one is generated. */
  readonly expired?: boolean
  /** How long a generation takes, in milliseconds. Default 100. */
  readonly generationMs?: number
  /** The next N GenerateCredentialReport calls answer LimitExceeded (409). Default 0. */
  readonly limitExceeded?: number
  /** Users every report leaves out, as if created after it was generated. */
  readonly omitUsers?: ReadonlyArray<string>
}

/** AWS generates at most one report every four hours and hands back the last one meanwhile. */
export const REGENERATION_INTERVAL_MS = 4 * 3_600_000

export type GenerateAnswer =
  | { readonly _tag: "State"; readonly state: "STARTED" | "INPROGRESS" | "COMPLETE"; readonly description: string }
  | { readonly _tag: "LimitExceeded" }

export type GetAnswer =
  | { readonly _tag: "Report"; readonly content: string; readonly generatedAt: number }
  | { readonly _tag: "ReportNotPresent" | "ReportExpired" | "ReportInProgress" }

export interface CredentialReportState {
  generate(now: number): GenerateAnswer
  get(now: number): GetAnswer
  /** Replaces the account's report as if the emulator had just started with `options`. */
  set(options: CredentialReportOptions, now: number): void
  /**
   * Renders the report generated so far, if not yet rendered: called before the account is
   * changed, so that the report says what the account was when it was generated, as AWS's does.
   */
  freeze(now: number): void
}

export const makeCredentialReportState = (
  account: Account,
  initial: CredentialReportOptions,
  now: number
): CredentialReportState => {
  let generatedAt: number | undefined
  let expired = false
  let readyAt: number | undefined
  let generationMs = 100
  let limitExceeded = 0
  let content: { readonly at: number; readonly text: string } | undefined
  let omit: ReadonlySet<string> = new Set()

  const set = (options: CredentialReportOptions, at: number): void => {
    const check = (name: string, v: number | undefined) => {
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
        throw new RangeError(`credentialReport.${name} must be a non-negative number, got ${v}`)
      }
    }
    check("ageMs", options.ageMs)
    check("generationMs", options.generationMs)
    check("limitExceeded", options.limitExceeded)
    generatedAt = options.ageMs === undefined ? undefined : at - options.ageMs
    expired = options.expired ?? false
    readyAt = undefined
    generationMs = options.generationMs ?? 100
    limitExceeded = options.limitExceeded ?? 0
    omit = new Set(options.omitUsers ?? [])
    content = undefined
  }
  set(initial, now)

  const settle = (at: number): void => {
    if (readyAt !== undefined && at >= readyAt) {
      generatedAt = readyAt
      expired = false
      readyAt = undefined
    }
  }

  const render = (at: number): string => {
    if (content?.at === at) return content.text
    content = { at, text: reportContent(account, omit) }
    return content.text
  }

  return {
    set,
    freeze: (at) => {
      settle(at)
      if (generatedAt !== undefined && !expired) render(generatedAt)
    },
    generate: (at) => {
      settle(at)
      if (limitExceeded > 0) {
        limitExceeded -= 1
        return { _tag: "LimitExceeded" }
      }
      if (readyAt !== undefined) return { _tag: "State", state: "INPROGRESS", description: "Report generation in progress" }
      if (generatedAt !== undefined && !expired && at - generatedAt < REGENERATION_INTERVAL_MS) {
        return { _tag: "State", state: "COMPLETE", description: "Report is complete" }
      }
      readyAt = at + generationMs
      settle(at)
      return {
        _tag: "State",
        state: "STARTED",
        description: generatedAt === undefined
          ? "No report exists. Starting a new report generation task"
          : "Starting a new report generation task"
      }
    },
    get: (at) => {
      settle(at)
      if (readyAt !== undefined) return { _tag: "ReportInProgress" }
      if (generatedAt === undefined) return { _tag: "ReportNotPresent" }
      if (expired) return { _tag: "ReportExpired" }
      return { _tag: "Report", content: render(generatedAt), generatedAt }
    }
  }
}
