import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type * as PlatformError from "effect/PlatformError"
import * as Schema from "effect/Schema"
import { AppConfig, configParseOptions } from "./AppConfig.ts"
import { ConfigError } from "./ConfigError.ts"
import { type Env, interpolate } from "./interpolate.ts"
import { parseJson } from "./json.ts"
import { isWithin, issueProblems, renderProblem } from "./problems.ts"

/**
 * Text of a config file → `AppConfig`: JSON syntax, then `${VAR}` interpolation, then the schema.
 * Every problem found is reported at once; a value whose variable is missing is not reported a
 * second time by the schema.
 */
export const parseConfig = (
  text: string,
  source: string,
  env: Env
): Effect.Effect<AppConfig, ConfigError> =>
  Effect.suspend(() => {
    const json = parseJson(text)
    if (json._tag === "Invalid") {
      return Effect.fail(new ConfigError({
        source,
        problems: [`invalid JSON at line ${json.line}, column ${json.column}: ${json.reason}`]
      }))
    }
    const interpolated = interpolate(json.value, env)
    const earlier = [...json.duplicates, ...interpolated.problems]
    const fail = (later: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>) =>
      new ConfigError({ source, problems: [...earlier, ...later].map(renderProblem) })
    return Schema.decodeUnknownEffect(AppConfig)(interpolated.value, configParseOptions).pipe(
      Effect.mapError((error) =>
        fail(issueProblems(error.issue).filter((problem) =>
          !interpolated.problems.some((missing) => isWithin(problem.path, missing.path))
        ))
      ),
      Effect.flatMap((config) => (earlier.length === 0 ? Effect.succeed(config) : Effect.fail(fail([]))))
    )
  })

const readProblem = (error: PlatformError.PlatformError): string => {
  const reason = error.reason
  if (reason._tag === "NotFound") return "file not found"
  if (reason._tag === "PermissionDenied") return "cannot read the file: permission denied"
  const cause: unknown = reason.cause
  const code = typeof cause === "object" && cause !== null && "code" in cause ? cause.code : undefined
  if (code === "EISDIR") return "cannot read the file: it is a directory"
  return `cannot read the file: ${cause instanceof Error ? cause.message : reason.message}`
}

/** Reads and parses a config file; `env` (default `process.env`) feeds `${VAR}` interpolation. */
export const loadConfig = (
  file: string,
  env: Env = process.env
): Effect.Effect<AppConfig, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) => new ConfigError({ source: file, problems: [readProblem(error)] }))
    )
    return yield* parseConfig(text, file, env)
  })
