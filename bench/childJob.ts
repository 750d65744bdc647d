/**
 * A benchmark's job in a child process of its own, so that one run's heap, peak RSS and warm-up
 * never count in another's: the parent spawns its own module with `--job <json>`, the child runs
 * the job and prints its figures as the last line of stdout.
 */
import { spawn } from "node:child_process"

/** Runs `module` (a benchmark file, `import.meta.filename`) as a child with `job`; its figures. */
export const runInChild = <J, R>(module: string, job: J, flags: ReadonlyArray<string> = process.execArgv): Promise<R> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, module, "--job", JSON.stringify(job)], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (err = (err + d).slice(-4000)))
    child.on("error", reject)
    child.on("close", (code) => {
      const last = out.trim().split("\n").pop() ?? ""
      if (code === 0 && last.startsWith("{")) resolve(JSON.parse(last) as R)
      else reject(new Error(`benchmark job ${JSON.stringify(job).slice(0, 200)} exited with ${code}: ${err}`))
    })
  })

/** In the child: runs the job given with `--job`, prints its figures and exits; returns when this process is not one. */
export const serveJob = async <J>(run: (job: J) => Promise<unknown>): Promise<void> => {
  const job = jobOf<J>()
  if (job === undefined) return
  console.log(JSON.stringify(await run(job)))
  process.exit(0)
}

/** In the child: the job given with `--job`, or undefined when this process is not one. */
export const jobOf = <J>(): J | undefined => {
  const at = process.argv.indexOf("--job")
  return at < 0 ? undefined : JSON.parse(process.argv[at + 1]!) as J
}
