/**
 * How deep a config value may nest. The application's config needs 4 levels; 64 leaves room for
 * any schema, and bounds every recursive step after parsing (interpolation, decoding, messages),
 * so that a hostile file is a problem to report, never a stack overflow.
 */

/** Levels of objects and arrays. */
export const maxDepth = 64

export const tooDeep = `nested more than ${maxDepth} levels deep`

/** True when a plain value nests deeper than `maxDepth` (or loops); found without recursion. */
export const isDeeperThanMax = (value: unknown): boolean => {
  const stack: Array<readonly [unknown, number]> = [[value, 0]]
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [item, depth] = next
    if (typeof item !== "object" || item === null) continue
    if (depth + 1 > maxDepth) return true
    for (const child of Object.values(item)) stack.push([child, depth + 1])
  }
  return false
}
