/**
 * What keeps a `.json` config file JSON. The `yaml` package reads both formats (JSON is YAML 1.2),
 * and YAML accepts more than JSON does: comments, unquoted and single-quoted strings, trailing
 * commas, indentation-based blocks, anchors. A file named `.json` that used them would be valid
 * only for this program, so each is reported with its position, from the parser's syntax tree.
 */
import type { CST } from "yaml"

/** Something in the text that is not allowed there, and where. */
export interface Violation {
  readonly offset: number
  readonly reason: string
}

const yamlOnly = (what: string) => `${what} YAML, not JSON (a file named .yaml or .yml may use YAML)`
const expectedValue = `expected a value (a "string", a number, true, false or null)`
const jsonLiteral = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/
const jsonEscape = /^\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/

/** Properties and separators: only whitespace, commas and colons are JSON. */
const sourceTokens = (tokens: ReadonlyArray<CST.SourceToken> | undefined, out: Array<Violation>): void => {
  for (const token of tokens ?? []) {
    const reason = {
      "comment": "comments are not JSON (a file named .yaml or .yml may have them)",
      "anchor": yamlOnly("anchors (&name) are"),
      "doc-start": yamlOnly("document markers (---) are"),
      "explicit-key-ind": yamlOnly("explicit keys (? key) are"),
      "seq-item-ind": yamlOnly("list items written \"- item\" are"),
      "block-scalar-header": yamlOnly("block strings (| or >) are")
    }[token.type as string]
    if (reason !== undefined) out.push({ offset: token.offset, reason })
  }
}

/** A JSON string: the first control character or escape JSON does not have. */
const doubleQuoted = (token: CST.FlowScalar, out: Array<Violation>): void => {
  const text = token.source
  for (let i = 1; i < text.length; i++) {
    const c = text[i] ?? ""
    if (c === "\"") return
    if (c === "\\") {
      const escape = jsonEscape.exec(text.slice(i, i + 6))
      if (escape === null) {
        out.push({ offset: token.offset + i, reason: "invalid escape in a string (JSON has \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX)" })
        return
      }
      i += escape[0].length - 1
    } else if (c < " ") {
      out.push({ offset: token.offset + i, reason: "control character in a string (write it as an escape such as \\n)" })
      return
    }
  }
  // No closing quote: the parser reports that.
}

const flowCollection = (token: CST.FlowCollection, out: Array<Violation>): void => {
  const isMap = token.start.type === "flow-map-start"
  const close = isMap ? "}" : "]"
  token.items.forEach((item, i) => {
    sourceTokens(item.start, out)
    sourceTokens(item.sep, out)
    const hasContent = item.key !== undefined || item.sep !== undefined || item.value !== undefined
    if (!hasContent) {
      const comma = item.start.find((t) => t.type === "comma")
      if (comma !== undefined && i > 0) out.push({ offset: comma.offset, reason: `trailing comma before "${close}"` })
      return
    }
    const colon = item.sep?.find((t) => t.type === "map-value-ind")
    if (isMap) {
      const key = item.key ?? undefined
      if (key === undefined || key.type !== "double-quoted-scalar") {
        out.push({ offset: key?.offset ?? item.value?.offset ?? token.offset, reason: "property names take double quotes in JSON" })
      } else if (colon === undefined) {
        out.push({ offset: item.value?.offset ?? key.offset + key.source.length, reason: `expected ":" after the property name` })
      } else if (item.value === undefined) {
        out.push({ offset: colon.offset + 1, reason: `expected a value after ":"` })
      }
    } else if (item.key !== undefined || colon !== undefined) {
      out.push({ offset: item.key?.offset ?? colon?.offset ?? token.offset, reason: yamlOnly(`"key": value pairs inside [ ] are`) })
    }
  })
  const [, ...after] = token.end
  sourceTokens(token.end, out)
  // At the top level the parser leaves what follows the value in `end`: a second value, say.
  const extra = after.find((t) => t.type !== "space" && t.type !== "newline" && t.type !== "comment")
  if (extra !== undefined) out.push({ offset: extra.offset, reason: "unexpected text after the end of the JSON value" })
}

/**
 * Everything in the syntax tree that is YAML but not JSON, in no particular order (the caller
 * reports the first by offset). `nodes` are visited without recursion: the caller has already
 * bounded the depth, but this module does not rely on it.
 */
export const strictJsonViolations = (tokens: ReadonlyArray<CST.Token>): Array<Violation> => {
  const out: Array<Violation> = []
  const stack: Array<CST.Token> = [...tokens]
  for (let token = stack.pop(); token !== undefined; token = stack.pop()) {
    switch (token.type) {
      case "document":
        sourceTokens(token.start, out)
        sourceTokens(token.end, out)
        if (token.value !== undefined) stack.push(token.value)
        break
      case "comment":
        out.push({ offset: token.offset, reason: "comments are not JSON (a file named .yaml or .yml may have them)" })
        break
      case "directive":
      case "doc-end":
        out.push({ offset: token.offset, reason: yamlOnly("directives (%) and document markers (...) are") })
        break
      case "block-map":
      case "block-seq":
        out.push({ offset: token.offset, reason: yamlOnly("indented blocks (key: value on lines of their own) are") })
        break
      case "block-scalar":
        out.push({ offset: token.offset, reason: yamlOnly("block strings (| or >) are") })
        break
      case "alias":
        out.push({ offset: token.offset, reason: yamlOnly("aliases (*name) are") })
        break
      case "single-quoted-scalar":
        out.push({ offset: token.offset, reason: "strings take double quotes in JSON" })
        break
      case "double-quoted-scalar":
        doubleQuoted(token, out)
        sourceTokens(token.end, out)
        break
      case "scalar":
        if (!jsonLiteral.test(token.source)) out.push({ offset: token.offset, reason: expectedValue })
        sourceTokens(token.end, out)
        break
      case "flow-collection":
        flowCollection(token, out)
        for (const item of token.items) {
          if (item.key) stack.push(item.key)
          if (item.value) stack.push(item.value)
        }
        break
      default:
        // Whitespace, and `error` tokens the parser reports itself.
        break
    }
  }
  return out
}
