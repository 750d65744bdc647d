/**
 * The text of a config file to a plain value, in JSON or YAML (by the file's extension), through
 * the `yaml` package: JSON is YAML 1.2, so one parser gives both formats, with the line and column
 * of every syntax error. A `.json` file is held to JSON (`strictJson.ts`).
 *
 * What a config file may not do, in either format, because a config file has no use for it and a
 * hostile or broken one could hurt: nest deeper than `maxDepth` (checked while the parser runs and
 * before anything recursive does, so 5,000 levels are a clear problem, not a stack overflow), use tags
 * (`!!binary`, `!custom`), hold more than one document, or expand aliases without bound (a
 * "billion laughs" file). Anchors and aliases are YAML's way to repeat a block, and are allowed
 * within that bound. A key given twice in one object is reported with both positions.
 */
import { type CST, Composer, type Document, isAlias, isMap, isNode, isScalar, isSeq, Lexer, Parser } from "yaml"
import { isDeeperThanMax, maxDepth, tooDeep } from "./depth.ts"
import type { Problem } from "./problems.ts"
import { strictJsonViolations, type Violation } from "./strictJson.ts"

export type ConfigFormat = "json" | "yaml"

/** `.yaml` and `.yml` files are YAML; everything else is JSON. */
export const formatOf = (file: string): ConfigFormat => (/\.ya?ml$/i.test(file) ? "yaml" : "json")

/**
 * Characters in a config file. The application's longest example has 1,500; this leaves room for
 * hundreds of sinks, and bounds the parser's time (some 2 seconds for this much on a busy machine:
 * its tokens are generated one by one).
 */
export const maxLength = 256 * 1024

/** Uses of anchors, weighted by the aliases inside them (the `yaml` package's measure). */
export const maxAliasCount = 100

export type ParsedText =
  | { readonly _tag: "Parsed"; readonly value: unknown; readonly problems: ReadonlyArray<Problem> }
  | { readonly _tag: "Invalid"; readonly problem: string }

/** 1-based line and column of an offset. */
export const lineColumn = (text: string, offset: number): { readonly line: number; readonly column: number } => {
  const before = text.slice(0, offset)
  return { line: before.split("\n").length, column: offset - before.lastIndexOf("\n") }
}

const noTags = "tags (!!str, !name) are not accepted in a config file; quote a value to make it a string"

/**
 * Depth first, without recursion: the offset of the first collection deeper than `maxDepth`, and
 * every tag. Nothing recursive may look at the tree before this has passed.
 */
const inspectTree = (tokens: ReadonlyArray<CST.Token>): { readonly deep?: number; readonly tags: Array<Violation> } => {
  const tags: Array<Violation> = []
  const sourceTokens = (list: ReadonlyArray<CST.SourceToken | CST.Token> | undefined) => {
    for (const token of list ?? []) if (token.type === "tag") tags.push({ offset: token.offset, reason: noTags })
  }
  const stack: Array<readonly [CST.Token, number]> = tokens.map((token) => [token, 0] as const)
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [token, depth] = next
    switch (token.type) {
      case "document":
        sourceTokens(token.start)
        if (token.value !== undefined) stack.push([token.value, depth])
        break
      case "block-scalar":
        sourceTokens(token.props)
        break
      case "block-map":
      case "block-seq":
      case "flow-collection": {
        if (depth + 1 > maxDepth) return { deep: token.offset, tags }
        for (const item of token.items) {
          sourceTokens(item.start)
          sourceTokens(item.sep)
          if (item.key) stack.push([item.key, depth + 1])
          if (item.value) stack.push([item.value, depth + 1])
        }
        break
      }
      default:
        break
    }
  }
  return { tags }
}

const isCollection = (token: CST.Token): boolean =>
  token.type === "flow-collection" || token.type === "block-map" || token.type === "block-seq"

/**
 * The syntax tree, or the offset where it gets too deep. The parser is fed one token at a time
 * (as its documentation shows) so that it stops there: it takes time in proportion to the depth
 * for every token, and 200,000 levels would take seconds. Its `stack` holds the open nodes, the
 * collections among them outermost first.
 */
const parseTree = (text: string): { readonly tokens: Array<CST.Token>; readonly deep?: number } => {
  const parser = new Parser()
  const tokens: Array<CST.Token> = []
  for (const lexeme of new Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) tokens.push(token)
    if (parser.stack.length > maxDepth) {
      const open = parser.stack.filter(isCollection)
      const first = open[maxDepth]
      if (first !== undefined) return { tokens, deep: first.offset }
    }
  }
  for (const token of parser.end()) tokens.push(token)
  return { tokens }
}

/** The parser's own message, in lower case and without a quoted piece of the file (it could be a secret). */
const parserMessage = (message: string): string => {
  const text = message.replace(/: ".*"$/s, "")
  return text.charAt(0).toLowerCase() + text.slice(1)
}

