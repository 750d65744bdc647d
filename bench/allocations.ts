/**
 * Where a collection run allocates: V8's sampling heap profiler over one run, garbage included
 * (what drives the collector's garbage collections, and so its peak RSS), summed by function.
 * A tool for finding the next thing to trim, not a figure `npm run bench` prints.
 *
 * `npm run build && npx node $(cat bin/node-flags) dist/bench/allocations.js [--users 100000]
 *   [--strategy bulk] [--top 30] [--promoted]` (`--promoted`: only what outlived V8's young
 *   generation, the allocations that make its old one grow)
 */
import { Session } from "node:inspector/promises"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import type { CollectionStrategy } from "../src/collect/CollectionConfig.ts"
import { startEmulatorProcess } from "./emulatorProcess.ts"
import { runJob } from "./strategies.ts"

const { values } = parseArgs({
  options: {
    users: { type: "string", default: "100000" },
    strategy: { type: "string", default: "bulk" },
    promoted: { type: "boolean", default: false },
    top: { type: "string", default: "30" }
  }
})
const users = Number(values.users)
const top = Number(values.top)
// Sites are shown relative to the repository, from `bench/` or compiled into `dist/bench/`.
const root = pathToFileURL(path.resolve(import.meta.dirname, import.meta.filename.endsWith(".js") ? "../.." : "..")).href + "/"

interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly selfSize: number
  readonly children: ReadonlyArray<ProfileNode>
}

const session = new Session()
session.connect()
const emulator = await startEmulatorProcess(["--users", String(users - 2)])
let head: ProfileNode
try {
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: 32 * 1024,
    includeObjectsCollectedByMajorGC: true,
    // --promoted: only what outlived the young generation (and so grows the old one)
    includeObjectsCollectedByMinorGC: !values.promoted
  })
  await runJob({ url: emulator.url, strategy: values.strategy as CollectionStrategy, users, budget: 1_000_000, profile: "spec" })
  head = (await session.post("HeapProfiler.stopSampling")).profile.head as ProfileNode
} finally {
  await emulator.stop()
}

const self = new Map<string, number>()
const inclusive = new Map<string, number>()
const walk = (node: ProfileNode, stack: ReadonlySet<string>): number => {
  const { functionName, url, lineNumber } = node.callFrame
  const site = `${functionName || "(anonymous)"} ${url.replace(root, "")}:${lineNumber + 1}`
  self.set(site, (self.get(site) ?? 0) + node.selfSize)
  const inner = new Set(stack).add(site)
  let size = node.selfSize
  for (const child of node.children) size += walk(child, inner)
  // a recursive function counts once
  if (!stack.has(site)) inclusive.set(site, (inclusive.get(site) ?? 0) + size)
  return size
}
const total = walk(head, new Set())

const print = (title: string, sizes: Map<string, number>) => {
  console.log(`\n## ${title}`)
  for (const [site, size] of [...sizes].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(size / 1024 / 1024).toFixed(1).padStart(9)} MB ${(size / users).toFixed(0).padStart(7)} B/user  ${site}`)
  }
}
const what = values.promoted ? "moved into the old generation" : "allocated"
console.log(`${values.strategy}, ${users} users: ${(total / 1024 / 1024).toFixed(0)} MB ${what}, ${(total / users / 1024).toFixed(1)} KB a user`)
print(`${what} by the function itself`, self)
print(`${what} by the function and what it calls`, inclusive)
process.exit(0)
