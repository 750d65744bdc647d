/**
 * Turns a Schema issue tree into one line per problem: `<json path>: expected <what>; found <what>`.
 *
 * Nothing here knows a config field. What a value should be is read from the schema the issue
 * points at: its `expected` (or `identifier`) annotation when it has one, otherwise its type
 * and the built-in checks on it (`Schema.Int` + `isBetween(1, 256)` reads "an integer between 1
 * and 256"). A custom check says what it wants with its own `expected` annotation, or replaces
 * the whole line with a `message` annotation (or by returning a message from `makeFilter`), which
 * is how cross-field checks speak. So a new field gets a good message without touching this file;
 * annotate a schema with `expected` before adding checks to it (an annotation given after a
 * check lands on that check).
 *
 * Values that decode to `Redacted` are never printed, only their kind.
 */
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import * as SchemaAST from "effect/SchemaAST"
import * as SchemaIssue from "effect/SchemaIssue"
import { formatDuration } from "./durations.ts"

export interface Problem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** `sinks[1].type`; the empty path is "(top level)". */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string => {
  if (path.length === 0) return "(top level)"
  return path
    .map((key, i) => {
      if (typeof key === "number") return `[${key}]`
      const name = String(key)
      if (!identifier.test(name)) return `[${JSON.stringify(name)}]`
      return i === 0 ? name : `.${name}`
    })
    .join("")
}

export const renderProblem = (problem: Problem): string => `${formatPath(problem.path)}: ${problem.message}`

/** True when `path` starts with `prefix`. */
export const isWithin = (path: ReadonlyArray<PropertyKey>, prefix: ReadonlyArray<PropertyKey>): boolean =>
  prefix.length <= path.length && prefix.every((key, i) => path[i] === key)

// ---------------------------------------------------------------------------------------------
// What a schema expects

const annotation = (annotations: object | undefined, key: string): string | undefined => {
  const value = (annotations as Record<string, unknown> | undefined)?.[key]
  return typeof value === "string" ? value : undefined
}

interface Representation {
  readonly id: string
  readonly payload: Record<string, unknown> | null
}

const representationOf = (annotations: object | undefined): Representation | undefined => {
  const value = (annotations as Record<string, unknown> | undefined)?.["representation"]
  if (typeof value !== "object" || value === null) return undefined
  const { id, payload } = value as Record<string, unknown>
  return typeof id === "string"
    ? { id, payload: typeof payload === "object" ? (payload as Record<string, unknown> | null) : null }
    : undefined
}

const isSensitive = (ast: SchemaAST.AST): boolean =>
  representationOf(ast.annotations)?.id === "effect/schema/Redacted" ||
  (SchemaAST.isUnion(ast) && ast.types.some(isSensitive))

const withoutArticle = (noun: string): string => noun.replace(/^an? /, "")

const quote = (value: unknown): string => (typeof value === "bigint" ? `${value}n` : JSON.stringify(value))

/** The built-in checks we can phrase; `undefined` for any other check. */
const phraseCheck = (noun: string, isString: boolean, check: Representation): string | undefined => {
  const p = check.payload ?? {}
  const items = isString ? "characters" : "items"
  switch (check.id) {
    case "effect/schema/isInt":
      return noun === "a number" ? "an integer" : `${noun} that is an integer`
    case "effect/schema/isFinite":
      return noun === "a number" ? "a finite number" : noun
    case "effect/schema/isMinLength":
      return p["minLength"] === 1 ? `a non-empty ${withoutArticle(noun)}` : `${noun} of at least ${p["minLength"]} ${items}`
    case "effect/schema/isMaxLength":
      return `${noun} of at most ${p["maxLength"]} ${items}`
    case "effect/schema/isBetweenLength":
      return `${noun} of ${p["minimum"]} to ${p["maximum"]} ${items}`
    case "effect/schema/isBetween": {
      const exclusive = p["exclusiveMinimum"] === true || p["exclusiveMaximum"] === true
      return `${noun} between ${p["minimum"]} and ${p["maximum"]}${exclusive ? " (exclusive)" : ""}`
    }
    case "effect/schema/isGreaterThanOrEqualTo":
      return `${noun} of at least ${p["minimum"]}`
    case "effect/schema/isGreaterThan":
      return `${noun} greater than ${p["exclusiveMinimum"]}`
    case "effect/schema/isLessThanOrEqualTo":
      return `${noun} of at most ${p["maximum"]}`
    case "effect/schema/isLessThan":
      return `${noun} less than ${p["exclusiveMaximum"]}`
    default:
      return undefined
  }
}

const flatChecks = (checks: ReadonlyArray<SchemaAST.Check<unknown>>): Array<SchemaAST.Filter<unknown>> =>
  checks.flatMap((check) => (check._tag === "FilterGroup" ? flatChecks(check.checks) : [check]))

const isPhrasable = (filter: SchemaAST.Filter<unknown>): boolean => {
  const representation = representationOf(filter.annotations)
  return representation !== undefined && phraseCheck("a number", false, representation) !== undefined
}