/**
 * Keys given twice, with their paths; and what stops the reading: an alias inside the collection
 * it names (a loop), or a key that is not a string. A loop is found by anchor name, so an alias of
 * an inner anchor that reuses an outer one's name counts as one too: refused, with a message that
 * says why.
 */
const inspectNodes = (
  node: unknown,
  path: ReadonlyArray<PropertyKey>,
  anchors: ReadonlySet<string>,
  text: string,
  out: { readonly problems: Array<Problem>; stop?: Violation }
): void => {
  if (isAlias(node)) {
    if (anchors.has(node.source)) {
      out.stop ??= {
        offset: node.range?.[0] ?? 0,
        reason: `the alias *${node.source} is inside the anchor &${node.source} it repeats (a loop)`
      }
    }
    return
  }
  if (!isMap(node) && !isSeq(node)) return
  const inside = node.anchor === undefined ? anchors : new Set([...anchors, node.anchor])
  if (isSeq(node)) {
    node.items.forEach((item, i) => inspectNodes(item, [...path, i], inside, text, out))
    return
  }
  const seen = new Map<string, number>()
  for (const pair of node.items) {
    const key = pair.key
    if (!isScalar(key)) {
      const at = (isNode(key) ? key.range?.[0] : undefined) ?? node.range?.[0] ?? 0
      out.stop ??= { offset: at, reason: "a key must be a string, not a list, an object or an alias" }
      continue
    }
    const name = key.value === null ? "" : String(key.value)
    const at = key.range?.[0] ?? 0
    const first = seen.get(name)
    if (first === undefined) seen.set(name, at)
    else {
      const a = lineColumn(text, first)
      const b = lineColumn(text, at)
      out.problems.push({
        path: [...path, name],
        message: `duplicate key (at line ${a.line}, column ${a.column} and line ${b.line}, column ${b.column})`
      })
    }
    inspectNodes(pair.value, [...path, name], inside, text, out)
  }
}

/** The config file's text as a plain value, or the first reason it cannot be read. */
export const parseText = (input: string, format: ConfigFormat): ParsedText => {
  const text = input.startsWith("\uFEFF") ? input.slice(1) : input
  const language = format === "json" ? "JSON" : "YAML"
  const invalid = (offset: number, reason: string): ParsedText => {
    const { line, column } = lineColumn(text, offset)
    return { _tag: "Invalid", problem: `invalid ${language} at line ${line}, column ${column}: ${reason}` }
  }
  if (text.trim() === "") return invalid(0, "the file is empty")
  if (text.length > maxLength) {
    return { _tag: "Invalid", problem: `the file has ${text.length} characters, more than the ${maxLength} a config file may have` }
  }

  const { tokens, deep } = parseTree(text)
  if (deep !== undefined) return invalid(deep, tooDeep)
  const tree = inspectTree(tokens)
  if (tree.deep !== undefined) return invalid(tree.deep, tooDeep)

  const documents: Array<Document.Parsed> = Array.from(
    new Composer({
      version: "1.2",
      schema: format === "json" ? "json" : "core",
      // Duplicates are reported below, with their paths.
      uniqueKeys: false,
      prettyErrors: false,
      logLevel: "silent"
    }).compose(tokens, true, text.length)
  )
  const found: Array<Violation> = [
    ...(format === "json" ? strictJsonViolations(tokens) : []),
    ...tree.tags,
    ...documents.flatMap((document) =>
      [...document.errors, ...document.warnings].map((error) => ({ offset: error.pos[0], reason: parserMessage(error.message) }))
    )
  ]
  // The first problem in the file; at one place, ours (they say what JSON wants) before the parser's.
  const first = found.reduce<Violation | undefined>((a, b) => (a === undefined || b.offset < a.offset ? b : a), undefined)
  if (first !== undefined) return invalid(first.offset, first.reason)

  const [document, second] = documents
  if (second !== undefined) return invalid(second.range[0], "a config file holds one document; a second one starts here")
  if (document === undefined || document.contents === null) return invalid(0, "the file is empty")

  const inspected: { problems: Array<Problem>; stop?: Violation } = { problems: [] }
  inspectNodes(document.contents, [], new Set(), text, inspected)
  if (inspected.stop !== undefined) return invalid(inspected.stop.offset, inspected.stop.reason)

  let value: unknown
  try {
    value = document.toJS({ maxAliasCount })
  } catch (error) {
    if (!(error instanceof ReferenceError)) throw error
    // The `yaml` package's guard against exponential expansion ("billion laughs"), or an alias it
    // cannot resolve (the composer reports those first).
    return {
      _tag: "Invalid",
      problem: /excessive alias count/i.test(error.message)
        ? `aliases repeat too much: more than ${maxAliasCount} uses of anchors, counting the aliases inside each anchor`
        : `invalid ${language}: ${parserMessage(error.message)}`
    }
  }
  if (isDeeperThanMax(value)) return { _tag: "Invalid", problem: `${tooDeep} once its aliases are expanded` }
  return { _tag: "Parsed", value, problems: inspected.problems }
}
