/** The few XML builders the emulator's answers need: escaping, an element, a `<member>` list. */
const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&apos;" }

export const xmlEscape = (s: string): string => /[&<>"']/.test(s) ? s.replace(/[&<>"']/g, (c) => ESCAPES[c] as string) : s

export const el = (name: string, text: string): string => `<${name}>${xmlEscape(text)}</${name}>`

export const list = <A>(name: string, items: ReadonlyArray<A>, member: (a: A) => string): string => {
  if (items.length === 0) return `<${name}/>`
  let s = `<${name}>`
  for (const item of items) s += `<member>${member(item)}</member>`
  return s + `</${name}>`
}
