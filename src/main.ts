#!/usr/bin/env node
/**
 * The `iam-ocsf` executable. A bare `--version` is answered at once, with nothing loaded (a Node
 * process and this file: some 40 ms and 50 MB, where the command line costs 0.3 s and 90 MB
 * before it parses anything); everything else goes to the command line (`cli/program.ts`).
 */
import { asksOnlyVersion, canColor, versionLine } from "./cli/versionLine.ts"
import { version } from "./common/version.ts"

const args = process.argv.slice(2)
if (asksOnlyVersion(args)) {
  const colors = canColor({
    noColor: process.env["NO_COLOR"],
    forceColor: process.env["FORCE_COLOR"],
    term: process.env["TERM"],
    stdoutIsTerminal: process.stdout.isTTY === true
  })
  process.stdout.write(`${versionLine("iam-ocsf", version, colors)}\n`)
} else {
  const { runProgram } = await import("./cli/program.ts")
  runProgram()
}
