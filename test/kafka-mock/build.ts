/**
 * Builds the test Kafka broker (`mock-broker.c`, librdkafka's mock cluster) once and caches it
 * under `node_modules/.cache/`, so that `npm ci && npm test` need nothing but a C compiler and
 * make. Two ways to get librdkafka:
 *
 * - `system`: the machine's librdkafka development package (Debian's `librdkafka-dev`, found by
 *   `pkg-config rdkafka`): about a second.
 * - `source`: librdkafka's C source as the npm registry delivers it, inside the tarball of
 *   `@confluentinc/kafka-javascript` (`deps/librdkafka`), fetched with `npm pack` (which runs no
 *   install script), checked against a pinned integrity, and compiled without TLS, SASL or zstd,
 *   which the mock does not need: about a minute on two cores, once.
 *
 * `system` is used when pkg-config finds librdkafka, `source` otherwise;
 * `IAM_OCSF_KAFKA_MOCK_LIBRDKAFKA=system|source` forces one.
 */
import { createHash } from "node:crypto"
import { execFileSync, type ExecFileSyncOptions } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** The librdkafka source: @confluentinc/kafka-javascript 1.10.1 carries librdkafka 2.15.1. */
const librdkafkaSource = {
  spec: "@confluentinc/kafka-javascript@1.10.1",
  integrity: "sha512-KVePUBn21EqCVP9mfxzEuM3SYJHHEF7X+iiC2e43QQgDSyEaksInmCGooT3w5q+cNAdkSCrK71j0ICfqoSqZLw=="
}

const here = import.meta.dirname
// From `test/kafka-mock/`, or from `dist/test/kafka-mock/` when a benchmark runs compiled.
const repoRoot = path.resolve(here, here.split(path.sep).includes("dist") ? "../../.." : "../..")
const cSource = path.join(repoRoot, "test/kafka-mock/mock-broker.c")

type Librdkafka = "system" | "source"

const run = (command: string, args: ReadonlyArray<string>, options: ExecFileSyncOptions = {}): string => {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...options }).toString()
  } catch (error) {
    const failure = error as { stderr?: Buffer | string; code?: string }
    if (failure.code === "ENOENT") throw new Error(`building the Kafka test broker needs \`${command}\`, which is not installed`)
    const stderr = String(failure.stderr ?? "").trim().split("\n").slice(-15).join("\n")
    throw new Error(`building the Kafka test broker: \`${command} ${args.join(" ")}\` failed:\n${stderr}`)
  }
}

const hasSystemLibrdkafka = (): boolean => {
  try {
    execFileSync("pkg-config", ["--exists", "rdkafka"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

const chooseLibrdkafka = (): Librdkafka => {
  const forced = process.env["IAM_OCSF_KAFKA_MOCK_LIBRDKAFKA"]
  if (forced === "system" || forced === "source") return forced
  if (forced !== undefined && forced !== "") {
    throw new Error(`IAM_OCSF_KAFKA_MOCK_LIBRDKAFKA must be "system" or "source", not ${JSON.stringify(forced)}`)
  }
  return hasSystemLibrdkafka() ? "system" : "source"
}

/** `-DHAVE_SET_CONTROLLER_ID` when the library's mock header declares it. */
const controllerIdFlag = (includeDir: string): Array<string> =>
  fs.readFileSync(path.join(includeDir, "librdkafka/rdkafka_mock.h"), "utf8").includes("rd_kafka_mock_set_controller_id")
    ? ["-DHAVE_SET_CONTROLLER_ID"]
    : []

const buildAgainstSystem = (output: string) => {
  const includeDir = run("pkg-config", ["--variable=includedir", "rdkafka"]).trim()
  const flags = run("pkg-config", ["--cflags", "--libs", "rdkafka"]).trim().split(/\s+/).filter((f) => f !== "")
  run("cc", ["-O2", "-Wall", ...controllerIdFlag(includeDir), "-o", output, cSource, ...flags])
}

const buildFromSource = (output: string, work: string) => {
  process.stderr.write(`kafka mock: compiling librdkafka from ${librdkafkaSource.spec} (about a minute, once)\n`)
  run("npm", ["pack", "--silent", librdkafkaSource.spec], { cwd: work })
  const tarball = fs.readdirSync(work).find((name) => name.endsWith(".tgz"))
  if (tarball === undefined) throw new Error(`npm pack ${librdkafkaSource.spec} left no tarball in ${work}`)
  const digest = `sha512-${createHash("sha512").update(fs.readFileSync(path.join(work, tarball))).digest("base64")}`
  if (digest !== librdkafkaSource.integrity) {
    throw new Error(`${librdkafkaSource.spec}: integrity ${digest}, expected ${librdkafkaSource.integrity}`)
  }
  run("tar", ["xzf", tarball, "package/deps/librdkafka"], { cwd: work })
  const library = path.join(work, "package/deps/librdkafka")
  run("./configure", [
    "--no-download", "--disable-ssl", "--disable-gssapi", "--disable-curl", "--disable-zstd", "--disable-lz4-ext"
  ], { cwd: library })
  run("make", ["-C", "src", `-j${os.availableParallelism()}`, "librdkafka.a"], { cwd: library })
  // The program includes <librdkafka/...>, as it does against an installed library.
  const includeDir = path.join(work, "include")
  fs.mkdirSync(path.join(includeDir, "librdkafka"), { recursive: true })
  for (const header of ["rdkafka.h", "rdkafka_mock.h"]) {
    fs.copyFileSync(path.join(library, "src", header), path.join(includeDir, "librdkafka", header))
  }
  // The libraries configure found (zlib when its headers exist), as the static library needs them.
  const config = fs.readFileSync(path.join(library, "Makefile.config"), "utf8")
  const libs = [...config.matchAll(/^LIBS\+?=(.*)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/)).filter((f) => f !== "")
  run("cc", [
    "-O2", "-Wall", ...controllerIdFlag(includeDir), `-I${includeDir}`, "-o", output, cSource,
    path.join(library, "src/librdkafka.a"), ...libs
  ])
}

/** The path of the broker binary, built first if the cache does not hold it. */
export const mockBrokerBinary = (): string => {
  const librdkafka = chooseLibrdkafka()
  const key = createHash("sha256")
    .update(fs.readFileSync(cSource))
    .update(librdkafka === "source" ? librdkafkaSource.integrity : run("pkg-config", ["--modversion", "rdkafka"]))
    .digest("hex")
    .slice(0, 16)
  const cache = path.join(repoRoot, "node_modules/.cache/iam-ocsf-kafka-mock")
  const binary = path.join(cache, `mock-broker-${librdkafka}-${key}`)
  if (fs.existsSync(binary)) return binary
  fs.mkdirSync(cache, { recursive: true })
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "iam-ocsf-kafka-mock-build-"))
  try {
    const output = path.join(work, "mock-broker")
    if (librdkafka === "system") buildAgainstSystem(output)
    else buildFromSource(output, work)
    // A rename is atomic: a concurrent build never sees half a binary.
    fs.copyFileSync(output, `${binary}.${process.pid}`)
    fs.chmodSync(`${binary}.${process.pid}`, 0o755)
    fs.renameSync(`${binary}.${process.pid}`, binary)
    return binary
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}
