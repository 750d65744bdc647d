/**
 * `${VAR}` and `${VAR:-default}` in every string value of the parsed JSON (never in keys), before
 * decoding. As in a shell, the default applies when the variable is unset or empty. `$${` is a
 * literal `${`. Defaults are literal text (no nested references). A variable that is unset and has
 * no default is a problem naming the JSON path.
 */
import { isDeeperThanMax, tooDeep } from "./depth.ts"
import type { Problem } from "./problems.ts"

export type Env = Readonly<Record<string, string | undefined>>

export interface Interpolated {
  readonly value: unknown
  readonly problems: ReadonlyArray<Problem>
}

// `$${` (escape), or `${` followed by everything up to the next `}` (or the end: unterminated).
const reference = /\$\$\{|\$\{([^}]*)(\}?)/g
const variable = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s

const interpolateString = (
  text: string,
  path: ReadonlyArray<PropertyKey>,
  env: Env,
  problems: Array<Problem>
): string =>
  text.replace(reference, (match, body: string | undefined, close: string | undefined) => {
    if (match === "$${") return "${"
    const parsed = close === "}" ? variable.exec(body ?? "") : null
    if (parsed === null || parsed[2]?.includes("${")) {
      problems.push({
        path,
        message: `invalid variable reference "${match}" (expected \${NAME} or \${NAME:-default}; write $\${ for a literal \${)`
      })
      return ""
    }
    const name = parsed[1] ?? ""
    const fallback = parsed[2]
    const value = env[name]
    if (fallback !== undefined) return value === undefined || value === "" ? fallback : value
    if (value === undefined) {
      problems.push({
        path,
        message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)`
      })
      return ""
    }
    return value
  })

const walk = (value: unknown, path: ReadonlyArray<PropertyKey>, env: Env, problems: Array<Problem>): unknown => {
  if (typeof value === "string") return interpolateString(value, path, env, problems)
  if (Array.isArray(value)) return value.map((item, i) => walk(item, [...path, i], env, problems))
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      // defineProperty: a "__proto__" key stays a plain (and then unknown) key.
      Object.defineProperty(out, key, {
        value: walk(item, [...path, key], env, problems),
        enumerable: true,
        writable: true,
        configurable: true
      })
    }
    return out
  }
  return value
}

/** Substitutes variables everywhere; a missing one becomes "" and is reported as a problem. */
export const interpolate = (value: unknown, env: Env): Interpolated => {
  // The walk recurses: a value too deep for it is a problem (the parser refuses one already).
  if (isDeeperThanMax(value)) return { value: undefined, problems: [{ path: [], message: tooDeep }] }
  const problems: Array<Problem> = []
  return { value: walk(value, [], env, problems), problems }
}
