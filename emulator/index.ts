/**
 * The IAM Query-protocol emulator: tests, benchmarks and the `npm run emulator` demo point
 * `@aws-sdk/client-iam` at it (`endpoint: emulator.url`); with `organization`, also
 * `@aws-sdk/client-sts` and `@aws-sdk/client-organizations`, at the same URL.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type Emulator, type EmulatorOptions, startEmulator } from "./server.ts"

export {
  ACCOUNT_ID,
  type Account,
  type AccountOptions,
  CALLER_USER,
  CALLER_USER_NAME,
  type ExpectedUserJson,
  generateUser,
  makeAccount,
  SPEC_USERS,
  toExpectedJson,
  type UserRecord
} from "./account.ts"
export {
  ACTIONS,
  type ActionFaults,
  type Counters,
  type Faults,
  type IamAction,
  type Outcome,
  type OutcomeCounts
} from "./faults.ts"
export type { CredentialReportOptions } from "./credentialReport.ts"
export {
  type AccountSettings,
  type AccountStatus,
  DEFAULT_ROLE_NAME,
  MANAGEMENT_ACCOUNT_ID,
  memberAccountId,
  type OrganizationalUnitOptions,
  type OrganizationOptions,
  type OrganizationsFaults,
  type OrgUnit,
  type SessionLifetime
} from "./organization.ts"
export type { Collection, Overlap, OverlapRecord } from "./overlap.ts"
export type { EmulatorAccount, EmulatorOrganization, Service } from "./routing.ts"
export { type Emulator, type EmulatorOptions, startEmulator } from "./server.ts"

/** An emulator that lives as long as the surrounding Scope (closed, connections and all, when it closes). */
export const emulatorScoped = (options?: EmulatorOptions): Effect.Effect<Emulator, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startEmulator(options)),
    (emulator) => Effect.promise(() => emulator.close())
  )
