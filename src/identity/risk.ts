/**
 * How risky a user is, by a table of rules: pure, and the table is the README's ("Risk"), row for
 * row. Each rule that holds adds its points to `risk_score` (at most 100); `risk_level_id` is the
 * highest level among the rules that hold (0 "Info" when none does); each event lists the rules it
 * hit. Times are measured back from `now`, the moment the user was collected (the event's `time`),
 * so the same data collected on the same day gives the same risk whichever strategy read it.
 */

/** OCSF 1.6.0 risk levels (`risk_level_id` → `risk_level`). */
export const RISK_LEVELS = ["Info", "Low", "Medium", "High", "Critical"] as const
export type RiskLevelId = 0 | 1 | 2 | 3 | 4
export type RiskLevel = (typeof RISK_LEVELS)[number]

/** What the rules read, whichever strategy collected it. */
export interface RiskFacts {
  /** `user.type_id` 2 (`admin.ts`). */
  readonly admin: boolean
  readonly mfa: boolean
  readonly consolePassword: boolean
  /** null: never used. */
  readonly passwordLastUsed: Date | null
  readonly userCreated: Date
  readonly accessKeys: ReadonlyArray<{ readonly active: boolean; readonly created: Date; readonly lastUsed: Date | null }>
  readonly signingCertificates: ReadonlyArray<{ readonly active: boolean }>
}

const DAY = 86_400_000
/** How long a credential may sit idle, or an access key live, before a rule holds (CIS and AWS advise 90 days). */
const STALE_DAYS = 90

const olderThan = (d: Date, now: Date, days: number) => now.getTime() - d.getTime() > days * DAY

const activeKeys = (f: RiskFacts) => f.accessKeys.filter((k) => k.active)

export interface RiskRule {
  /** The name the events list (`unmapped.user.risk_rules`). */
  readonly id: string
  readonly level: Exclude<RiskLevelId, 0>
  readonly points: number
  readonly holds: (f: RiskFacts, now: Date) => boolean
}

/** The README's table, in its order (the order the events list the rules in). */
export const RISK_RULES: ReadonlyArray<RiskRule> = [
  { id: "admin_without_mfa", level: 4, points: 40, holds: (f) => f.admin && !f.mfa },
  { id: "console_without_mfa", level: 3, points: 25, holds: (f) => f.consolePassword && !f.mfa },
  { id: "admin_with_active_access_key", level: 3, points: 20, holds: (f) => f.admin && activeKeys(f).length > 0 },
  { id: "admin", level: 2, points: 10, holds: (f) => f.admin },
  {
    id: "access_key_unused_90d",
    level: 2,
    points: 10,
    // never used: idle since it was created
    holds: (f, now) => activeKeys(f).some((k) => olderThan(k.lastUsed ?? k.created, now, STALE_DAYS))
  },
  {
    id: "console_password_unused_90d",
    level: 2,
    points: 10,
    // never used: idle since the user was created (neither strategy knows when the password was set)
    holds: (f, now) => f.consolePassword && olderThan(f.passwordLastUsed ?? f.userCreated, now, STALE_DAYS)
  },
  { id: "access_key_older_than_90d", level: 1, points: 5, holds: (f, now) => activeKeys(f).some((k) => olderThan(k.created, now, STALE_DAYS)) },
  { id: "two_active_access_keys", level: 1, points: 5, holds: (f) => activeKeys(f).length >= 2 },
  { id: "active_signing_certificate", level: 1, points: 5, holds: (f) => f.signingCertificates.some((c) => c.active) }
]

export interface Risk {
  readonly levelId: RiskLevelId
  readonly level: RiskLevel
  /** The points of the rules that hold, at most 100. */
  readonly score: number
  /** Ids of the rules that hold, in the table's order. */
  readonly rules: ReadonlyArray<string>
}

export const riskOf = (facts: RiskFacts, now: Date): Risk => {
  const hit = RISK_RULES.filter((r) => r.holds(facts, now))
  const levelId = hit.reduce<RiskLevelId>((max, r) => (r.level > max ? r.level : max), 0)
  return {
    levelId,
    level: RISK_LEVELS[levelId],
    score: Math.min(100, hit.reduce((sum, r) => sum + r.points, 0)),
    rules: hit.map((r) => r.id)
  }
}
