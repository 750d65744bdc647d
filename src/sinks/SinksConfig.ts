/**
 * The `sinks` array of the config file. Each entry is checked in two steps: its `type` against
 * the known sink types, then the whole entry against that sink's own `config` Schema, so that
 * problems name the sink's own fields instead of every member of a union. Each decoded entry gets
 * a resolved `name` (its `name` field, or its type), unique within the config.
 */
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import type * as SchemaAST from "effect/SchemaAST"
import type * as SchemaIssue from "effect/SchemaIssue"
import { sinkDefinition, sinkDefinitions, type SinkConfig, type SinkType } from "./index.ts"

/** A decoded sink entry: the sink's own config, with the name resolved. */
export type SinkEntry = SinkConfig extends infer C ? (C extends unknown ? C & { readonly name: string } : never) : never

/** A sink entry as written in the config file (validated by the sink's own schema). */
export interface SinkInput {
  readonly type: SinkType
  readonly name?: string
  readonly [field: string]: unknown
}

export const sinkTypes: ReadonlyArray<SinkType> = sinkDefinitions.map((definition) => definition.type)

/** Only `type`, so that an unknown type is reported alone, listing the known ones. */
const SinkHead = Schema.Struct({
  type: Schema.Literals(sinkTypes).pipe(
    Schema.annotateKey({ messageMissingKey: `required, missing (one of ${sinkTypes.map((t) => JSON.stringify(t)).join(", ")})` })
  )
}).annotate({ expected: `an object like { "type": ${JSON.stringify(sinkTypes[0] ?? "stdout")} }` })

const definitionOf = (type: string) => {
  const definition = sinkDefinition(type)
  if (definition === undefined) throw new Error(`no sink definition for type ${type}`)
  return definition
}

const decodeEntry = (input: unknown, options: SchemaAST.ParseOptions): Effect.Effect<SinkEntry, SchemaIssue.Issue> =>
  Schema.decodeUnknownEffect(SinkHead)(input, { ...options, onExcessProperty: "ignore" }).pipe(
    Effect.flatMap(({ type }) => Schema.decodeUnknownEffect(definitionOf(type).config)(input, options)),
    Effect.map((config: SinkConfig) => {
      const { type, name, ...fields } = config
      return { type, name: name ?? type, ...fields } as SinkEntry
    }),
    Effect.mapError((error) => error.issue)
  )

const encodeEntry = (entry: SinkEntry, options: SchemaAST.ParseOptions): Effect.Effect<unknown, SchemaIssue.Issue> =>
  Schema.encodeUnknownEffect(definitionOf(entry.type).config as Schema.Codec<unknown, unknown>)(entry, options).pipe(
    Effect.mapError((error) => error.issue)
  )

const DecodedSinkEntry = Schema.declare(
  (u: unknown): u is SinkEntry =>
    Predicate.isObject(u) && typeof (u as { type?: unknown }).type === "string" &&
    typeof (u as { name?: unknown }).name === "string",
  { expected: "a sink" }
)

export const SinkEntry = Schema.Unknown.pipe(
  Schema.decodeTo(DecodedSinkEntry, {
    decode: SchemaGetter.transformEffect(decodeEntry),
    encode: SchemaGetter.transformEffect(encodeEntry)
  })
)

/** Two entries with the same resolved name: one problem per later entry, naming both indices. */
const hasUniqueNames = Schema.makeFilter<ReadonlyArray<SinkEntry>>((entries) => {
  const first = new Map<string, number>()
  const problems: Array<string> = []
  entries.forEach((entry, i) => {
    const earlier = first.get(entry.name)
    if (earlier === undefined) first.set(entry.name, i)
    else {
      problems.push(
        `sinks[${earlier}] and sinks[${i}] are both named ${JSON.stringify(entry.name)}; give one of them a distinct "name"`
      )
    }
  })
  return problems
}, { expected: "sinks with distinct names" })

export const Sinks = Schema.Array(SinkEntry).annotate({ expected: "a non-empty array of sinks" }).check(
  Schema.isMinLength(1),
  hasUniqueNames
)