const describeType = (ast: SchemaAST.AST): string => {
  switch (ast._tag) {
    case "String":
      return "a string"
    case "Number":
      return "a number"
    case "Boolean":
      return "true or false"
    case "Null":
      return "null"
    case "Undefined":
    case "Void":
      return "nothing"
    case "Literal":
      return quote(ast.literal)
    case "Objects":
      return "an object"
    case "Arrays":
      return "an array"
    case "Unknown":
    case "Any":
      return "any value"
    case "Never":
      return "nothing (not allowed)"
    case "Union": {
      const members = ast.types.filter((member) => !SchemaAST.isUndefined(member))
      if (members.length > 0 && members.every(SchemaAST.isLiteral)) {
        const literals = members.map((member) => quote(member.literal))
        return literals.length === 1 ? literals[0] ?? "" : `one of ${literals.join(", ")}`
      }
      return [...new Set(members.map(describe))].join(" or ")
    }
    case "Declaration": {
      const inner = ast.typeParameters[0]
      if (representationOf(ast.annotations)?.id === "effect/schema/Redacted" && inner !== undefined) {
        return describe(inner)
      }
      return annotation(ast.annotations, "expected") ?? "a valid value"
    }
    default:
      return String(ast)
  }
}

/** "an integer between 1 and 256", "a non-empty string", or the schema's `expected` annotation. */
export const describe = (ast: SchemaAST.AST): string => {
  const custom = annotation(ast.annotations, "expected") ?? annotation(ast.annotations, "identifier")
  if (custom !== undefined && !SchemaAST.isDeclaration(ast)) return custom
  let noun = describeType(ast)
  for (const filter of flatChecks(ast.checks ?? [])) {
    const representation = representationOf(filter.annotations)
    const phrased = representation && phraseCheck(noun, SchemaAST.isString(ast), representation)
    // A check we cannot phrase usually describes the whole value ("an http(s) URL").
    noun = phrased ?? annotation(filter.annotations, "expected") ?? noun
  }
  return noun
}

// ---------------------------------------------------------------------------------------------
// What was found

const kind = (value: unknown): string => {
  if (value === null) return "null"
  if (Array.isArray(value)) return value.length === 0 ? "an empty array" : "an array"
  switch (typeof value) {
    case "string":
      return value === "" ? `""` : "a string"
    case "number":
    case "bigint":
      return "a number"
    case "boolean":
      return "a boolean"
    case "undefined":
      return "nothing"
    case "object":
      return Object.keys(value).length === 0 ? "an empty object" : "an object"
    default:
      return typeof value
  }
}

const maxShown = 60

const show = (value: unknown, secret: boolean): string => {
  if (Redacted.isRedacted(value)) return "<redacted>"
  if (secret) return value === "" ? `""` : `${kind(value)} (redacted)`
  if (Duration.isDuration(value)) return JSON.stringify(formatDuration(value))
  if (typeof value === "string") {
    return JSON.stringify(value.length > maxShown ? `${value.slice(0, maxShown)}…` : value)
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value)
  return kind(value)
}

/** "; found <value>", preferring the value as written in the file over the decoded one. */
const found = (issue: SchemaIssue.Issue, ctx: { readonly raw: Context["raw"]; readonly secret: boolean }): string => {
  if (ctx.raw !== undefined) return `; found ${show(ctx.raw.value, ctx.secret)}`
  return SchemaIssue.hasInput(issue) ? `; found ${show(issue.input, ctx.secret)}` : ""
}

// ---------------------------------------------------------------------------------------------
// The walk

interface Context {
  readonly path: ReadonlyArray<PropertyKey>
  /** Under a `Redacted` schema: show the kind of a value, never the value. */
  readonly secret: boolean
  /** The decoded-side schema at `path`, when known: tells whether a field is a secret. */
  readonly decoded: SchemaAST.AST | undefined
  /** The value at `path` as written in the file (found values are shown as written). */
  readonly raw: { readonly value: unknown } | undefined
  /** The schema whose checks the current `Filter` issue belongs to. */
  readonly owner: SchemaAST.AST | undefined
  /** The failed filter, for issues that a custom filter nested under a path. */
  readonly filter: SchemaAST.Filter<unknown> | undefined
}

const childAst = (ast: SchemaAST.AST | undefined, key: PropertyKey): SchemaAST.AST | undefined => {
  if (ast === undefined) return undefined
  if (SchemaAST.isObjects(ast)) return ast.propertySignatures.find((p) => p.name === key)?.type
  if (SchemaAST.isArrays(ast)) return typeof key === "number" ? ast.elements[key] ?? ast.rest[0] : undefined
  return undefined
}

const childValue = (raw: Context["raw"], key: PropertyKey): Context["raw"] => {
  if (raw === undefined || typeof raw.value !== "object" || raw.value === null) return undefined
  return Object.hasOwn(raw.value, key) ? { value: (raw.value as Record<PropertyKey, unknown>)[key] } : undefined
}

