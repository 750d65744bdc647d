/**
 * The IAM emulator in a child process, so that its CPU and memory stay out of the figures of
 * the collector under measurement; and the helpers around it: ending a child process, and the
 * peak RSS of this one while work runs.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"

export interface EmulatorProcess {
  readonly url: string
  /** Its process id (the workers benchmark reads its CPU time). */
  readonly pid: number
  readonly stop: () => Promise<void>
}

export const startEmulatorProcess = (args: ReadonlyArray<string>): Promise<EmulatorProcess> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(
      process.execPath,
      // main.ts beside this file's sources, or main.js when the benchmarks run compiled (`dist/`)
      [path.resolve(import.meta.dirname, `../emulator/main${path.extname(import.meta.filename)}`), "--port", "0", ...args],
      { stdio: ["ignore", "pipe", "inherit"] }
    )
    let out = ""
    child.stdout!.on("data", (d) => {
      out += d
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1]
      if (url !== undefined) {
        child.stdout!.removeAllListeners("data")
        child.stdout!.resume()
        resolve({
          url,
          pid: child.pid!,
          stop: () => stopChild(child)
        })
      }
    })
    child.once("exit", (code) => reject(new Error(`emulator exited with ${code}: ${out}`)))
  })

/** Ends a child process; at once when it has already exited (its `exit` event would never come again). */
export const stopChild = (child: ChildProcess): Promise<void> =>
  new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done()
    child.once("exit", () => done())
    child.kill("SIGTERM")
  })

/** Peak resident set size of this process while `work` runs, sampled every 20 ms. */
export const withPeakRss = async <A>(work: () => Promise<A>): Promise<{ result: A; peakRssMb: number }> => {
  let peak = process.memoryUsage().rss
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 20)
  try {
    const result = await work()
    peak = Math.max(peak, process.memoryUsage().rss)
    return { result, peakRssMb: Math.round(peak / 1024 / 1024) }
  } finally {
    clearInterval(timer)
  }
}
