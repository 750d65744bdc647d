/**
 * How every AWS SDK client of the project is built, IAM, STS and Organizations alike: one region
 * and endpoint, the credentials (static, a provider such as an assumed role's, or the SDK's
 * standard chain), kept-alive sockets, and none of the SDK's own retries — the door
 * (`door.ts`) is the only retry policy, so the SDK's retry step only passes requests on.
 */
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@aws-sdk/types"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { Sha256 } from "./sha256.ts"

/** Credentials from the config file: an access key, with a session token for temporary ones. */
export interface StaticCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: Redacted.Redacted<string>
  readonly sessionToken?: Redacted.Redacted<string> | undefined
}

export interface Connection {
  readonly region: string
  /** An AWS-compatible endpoint for every service (the emulator serves IAM, STS and Organizations at one URL); absent = AWS. */
  readonly endpoint?: string | undefined
  /** Absent = the SDK's standard credential chain (env, profile, SSO, instance role...). */
  readonly credentials?: StaticCredentials | AwsCredentialIdentityProvider | undefined
  /** Sockets kept open; at least the number of calls in flight at once. */
  readonly maxSockets: number
}

export const sdkCredentials = (
  credentials: StaticCredentials | AwsCredentialIdentityProvider
): AwsCredentialIdentity | AwsCredentialIdentityProvider =>
  typeof credentials === "function" ? credentials : {
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: Redacted.value(credentials.secretAccessKey),
    ...(credentials.sessionToken === undefined ? {} : { sessionToken: Redacted.value(credentials.sessionToken) })
  }

/** The configuration every client gets. */
export const clientConfig = (connection: Connection) => ({
  region: connection.region,
  ...(connection.endpoint === undefined ? {} : { endpoint: connection.endpoint }),
  ...(connection.credentials === undefined ? {} : { credentials: sdkCredentials(connection.credentials) }),
  maxAttempts: 1,
  sha256: Sha256,
  requestHandler: {
    httpAgent: { keepAlive: true, maxSockets: connection.maxSockets },
    httpsAgent: { keepAlive: true, maxSockets: connection.maxSockets }
  }
})

interface MiddlewareStack {
  readonly add: (middleware: (next: any) => any, options: Record<string, unknown>) => void
  readonly remove: (name: string) => boolean
}

/**
 * Our retry policy is the only one (`maxAttempts: 1`), so the SDK's retry step would only cost CPU
 * on every request (a token bucket, an invocation id, two headers): it keeps its place, which the
 * signing step is placed after, and passes the request on. Without a logger, the SDK's logging
 * step logs nothing.
 */
export const withoutSdkRetries = (stack: MiddlewareStack): void => {
  stack.add((next) => next, {
    step: "finalizeRequest",
    name: "retryMiddleware",
    tags: ["RETRY"],
    priority: "high",
    override: true
  })
  stack.remove("loggerMiddleware")
}

/** A client made from `make`, tuned, and destroyed (its sockets closed) with the scope. */
export const scopedClient = <C extends { readonly middlewareStack: MiddlewareStack; readonly destroy: () => void }>(
  make: () => C
): Effect.Effect<C, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const client = make()
      withoutSdkRetries(client.middlewareStack)
      return client
    }),
    (client) => Effect.sync(() => client.destroy())
  )
