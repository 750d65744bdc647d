/** The `log` section. Logs go to stderr; stdout belongs to the events of the stdout sink. */
import * as Schema from "effect/Schema"
import { withDefault } from "../config/fields.ts"

export const LogLevel = Schema.Literals(["trace", "debug", "info", "warn", "error"])
export type LogLevel = typeof LogLevel.Type

export const LogConfig = Schema.Struct({
  /** The least severe level written; the `--log-level` flag wins over it. */
  level: LogLevel.pipe(withDefault("info")),
  /** "json": one JSON object per line, for log shippers; "text": for people. */
  format: Schema.Literals(["json", "text"]).pipe(withDefault("json"))
})
export type LogConfig = typeof LogConfig.Type
