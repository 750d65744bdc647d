/**
 * The `server` section: the daemon's operations endpoint (/healthz, /readyz, /metrics). Off
 * unless a port is given: a process that listens is a process that must be firewalled.
 */
import * as Schema from "effect/Schema"
import { intBetween, withDefault } from "../config/fields.ts"

export const ServerConfig = Schema.Struct({
  /** TCP port; absent = no endpoint. 0 picks a free port (logged at start). */
  port: Schema.optionalKey(intBetween(0, 65_535)),
  /** Interface to listen on. All of them by default, so probes and scrapers from outside a container reach it. */
  host: Schema.NonEmptyString.pipe(withDefault("0.0.0.0"))
})
export type ServerConfig = typeof ServerConfig.Type
