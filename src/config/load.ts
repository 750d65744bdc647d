/**
 * From a config file to its schema's type, for any config schema: the file read, then its syntax
 * (JSON, or YAML for `.yaml`/`.yml`), `${VAR}` interpolation and decoding, with every problem
 * reported at once.
 */
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import type * as PlatformError from "effect/PlatformError"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import { ConfigError } from "./ConfigError.ts"
import { type Env, interpolate } from "./interpolate.ts"
import type { ConfigFormat } from "./parse.ts"
import { isWithin, issueProblems, renderProblem } from "./problems.ts"

// The parser (the `yaml` package, some 70 modules) is loaded when a config file is read, not by
// every start of the program: `--version` and `demo` read none.
const loadParser = Effect.promise(() => import("./parse.ts"))

/** How a config schema decodes: unknown keys are errors (they are typos), and every problem is reported. */
export const configParseOptions: SchemaAST.ParseOptions = {
  errors: "all",
  onExcessProperty: "error",
  reportInput: true
}

/**
 * Text of a config file → its schema's type: syntax, then `${VAR}` interpolation, then the schema.
 * The format follows the `source`'s extension unless given. Every problem found is reported at
 * once; a value whose variable is missing is not reported a second time by the schema.
 */
export const parseConfigText = <A, I>(
  schema: Schema.Codec<A, I>,
  text: string,
  source: string,
  env: Env,
  format?: ConfigFormat
): Effect.Effect<A, ConfigError> =>
  Effect.flatMap(loadParser, ({ formatOf, parseText }) => {
    const parsed = parseText(text, format ?? formatOf(source))
    if (parsed._tag === "Invalid") return Effect.fail(new ConfigError({ source, problems: [parsed.problem] }))
    const interpolated = interpolate(parsed.value, env)
    const earlier = [...parsed.problems, ...interpolated.problems]
    const fail = (later: ReadonlyArray<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>) =>
      new ConfigError({ source, problems: [...earlier, ...later].map(renderProblem) })
    return Schema.decodeUnknownEffect(schema)(interpolated.value, configParseOptions).pipe(
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

/** Reads and parses a config file; `env` feeds `${VAR}` interpolation. */
export const loadConfigFile = <A, I>(
  schema: Schema.Codec<A, I>,
  file: string,
  env: Env
): Effect.Effect<A, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) => new ConfigError({ source: file, problems: [readProblem(error)] }))
    )
    return yield* parseConfigText(schema, text, file, env)
  })