const enter = (ctx: Context, keys: ReadonlyArray<PropertyKey>): Context => {
  let { decoded, raw, secret } = ctx
  for (const key of keys) {
    decoded = childAst(decoded, key)
    raw = childValue(raw, key)
    secret = secret || (decoded !== undefined && isSensitive(decoded))
  }
  return { ...ctx, path: [...ctx.path, ...keys], decoded, raw, secret, owner: undefined }
}

/** Remembers what a node knows about the current location, without overriding what is known. */
const at = (ctx: Context, issue: SchemaIssue.Issue, ast: SchemaAST.AST | undefined): Context => ({
  ...ctx,
  decoded: ctx.decoded !== undefined && (SchemaAST.isObjects(ctx.decoded) || SchemaAST.isArrays(ctx.decoded))
    ? ctx.decoded
    : ast ?? ctx.decoded,
  raw: ctx.raw ?? (SchemaIssue.hasInput(issue) ? { value: issue.input } : undefined),
  secret: ctx.secret || (ast !== undefined && isSensitive(ast))
})

const messageOf = (issue: SchemaIssue.Issue): string | undefined =>
  issue._tag === "InvalidValue" || issue._tag === "Forbidden" ? annotation(issue.annotations, "message") : undefined

const collect = (issue: SchemaIssue.Issue, ctx: Context, out: Array<Problem>): void => {
  const add = (message: string): void => {
    out.push({ path: ctx.path, message })
  }
  switch (issue._tag) {
    case "Pointer":
      return collect(issue.issue, enter(ctx, issue.path), out)
    case "Composite": {
      const here = { ...at(ctx, issue, issue.ast), owner: issue.ast }
      for (const child of issue.issues) collect(child, here, out)
      return
    }
    case "Encoding":
      // `issue.ast` is the decoded side of a transformation (e.g. the `Redacted` of a secret).
      return collect(issue.issue, { ...at(ctx, issue, undefined), decoded: issue.ast, secret: ctx.secret || isSensitive(issue.ast), owner: undefined }, out)
    case "AnyOf": {
      const here = at(ctx, issue, issue.ast)
      const [only, ...others] = issue.issues
      if (only !== undefined && others.length === 0) return collect(only, { ...here, owner: undefined }, out)
      return add(`expected ${describe(issue.ast)}${found(issue, here)}`)
    }
    case "Filter": {
      const message = annotation(issue.filter.annotations, "message") ?? messageOf(issue.issue)
      if (message !== undefined) return add(message)
      if (issue.issue._tag !== "InvalidValue") {
        return collect(issue.issue, { ...at(ctx, issue, undefined), filter: issue.filter }, out)
      }
      const expected = isPhrasable(issue.filter) && ctx.owner !== undefined
        ? describe(ctx.owner)
        : annotation(issue.filter.annotations, "expected") ?? "a valid value"
      return add(`expected ${expected}${found(issue, ctx)}`)
    }
    case "InvalidType":
      return add(`expected ${describe(issue.ast)}${found(issue, ctx)}`)
    case "InvalidValue": {
      const message = messageOf(issue)
      if (message !== undefined) return add(message)
      const expected = annotation(issue.annotations, "expected") ??
        (ctx.filter && annotation(ctx.filter.annotations, "expected"))
      return add(expected === undefined ? `invalid value${found(issue, ctx)}` : `expected ${expected}${found(issue, ctx)}`)
    }
    case "MissingKey":
      return add(annotation(issue.annotations, "messageMissingKey") ?? "required, missing")
    case "UnexpectedKey": {
      const custom = annotation(issue.ast.annotations, "messageUnexpectedKey")
      if (custom !== undefined) return add(custom)
      const keys = SchemaAST.isObjects(issue.ast) ? issue.ast.propertySignatures.map((p) => String(p.name)) : []
      // A record (e.g. `headers`) refuses a key its key schema refuses: say what a key must be.
      const keyAst = SchemaAST.isObjects(issue.ast) ? issue.ast.indexSignatures[0]?.parameter : undefined
      if (keyAst !== undefined) return add(`invalid key: expected ${describe(keyAst)}`)
      return add(keys.length === 0 ? "unknown key (no keys are allowed here)" : `unknown key (expected one of: ${keys.join(", ")})`)
    }
    case "Forbidden":
      return add(messageOf(issue) ?? "forbidden operation")
    case "OneOf":
      return add(`expected exactly one of ${describe(issue.ast)}${found(issue, ctx)}`)
  }
}

/** One problem per leaf of the issue tree, in the order the Schema reported them, without repeats. */
export const issueProblems = (issue: SchemaIssue.Issue): Array<Problem> => {
  const out: Array<Problem> = []
  collect(issue, { path: [], secret: false, decoded: undefined, raw: undefined, owner: undefined, filter: undefined }, out)
  const seen = new Set<string>()
  return out.filter((problem) => {
    const line = renderProblem(problem)
    if (seen.has(line)) return false
    seen.add(line)
    return true
  })
}
