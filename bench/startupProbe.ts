/**
 * Preloaded into the CLI's process by the `startup` benchmark (`NODE_OPTIONS=--import`, so that
 * `bin/iam-ocsf` still starts node with `bin/node-flags`). When the process exits it writes, to
 * the file IAM_OCSF_PROBE_OUT names, its CPU time and peak RSS from `process.resourceUsage()`
 * (getrusage: maxRSS is the kernel's high-water mark of the process; Node gives no child's
 * rusage, and /usr/bin/time is not on every machine), and with IAM_OCSF_PROBE_MODULES=1 the
 * modules it loaded: every `load` of a file: URL, ES modules and CommonJS alike (the hooks of
 * `module.registerHooks` see both). The hooks slow loading a little, so the benchmark counts in
 * a run of its own. Only Node's built-ins: the probe itself costs a file and a millisecond.
 */
import * as fs from "node:fs"
import * as module from "node:module"

export interface ProbeReport {
  readonly cpuMs: number
  readonly maxRssKb: number
  /** Empty unless IAM_OCSF_PROBE_MODULES=1. */
  readonly modules: ReadonlyArray<string>
}

const out = process.env["IAM_OCSF_PROBE_OUT"]
const modules: Array<string> = []

if (process.env["IAM_OCSF_PROBE_MODULES"] === "1") {
  module.registerHooks({
    load: (url, context, nextLoad) => {
      if (url.startsWith("file:")) modules.push(url)
      return nextLoad(url, context)
    }
  })
}

if (out !== undefined) {
  process.on("exit", () => {
    const usage = process.resourceUsage()
    const report: ProbeReport = {
      cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000,
      maxRssKb: usage.maxRSS,
      modules
    }
    fs.writeFileSync(out, JSON.stringify(report))
  })
}
