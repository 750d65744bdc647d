/**
 * A strict JSON parser for the config file. `JSON.parse` names no position for several common
 * mistakes (`[1,]`, `{"a": tru}`), so this one reports the line and column of every syntax error.
 * It also reports a key given twice in one object (`JSON.parse` silently keeps the last), which
 * in a config file is a mistake.
 */
import type { Problem } from "./problems.ts"

export type ParsedJson =
  | { readonly _tag: "Parsed"; readonly value: unknown; readonly duplicates: ReadonlyArray<Problem> }
  | { readonly _tag: "Invalid"; readonly line: number; readonly column: number; readonly reason: string }

interface SyntaxProblem {
  readonly position: number
  readonly reason: string
}

const isSyntaxProblem = (u: unknown): u is SyntaxProblem =>
  typeof u === "object" && u !== null && "position" in u && "reason" in u

/** 1-based line and column of a position. */
export const lineColumn = (text: string, position: number): { readonly line: number; readonly column: number } => {
  const before = text.slice(0, position)
  const lastNewline = before.lastIndexOf("\n")
  return { line: before.split("\n").length, column: position - lastNewline }
}

const numberToken = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const hex4 = /^[0-9a-fA-F]{4}$/
const words = [["true", true], ["false", false], ["null", null]] as const

export const parseJson = (input: string): ParsedJson => {
  const text = input.startsWith("\uFEFF") ? input.slice(1) : input
  const duplicates: Array<Problem> = []
  let i = 0

  const fail = (reason: string, position = i): never => {
    throw { position, reason } satisfies SyntaxProblem
  }
  const found = (): string => {
    const c = text[i]
    return c === undefined ? "the end of the file" : JSON.stringify(c)
  }
  const skipWhitespace = () => {
    while (i < text.length && " \t\n\r".includes(text[i] ?? "")) i++
  }

  const string = (): string => {
    const start = i
    i++ // opening quote
    for (;;) {
      const c = text[i]
      if (c === undefined) return fail("unterminated string", start)
      if (c === "\"") break
      if (c === "\\") {
        const escape = text[i + 1]
        if (escape !== undefined && "\"\\/bfnrt".includes(escape)) i += 2
        else if (escape === "u" && hex4.test(text.slice(i + 2, i + 6))) i += 6
        else fail("invalid escape in a string")
      } else if (c < " ") {
        fail("control character in a string (write it as an escape such as \\n)")
      } else {
        i++
      }
    }
    i++ // closing quote
    return JSON.parse(text.slice(start, i)) as string
  }

  const number = (): number => {
    numberToken.lastIndex = i
    const match = numberToken.exec(text)
    if (match === null) return fail("invalid number")
    i += match[0].length
    return Number(match[0])
  }

  const array = (path: ReadonlyArray<PropertyKey>): Array<unknown> => {
    i++ // [
    const out: Array<unknown> = []
    skipWhitespace()
    if (text[i] === "]") {
      i++
      return out
    }
    for (;;) {
      out.push(value([...path, out.length]))
      skipWhitespace()
      if (text[i] === "]") {
        i++
        return out
      }
      if (text[i] !== ",") fail(`expected "," or "]" after an array element, found ${found()}`)
      i++
      skipWhitespace()
      if (text[i] === "]") fail("trailing comma before \"]\"")
    }
  }

  const object = (path: ReadonlyArray<PropertyKey>): Record<string, unknown> => {
    i++ // {
    const out: Record<string, unknown> = {}
    const seen = new Map<string, number>()
    skipWhitespace()
    if (text[i] === "}") {
      i++
      return out
    }
    for (;;) {
      skipWhitespace()
      if (text[i] !== "\"") fail(`expected a double-quoted property name, found ${found()}`)
      const keyAt = i
      const key = string()
      skipWhitespace()
      if (text[i] !== ":") fail(`expected ":" after the property name, found ${found()}`)
      i++
      const item = value([...path, key])
      const first = seen.get(key)
      if (first === undefined) seen.set(key, keyAt)
      else {
        const at = lineColumn(text, first)
        const again = lineColumn(text, keyAt)
        duplicates.push({
          path: [...path, key],
          message: `duplicate key (at line ${at.line}, column ${at.column} and line ${again.line}, column ${again.column})`
        })
      }
      // defineProperty: a "__proto__" key stays a plain (and then unknown) key.
      Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true })
      skipWhitespace()
      if (text[i] === "}") {
        i++
        return out
      }
      if (text[i] !== ",") fail(`expected "," or "}" after a property value, found ${found()}`)
      i++
      skipWhitespace()
      if (text[i] === "}") fail("trailing comma before \"}\"")
    }
  }

  const value = (path: ReadonlyArray<PropertyKey>): unknown => {
    skipWhitespace()
    const c = text[i]
    if (c === "{") return object(path)
    if (c === "[") return array(path)
    if (c === "\"") return string()
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return number()
    for (const [word, result] of words) {
      if (text.startsWith(word, i)) {
        i += word.length
        return result
      }
    }
    return fail(`expected a value, found ${found()}`)
  }

  try {
    if (text.trim() === "") return { _tag: "Invalid", line: 1, column: 1, reason: "the file is empty" }
    const result = value([])
    skipWhitespace()
    if (i < text.length) fail(`unexpected ${found()} after the end of the JSON value`)
    return { _tag: "Parsed", value: result, duplicates }
  } catch (error) {
    if (!isSyntaxProblem(error)) throw error
    return { _tag: "Invalid", ...lineColumn(text, error.position), reason: error.reason }
  }
}
