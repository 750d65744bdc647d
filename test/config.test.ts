/**
 * The config file: defaults, `${VAR}` interpolation, secrets never printed, and for every kind of
 * mistake a problem people can act on, phrased from the schema itself.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { inspect } from "node:util"
import { AppConfig, loadConfig, parseConfig } from "../src/run/AppConfig.ts"
import { ConfigError, configParseOptions } from "../src/config/index.ts"
import { defaultConfig } from "../src/run/defaultConfig.ts"
import { describeConfig } from "../src/run/describeConfig.ts"
import { sinkTypes } from "../src/sinks/SinksConfig.ts"
import { issueProblems, renderProblem } from "../src/config/problems.ts"
import { interpolate } from "../src/config/interpolate.ts"
import { parseText } from "../src/config/parse.ts"
import { runCli, tempDir } from "./support.ts"

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/config/${name}`, import.meta.url))
const exampleFile = fileURLToPath(new URL("../config.example.json", import.meta.url))
const yamlExampleFile = fileURLToPath(new URL("../config.example.yaml", import.meta.url))

type Env = Record<string, string | undefined>
const parse = (text: string, env: Env = {}) => parseConfig(text, "config.json", env)
const problems = (text: string, env: Env = {}) =>
  parse(text, env).pipe(Effect.flip, Effect.map((error) => error.problems))
/** The problems of a YAML text (the format follows the name). */
const yamlProblems = (text: string, env: Env = {}) =>
  parseConfig(text, "config.yaml", env).pipe(Effect.flip, Effect.map((error) => error.problems))
const load = (file: string, env: Env = {}) => loadConfig(file, env).pipe(Effect.provide(NodeFileSystem.layer))

const stdoutOnly = `"sinks": [{ "type": "stdout" }]`
const ms = (d: Duration.Duration) => Duration.toMillis(d)
const knownTypes = sinkTypes.map((t) => JSON.stringify(t)).join(", ")

describe("config: valid files", () => {
  it.effect("a minimal file gets every default", () =>
    Effect.gen(function*() {
      const config = yield* parse(`{ ${stdoutOnly} }`)
      assert.deepStrictEqual(config.aws, { region: "us-east-1" })
      assert.strictEqual(config.collection.concurrency, 8)
      assert.strictEqual(config.collection.pageSize, 100)
      assert.strictEqual(ms(config.collection.callTimeout), 10_000)
      assert.strictEqual(config.collection.retry.maxAttempts, 8)
      assert.strictEqual(ms(config.collection.retry.baseDelay), 200)
      assert.strictEqual(ms(config.collection.retry.maxDelay), 20_000)
      assert.strictEqual(config.ocsf.profile, "spec")
      assert.strictEqual(ms(config.schedule.interval), 3_600_000)
      assert.strictEqual(config.delivery.batchSize, 500)
      assert.strictEqual(ms(config.delivery.batchWindow), 1_000)
      assert.deepStrictEqual(config.sinks, [{ type: "stdout", name: "stdout" }])
      assert.strictEqual(config.deadLetter.path, "dead-letter.ndjson")
    }))

  it.effect("a full file: every field as written, sink names resolved", () =>
    Effect.gen(function*() {
      const config = yield* parse(`{
        "aws": {
          "region": "eu-west-1",
          "accessKeyId": "AKIAEXAMPLE",
          "secretAccessKey": "s3cr3t",
          "sessionToken": "t0k3n",
          "endpoint": "http://127.0.0.1:4566"
        },
        "collection": {
          "concurrency": 256,
          "pageSize": 1000,
          "callTimeout": "1.5s",
          "retry": { "maxAttempts": 1, "baseDelay": "1ms", "maxDelay": "2m" }
        },
        "ocsf": { "profile": "strict-cloud" },
        "schedule": { "interval": "1d" },
        "delivery": { "batchSize": 100000, "batchWindow": "250ms" },
        "sinks": [
          { "type": "stdout", "name": "console" },
          { "type": "file", "path": "out/a.ndjson", "fsync": false },
          { "type": "file", "name": "second", "path": "out/b.ndjson" }
        ],
        "deadLetter": { "path": "out/dead.ndjson" }
      }`)
      assert.strictEqual(config.aws.region, "eu-west-1")
      assert.strictEqual(config.aws.accessKeyId, "AKIAEXAMPLE")
      assert.strictEqual(config.aws.secretAccessKey && Redacted.value(config.aws.secretAccessKey), "s3cr3t")
      assert.strictEqual(config.aws.sessionToken && Redacted.value(config.aws.sessionToken), "t0k3n")
      assert.strictEqual(config.aws.endpoint, "http://127.0.0.1:4566")
      assert.strictEqual(config.collection.concurrency, 256)
      assert.strictEqual(config.collection.pageSize, 1000)
      assert.strictEqual(ms(config.collection.callTimeout), 1500)
      assert.strictEqual(config.collection.retry.maxAttempts, 1)
      assert.strictEqual(ms(config.collection.retry.baseDelay), 1)
      assert.strictEqual(ms(config.collection.retry.maxDelay), 120_000)
      assert.strictEqual(config.ocsf.profile, "strict-cloud")
      assert.strictEqual(ms(config.schedule.interval), 86_400_000)
      assert.strictEqual(config.delivery.batchSize, 100_000)
      assert.strictEqual(ms(config.delivery.batchWindow), 250)
      assert.deepStrictEqual(config.sinks, [
        { type: "stdout", name: "console" },
        { type: "file", name: "file", path: "out/a.ndjson", fsync: false },
        { type: "file", name: "second", path: "out/b.ndjson" }
      ])
      assert.strictEqual(config.deadLetter.path, "out/dead.ndjson")
      // The decoded type narrows by sink type.
      const file = config.sinks.find((s) => s.type === "file")
      assert.strictEqual(file?.type === "file" ? file.path : undefined, "out/a.ndjson")
    }))

  it.effect("describeConfig prints the effective config in the file's shape", () =>
    Effect.gen(function*() {
      const config = yield* parse(`{ "schedule": { "interval": "90m" }, ${stdoutOnly} }`)
      const described = JSON.parse(describeConfig(config))
      assert.deepStrictEqual(described.collection, {
        concurrency: 8,
        pageSize: 100,
        callTimeout: "10s",
        retry: { maxAttempts: 8, baseDelay: "200ms", maxDelay: "20s" },
        strategy: "auto",
        maxCredentialReportAge: "4h",
        sshPublicKeys: "per-user",
        minRequestsPerSecond: 1
      })
      assert.deepStrictEqual(described.schedule, { interval: "90m", jitter: 0.1, shutdownTimeout: "20s" })
      assert.deepStrictEqual(described.server, { host: "0.0.0.0" })
      assert.deepStrictEqual(described.log, { level: "info", format: "json" })
      assert.deepStrictEqual(described.telemetry, { serviceName: "iam-ocsf", metricInterval: "1m" })
      // What describeConfig prints is itself a valid config that decodes to the same values.
      const again = yield* parse(describeConfig(config))
      assert.strictEqual(describeConfig(again), describeConfig(config))
    }))

  it.effect("AppConfig encodes back to the file's shape", () =>
    Effect.gen(function*() {
      const config = yield* parse(`{ "delivery": { "batchWindow": "2s" }, ${stdoutOnly} }`)
      const encoded = Schema.encodeUnknownSync(AppConfig)(config) as { delivery: unknown }
      assert.deepStrictEqual(encoded.delivery, {
        batchSize: 500,
        batchBytes: 1_048_576,
        batchWindow: "2s",
        queueSize: 5_000,
        retry: { maxAttempts: 8, baseDelay: "200ms", maxDelay: "20s" }
      })
    }))

  it.effect("config.example.json validates", () =>
    Effect.gen(function*() {
      const config = yield* load(exampleFile)
      assert.deepStrictEqual(config.sinks.map((s) => [s.type, s.name]), [["stdout", "stdout"], ["file", "archive"]])
      assert.strictEqual(config.aws.endpoint, undefined)
      assert.strictEqual(config.aws.accessKeyId, undefined)
      const withEnv = yield* load(exampleFile, { AWS_REGION: "eu-central-1", IAM_OCSF_OUT_DIR: "/var/lib/iam-ocsf" })
      assert.strictEqual(withEnv.aws.region, "eu-central-1")
      assert.strictEqual(withEnv.deadLetter.path, "/var/lib/iam-ocsf/dead-letter.ndjson")
    }))

  it.effect("the emulator fixture validates with and without environment", () =>
    Effect.gen(function*() {
      const config = yield* load(fixture("emulator.json"))
      assert.strictEqual(config.aws.endpoint, "http://127.0.0.1:4566")
      assert.strictEqual(config.aws.accessKeyId, "test")
      const other = yield* load(fixture("emulator.json"), { IAM_ENDPOINT: "https://iam.example.test", AWS_ACCESS_KEY_ID: "AKIA1" })
      assert.strictEqual(other.aws.endpoint, "https://iam.example.test")
      assert.strictEqual(other.aws.accessKeyId, "AKIA1")
    }))

  it.effect("loadConfig reads process.env by default", () =>
    Effect.gen(function*() {
      const config = yield* loadConfig(fixture("minimal.json")).pipe(Effect.provide(NodeFileSystem.layer))
      assert.deepStrictEqual(config.sinks, [{ type: "stdout", name: "stdout" }])
    }))
})

describe("config: ${VAR} interpolation", () => {
  it.effect("substitutes variables, applies :-defaults and keeps $${ literal", () =>
    Effect.gen(function*() {
      const config = yield* parse(
        `{
          "aws": { "region": "\${REGION}", "endpoint": "http://\${HOST:-localhost}:\${PORT:-4566}" },
          "sinks": [{ "type": "file", "path": "\${DIR:-out}/events-$\${date}.ndjson" }],
          "deadLetter": { "path": "\${EMPTY:-fallback}/\${EMPTY}dead.ndjson" }
        }`,
        { REGION: "ap-southeast-2", PORT: "8080", EMPTY: "" }
      )
      assert.strictEqual(config.aws.region, "ap-southeast-2")
      assert.strictEqual(config.aws.endpoint, "http://localhost:8080")
      const [sink] = config.sinks
      assert.strictEqual(sink?.type === "file" ? sink.path : undefined, "out/events-${date}.ndjson")
      // As in a shell, ":-" also applies to an empty variable; a plain reference keeps it empty.
      assert.strictEqual(config.deadLetter.path, "fallback/dead.ndjson")
    }))

  it.effect("a missing variable names the JSON path and the variable", () =>
    Effect.gen(function*() {
      const lines = yield* problems(`{
        "aws": { "accessKeyId": "\${AWS_ACCESS_KEY_ID}", "secretAccessKey": "\${AWS_SECRET_ACCESS_KEY}" },
        "sinks": [{ "type": "file", "path": "\${OUT_DIR}/events.ndjson" }]
      }`, { AWS_ACCESS_KEY_ID: "AKIA1" })
      assert.deepStrictEqual(lines, [
        "aws.secretAccessKey: environment variable AWS_SECRET_ACCESS_KEY is not set (write ${AWS_SECRET_ACCESS_KEY:-default} to give a default)",
        "sinks[0].path: environment variable OUT_DIR is not set (write ${OUT_DIR:-default} to give a default)"
      ])
    }))

  it.effect("a malformed reference is a problem, not a literal", () =>
    Effect.gen(function*() {
      const lines = yield* problems(`{ "deadLetter": { "path": "\${not valid}" }, ${stdoutOnly} }`)
      assert.deepStrictEqual(lines, [
        "deadLetter.path: invalid variable reference \"${not valid}\" (expected ${NAME} or ${NAME:-default}; write $${ for a literal ${)"
      ])
    }))

  it.effect("keys are not interpolated", () =>
    Effect.gen(function*() {
      const lines = yield* problems(`{ "\${X}": 1, ${stdoutOnly} }`, { X: "aws" })
      assert.deepStrictEqual(lines, [
        "[\"${X}\"]: unknown key (expected one of: aws, accounts, collection, ocsf, schedule, delivery, sinks, deadLetter, state, coordination, telemetry, server, log)"
      ])
    }))
})

describe("config: secrets", () => {
  const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
  const token = "FwoGZXIvYXdzEXAMPLETOKEN"

  it.effect("secrets are Redacted and never printed", () =>
    Effect.gen(function*() {
      const config = yield* parse(
        `{ "aws": { "accessKeyId": "AKIA1", "secretAccessKey": "\${SECRET}", "sessionToken": "${token}" }, ${stdoutOnly} }`,
        { SECRET: secret }
      )
      assert.isTrue(Redacted.isRedacted(config.aws.secretAccessKey))
      assert.isTrue(Redacted.isRedacted(config.aws.sessionToken))
      assert.strictEqual(config.aws.secretAccessKey && Redacted.value(config.aws.secretAccessKey), secret)
      const described = describeConfig(config)
      assert.include(described, `"secretAccessKey": "<redacted>"`)
      assert.include(described, `"sessionToken": "<redacted>"`)
      for (const text of [described, String(config), JSON.stringify(config), inspect(config, { depth: 10 }), String(config.aws.secretAccessKey)]) {
        assert.notInclude(text, secret)
        assert.notInclude(text, token)
      }
    }))

  it.effect("a secret of the wrong type is described, not shown", () =>
    Effect.gen(function*() {
      const lines = yield* problems(`{ "aws": { "accessKeyId": "AKIA1", "secretAccessKey": 987654321 }, ${stdoutOnly} }`)
      assert.deepStrictEqual(lines, ["aws.secretAccessKey: expected a non-empty string; found a number (redacted)"])
    }))
})

describe("config: problems people can act on", () => {
  it.effect("a missing required field", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems(`{ "sinks": [{ "type": "file" }] }`), ["sinks[0].path: required, missing"])
      assert.deepStrictEqual(yield* problems(`{}`), ["sinks: required, missing"])
      assert.deepStrictEqual(yield* problems(`{ "sinks": [{ "name": "x" }] }`), [
        `sinks[0].type: required, missing (one of ${knownTypes})`
      ])
    }))

  it.effect("a wrong type", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems(`{ "collection": { "concurrency": "8" }, ${stdoutOnly} }`), [
        `collection.concurrency: expected an integer between 1 and 256; found "8"`
      ])
      assert.deepStrictEqual(yield* problems(`{ "collection": { "pageSize": 0 }, ${stdoutOnly} }`), [
        "collection.pageSize: expected an integer between 1 and 1000; found 0"
      ])
      assert.deepStrictEqual(yield* problems(`{ "sinks": [{ "type": "file", "path": "x", "fsync": "yes" }] }`), [
        `sinks[0].fsync: expected true or false; found "yes"`
      ])
      assert.deepStrictEqual(yield* problems(`{ "ocsf": { "profile": "lenient" }, ${stdoutOnly} }`), [
        `ocsf.profile: expected one of "spec", "strict", "strict-cloud"; found "lenient"`
      ])
      assert.deepStrictEqual(yield* problems(`{ "aws": "us-east-1", ${stdoutOnly} }`), [
        `aws: expected an object; found "us-east-1"`
      ])
      assert.deepStrictEqual(yield* problems(`[]`), ["(top level): expected an object; found an empty array"])
    }))

  it.effect("an unknown sink type lists the known types and nothing else", () =>
    Effect.gen(function*() {
      const lines = yield* problems(`{ "sinks": [{ "type": "stdout" }, { "type": "kafak", "topic": "x" }, 3] }`)
      assert.deepStrictEqual(lines, [
        `sinks[1].type: expected one of ${knownTypes}; found "kafak"`,
        `sinks[2]: expected an object like { "type": "stdout" }; found 3`
      ])
      assert.include(knownTypes, `"stdout"`)
      assert.include(knownTypes, `"file"`)
    }))

  it.effect("an unknown key, anywhere, with the path and the keys allowed there", () =>
    Effect.gen(function*() {
      const lines = yield* problems(`{
        "deadLetter": { "pth": "x" },
        "collection": { "retry": { "maxAttempt": 3 } },
        "sinks": [{ "type": "file", "path": "p", "fsnyc": true }],
        "sink": []
      }`)
      assert.sameMembers([...lines], [
        "sink: unknown key (expected one of: aws, accounts, collection, ocsf, schedule, delivery, sinks, deadLetter, state, coordination, telemetry, server, log)",
        "deadLetter.pth: unknown key (expected one of: path)",
        "collection.retry.maxAttempt: unknown key (expected one of: maxAttempts, baseDelay, maxDelay)",
        "sinks[0].fsnyc: unknown key (expected one of: type, name, batchSize, batchBytes, batchWindow, queueSize, retry, path, fsync)"
      ])
    }))

  it.effect("duplicate sink names name both indices", () =>
    Effect.gen(function*() {
      const lines = yield* problems(`{ "sinks": [
        { "type": "file", "path": "a" },
        { "type": "stdout" },
        { "type": "file", "path": "b" },
        { "type": "file", "name": "stdout", "path": "c" }
      ] }`)
      assert.deepStrictEqual(lines, [
        `sinks: sinks[0] and sinks[2] are both named "file"; give one of them a distinct "name"`,
        `sinks: sinks[1] and sinks[3] are both named "stdout"; give one of them a distinct "name"`
      ])
    }))

  it.effect("bad durations", () =>
    Effect.gen(function*() {
      const lines = yield* problems(`{
        "schedule": { "interval": "hourly" },
        "collection": { "callTimeout": 10, "retry": { "baseDelay": "1 s" } },
        "delivery": { "batchWindow": "0s" },
        ${stdoutOnly}
      }`)
      assert.deepStrictEqual(lines, [
        `collection.callTimeout: expected a duration like "90s", "15m" or "1h"; found 10`,
        `collection.retry.baseDelay: expected a duration like "90s", "15m" or "1h"; found "1 s"`,
        `schedule.interval: expected a duration like "90s", "15m" or "1h"; found "hourly"`,
        `delivery.batchWindow: expected a duration between 1ms and 10m; found "0s"`
      ])
      assert.deepStrictEqual(yield* problems(`{ "schedule": { "interval": "500ms" }, ${stdoutOnly} }`), [
        `schedule.interval: expected a duration between 1s and 7d; found "500ms"`
      ])
    }))

  it.effect("cross-field checks", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems(`{ "aws": { "accessKeyId": "AKIA1" }, ${stdoutOnly} }`), [
        "aws: accessKeyId and secretAccessKey go together; found only accessKeyId"
      ])
      assert.deepStrictEqual(yield* problems(`{ "aws": { "secretAccessKey": "x" }, ${stdoutOnly} }`), [
        "aws: accessKeyId and secretAccessKey go together; found only secretAccessKey"
      ])
      assert.deepStrictEqual(yield* problems(`{ "aws": { "sessionToken": "x" }, ${stdoutOnly} }`), [
        "aws: sessionToken needs accessKeyId and secretAccessKey; found only sessionToken"
      ])
      assert.deepStrictEqual(yield* problems(`{ "collection": { "retry": { "baseDelay": "30s" } }, ${stdoutOnly} }`), [
        `collection.retry: baseDelay must not be longer than maxDelay; found baseDelay "30s" and maxDelay "20s"`
      ])
    }))

  it.effect("the endpoint must be an http(s) URL, the region look like one", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems(`{ "aws": { "endpoint": "127.0.0.1:4566", "region": "US East" }, ${stdoutOnly} }`), [
        `aws.region: expected an AWS region like "us-east-1"; found "US East"`,
        `aws.endpoint: expected an http(s) URL like "http://127.0.0.1:4566"; found "127.0.0.1:4566"`
      ])
    }))

  it.effect("invalid JSON names the line and column", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(load(fixture("syntax-error.json")))
      assert.strictEqual(
        error.message,
        `${fixture("syntax-error.json")}: invalid configuration\n  - invalid JSON at line 3, column 25: trailing comma before "]"`
      )
      assert.deepStrictEqual(yield* problems(`{\n  "sinks" [] }`), [
        `invalid JSON at line 2, column 11: expected ":" after the property name`
      ])
      assert.deepStrictEqual(yield* problems(`{ "a": tru }`), [
        `invalid JSON at line 1, column 8: expected a value (a "string", a number, true, false or null)`
      ])
      assert.deepStrictEqual(yield* problems(`{ "a": "x`), [`invalid JSON at line 1, column 10: missing closing "quote`])
      assert.deepStrictEqual(yield* problems(`{} {}`), ["invalid JSON at line 1, column 4: unexpected text after the end of the JSON value"])
      assert.deepStrictEqual(yield* problems(`  \n`), ["invalid JSON at line 1, column 1: the file is empty"])
      assert.deepStrictEqual(yield* problems(`{ "a": {}, }`), [`invalid JSON at line 1, column 10: trailing comma before "}"`])
      assert.deepStrictEqual(yield* problems(`{ "a": "x\ty" }`), [
        "invalid JSON at line 1, column 10: control character in a string (write it as an escape such as \\n)"
      ])
    }))

  it.effect("a .json file is JSON: YAML's extras are refused where they stand", () =>
    Effect.gen(function*() {
      const yaml = "(a file named .yaml or .yml may use YAML)"
      assert.deepStrictEqual(yield* problems(`{ "sinks": [{ "type": "stdout" }] } // done`), [
        "invalid JSON at line 1, column 37: unexpected text after the end of the JSON value"
      ])
      assert.deepStrictEqual(yield* problems(`{\n  # the sinks\n  ${stdoutOnly} }`), [
        "invalid JSON at line 2, column 3: comments are not JSON (a file named .yaml or .yml may have them)"
      ])
      assert.deepStrictEqual(yield* problems(`{ sinks: [{ "type": "stdout" }] }`), [
        "invalid JSON at line 1, column 3: property names take double quotes in JSON"
      ])
      assert.deepStrictEqual(yield* problems(`{ "sinks": [{ "type": 'stdout' }] }`), [
        "invalid JSON at line 1, column 23: strings take double quotes in JSON"
      ])
      assert.deepStrictEqual(yield* problems(`{ "sinks": [{ "type": stdout }] }`), [
        `invalid JSON at line 1, column 23: expected a value (a "string", a number, true, false or null)`
      ])
      assert.deepStrictEqual(yield* problems(`sinks:\n  - type: stdout\n`), [
        `invalid JSON at line 1, column 1: indented blocks (key: value on lines of their own) are YAML, not JSON ${yaml}`
      ])
      assert.deepStrictEqual(yield* problems(`{ "a": &x 1, "b": *x, ${stdoutOnly} }`), [
        `invalid JSON at line 1, column 8: anchors (&name) are YAML, not JSON ${yaml}`
      ])
      assert.deepStrictEqual(yield* problems(`{ "a": "\\x41", ${stdoutOnly} }`), [
        `invalid JSON at line 1, column 9: invalid escape in a string (JSON has \\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX)`
      ])
      assert.deepStrictEqual(yield* problems(`---\n{ ${stdoutOnly} }`), [
        `invalid JSON at line 1, column 1: document markers (---) are YAML, not JSON ${yaml}`
      ])
    }))

  it.effect("a key given twice is a problem", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* problems(`{ ${stdoutOnly},\n  "sinks": [] }`), [
        "sinks: duplicate key (at line 1, column 3 and line 2, column 3)",
        "sinks: expected a non-empty array of sinks; found an empty array"
      ])
    }))

  it.effect("a file that does not exist, or is not a file", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(load(fixture("does-not-exist.json")))
      assert.instanceOf(missing, ConfigError)
      assert.strictEqual(missing.source, fixture("does-not-exist.json"))
      assert.strictEqual(missing.message, `${fixture("does-not-exist.json")}: invalid configuration\n  - file not found`)
      const folder = yield* Effect.flip(load(fixture("")))
      assert.deepStrictEqual(folder.problems, ["cannot read the file: it is a directory"])
    }))

  it.effect("several problems at once, one line each", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(load(fixture("invalid.json")))
      assert.strictEqual(error._tag, "ConfigError")
      assert.strictEqual(
        error.message,
        [
          `${fixture("invalid.json")}: invalid configuration`,
          `  - aws: accessKeyId and secretAccessKey go together; found only accessKeyId`,
          `  - collection.concurrency: expected an integer between 1 and 256; found "8"`,
          `  - schedule.interval: expected a duration like "90s", "15m" or "1h"; found "hourly"`,
          `  - sinks[1].type: expected one of ${knownTypes}; found "kafak"`,
          `  - deadLetter.pth: unknown key (expected one of: path)`
        ].join("\n")
      )
    }))

  it.effect("problems in every field of a section are reported together", () =>
    Effect.gen(function*() {
      const lines = yield* problems(`{
        "collection": { "concurrency": 0, "pageSize": "x", "callTimeout": "0s", "retry": { "maxAttempts": 0, "maxDelay": "1" } },
        ${stdoutOnly}
      }`)
      assert.deepStrictEqual(lines, [
        "collection.concurrency: expected an integer between 1 and 256; found 0",
        `collection.pageSize: expected an integer between 1 and 1000; found "x"`,
        `collection.callTimeout: expected a duration between 1ms and 10m; found "0s"`,
        "collection.retry.maxAttempts: expected an integer between 1 and 100; found 0",
        `collection.retry.maxDelay: expected a duration like "90s", "15m" or "1h"; found "1"`
      ])
    }))

  it.effect("a missing variable is not reported again by the schema", () =>
    Effect.gen(function*() {
      const lines = yield* problems(`{ "aws": { "endpoint": "\${ENDPOINT}" }, "collection": { "pageSize": 0 }, ${stdoutOnly} }`)
      assert.deepStrictEqual(lines, [
        "aws.endpoint: environment variable ENDPOINT is not set (write ${ENDPOINT:-default} to give a default)",
        "collection.pageSize: expected an integer between 1 and 1000; found 0"
      ])
    }))
})

describe("config: messages come from the schema, so new fields get them for free", () => {
  const Future = Schema.Struct({
    port: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 })),
    tags: Schema.Array(Schema.NonEmptyString).check(Schema.isMaxLength(2)),
    mode: Schema.Literals(["fast", "safe"]),
    ratio: Schema.optional(Schema.Number.check(Schema.isGreaterThan(0))),
    token: Schema.optional(Schema.RedactedFromValue(Schema.String)),
    nested: Schema.Struct({ enabled: Schema.Boolean })
  })
  const lines = (input: unknown) => {
    const result = Schema.decodeUnknownResult(Future)(input, configParseOptions)
    return Result.isFailure(result) ? issueProblems(result.failure.issue).map(renderProblem) : []
  }

  it("phrases types and built-in checks", () => {
    assert.deepStrictEqual(
      lines({ port: 70000, tags: ["a", "", "c"], mode: "slow", ratio: -1, token: 42, nested: { enabled: "yes", extra: 1 } }),
      [
        "port: expected an integer between 1 and 65535; found 70000",
        `tags[1]: expected a non-empty string; found ""`,
        "mode: expected one of \"fast\", \"safe\"; found \"slow\"",
        "ratio: expected a number greater than 0; found -1",
        "token: expected a string; found a number (redacted)",
        "nested.extra: unknown key (expected one of: enabled)",
        `nested.enabled: expected true or false; found "yes"`
      ]
    )
    assert.deepStrictEqual(lines({ port: 1, tags: ["a", "b", "c"], mode: "fast", nested: {} }), [
      "tags: expected an array of at most 2 items; found an array",
      "nested.enabled: required, missing"
    ])
  })
})

describe("config: defaultConfig", () => {
  it("builds a config in memory with the file's defaults and one stdout sink", () => {
    const config = defaultConfig()
    assert.deepStrictEqual(config.sinks, [{ type: "stdout", name: "stdout" }])
    assert.strictEqual(ms(config.schedule.interval), 3_600_000)
    assert.strictEqual(config.collection.concurrency, 8)
  })

  it("takes overrides written as in the file", () => {
    const config = defaultConfig({
      aws: { endpoint: "http://127.0.0.1:4566", accessKeyId: "test", secretAccessKey: "test" },
      collection: { retry: { baseDelay: "1ms", maxDelay: Duration.millis(5) } },
      delivery: { batchWindow: Duration.millis(100) },
      sinks: [{ type: "file", path: "out/x.ndjson" }]
    })
    assert.strictEqual(config.aws.endpoint, "http://127.0.0.1:4566")
    assert.isTrue(Redacted.isRedacted(config.aws.secretAccessKey))
    assert.strictEqual(ms(config.collection.retry.maxDelay), 5)
    assert.strictEqual(config.collection.retry.maxAttempts, 8)
    assert.strictEqual(ms(config.delivery.batchWindow), 100)
    assert.deepStrictEqual(config.sinks, [{ type: "file", name: "file", path: "out/x.ndjson" }])
  })

  it("throws a ConfigError for an invalid override", () => {
    assert.throws(
      () => defaultConfig({ collection: { concurrency: 0 } }),
      "defaultConfig: invalid configuration\n  - collection.concurrency: expected an integer between 1 and 256; found 0"
    )
  })
})

describe("config: YAML files", () => {
  it.effect("config.example.yaml is config.example.json in YAML: the same config, with and without environment", () =>
    Effect.gen(function*() {
      for (const env of [{}, { AWS_REGION: "eu-central-1", IAM_OCSF_OUT_DIR: "/var/lib/iam-ocsf" }]) {
        const fromYaml = yield* load(yamlExampleFile, env)
        const fromJson = yield* load(exampleFile, env)
        assert.strictEqual(describeConfig(fromYaml), describeConfig(fromJson))
      }
      const withEnv = yield* load(yamlExampleFile, { IAM_OCSF_OUT_DIR: "/var/lib/iam-ocsf" })
      assert.strictEqual(withEnv.deadLetter.path, "/var/lib/iam-ocsf/dead-letter.ndjson")
      assert.deepStrictEqual(withEnv.sinks.map((s) => [s.type, s.name]), [["stdout", "stdout"], ["file", "archive"]])
    }))

  it.effect("the format follows the extension: .yaml and .yml are YAML, anything else JSON", () =>
    Effect.gen(function*() {
      const text = "sinks:\n  - type: stdout\n"
      for (const source of ["config.yaml", "config.yml", "CONFIG.YML"]) {
        const config = yield* parseConfig(text, source, {})
        assert.deepStrictEqual(config.sinks, [{ type: "stdout", name: "stdout" }])
      }
      for (const source of ["config.json", "config", "config.yaml.json"]) {
        const error = yield* Effect.flip(parseConfig(text, source, {}))
        assert.match(error.problems[0] ?? "", /^invalid JSON at line 1, column 1: indented blocks/)
      }
    }))

  it.effect("the same problems as in JSON, naming the same paths", () =>
    Effect.gen(function*() {
      const yaml = `
aws: { accessKeyId: AKIA1 }
collection:
  concurrency: "8"
schedule:
  interval: hourly
sinks:
  - type: stdout
  - type: kafak
deadLetter:
  pth: x
`
      assert.deepStrictEqual(yield* yamlProblems(yaml), [
        "aws: accessKeyId and secretAccessKey go together; found only accessKeyId",
        `collection.concurrency: expected an integer between 1 and 256; found "8"`,
        `schedule.interval: expected a duration like "90s", "15m" or "1h"; found "hourly"`,
        `sinks[1].type: expected one of ${knownTypes}; found "kafak"`,
        "deadLetter.pth: unknown key (expected one of: path)"
      ])
      // YAML 1.2: `yes` is a string, not true (no "Norway problem").
      assert.deepStrictEqual(yield* yamlProblems(`sinks: [{ type: file, path: x, fsync: yes }]`), [
        `sinks[0].fsync: expected true or false; found "yes"`
      ])
    }))

  it.effect("syntax errors name the line and column", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* yamlProblems(`sinks:\n  - type: stdout\n - type: file\n`), [
        "invalid YAML at line 3, column 1: a block sequence may not be used as an implicit map key"
      ])
      assert.deepStrictEqual(yield* yamlProblems(`sinks: [{ type: stdout }\nlog: {}\n`), [
        "invalid YAML at line 2, column 1: flow sequence in block collection must be sufficiently indented and end with a ]"
      ])
      assert.deepStrictEqual(yield* yamlProblems(`deadLetter:\n  path: "out/dead.ndjson\n`), [
        `invalid YAML at line 3, column 1: missing closing "quote`
      ])
      assert.deepStrictEqual(yield* yamlProblems(`# nothing but a comment\n`), ["invalid YAML at line 1, column 1: the file is empty"])
    }))

  it.effect("a key given twice is a problem, with both places", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* yamlProblems(`sinks:\n  - type: stdout\nlog:\n  level: info\n  level: debug\n`), [
        "log.level: duplicate key (at line 4, column 3 and line 5, column 3)"
      ])
    }))

  it.effect("${VAR} works as in JSON: substituted, defaulted, and a missing one named", () =>
    Effect.gen(function*() {
      const yaml = `
aws:
  region: \${REGION}
  endpoint: "http://\${HOST:-localhost}:\${PORT:-4566}"
sinks:
  - type: file
    path: \${DIR:-out}/events-$\${date}.ndjson
`
      const config = yield* parseConfig(yaml, "config.yaml", { REGION: "ap-southeast-2", PORT: "8080" })
      assert.strictEqual(config.aws.region, "ap-southeast-2")
      assert.strictEqual(config.aws.endpoint, "http://localhost:8080")
      const [sink] = config.sinks
      assert.strictEqual(sink?.type === "file" ? sink.path : undefined, "out/events-${date}.ndjson")
      assert.deepStrictEqual(yield* yamlProblems(yaml, {}), [
        "aws.region: environment variable REGION is not set (write ${REGION:-default} to give a default)"
      ])
    }))

  it.effect("no tags, one document; anchors and aliases repeat a block, within a bound", () =>
    Effect.gen(function*() {
      const noTags = "tags (!!str, !name) are not accepted in a config file; quote a value to make it a string"
      assert.deepStrictEqual(yield* yamlProblems(`sinks: [{ type: !!str stdout }]`), [`invalid YAML at line 1, column 17: ${noTags}`])
      assert.deepStrictEqual(yield* yamlProblems(`sinks: !custom [{ type: stdout }]`), [`invalid YAML at line 1, column 8: ${noTags}`])
      assert.deepStrictEqual(yield* yamlProblems(`sinks: [{ type: stdout }]\n---\nsinks: []\n`), [
        "invalid YAML at line 2, column 1: a config file holds one document; a second one starts here"
      ])
      assert.deepStrictEqual(yield* yamlProblems(`sinks: [{ type: stdout }]\n? [log]\n: { level: info }\n`), [
        "invalid YAML at line 2, column 3: a key must be a string, not a list, an object or an alias"
      ])
      const shared = yield* parseConfig(
        `collection:\n  retry: &retry { maxAttempts: 3, maxDelay: 5s }\ndelivery:\n  retry: *retry\nsinks: [{ type: stdout }]\n`,
        "config.yaml",
        {}
      )
      assert.strictEqual(shared.delivery.retry.maxAttempts, 3)
      assert.strictEqual(ms(shared.delivery.retry.maxDelay), 5_000)
      assert.deepStrictEqual(yield* yamlProblems(`sinks: &s [{ type: stdout }, *s]`), [
        "invalid YAML at line 1, column 30: the alias *s is inside the anchor &s it repeats (a loop)"
      ])
      // A "billion laughs": nine levels of nine aliases each would be 387 million strings.
      const laughs = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
      for (let i = 1; i <= 9; i++) laughs.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(", ")}]`)
      assert.deepStrictEqual(yield* yamlProblems(laughs.join("\n")), [
        "aliases repeat too much: more than 100 uses of anchors, counting the aliases inside each anchor"
      ])
    }))
})

describe("config: nesting depth is bounded", () => {
  const nested = (levels: number) => "[".repeat(levels) + "]".repeat(levels)

  it("64 levels are read; 65 are a problem at the 65th, in JSON and YAML, however deep the file", () => {
    assert.strictEqual(parseText(`{ "x": ${nested(63)} }`, "json")._tag, "Parsed")
    for (const format of ["json", "yaml"] as const) {
      const language = format.toUpperCase()
      for (const levels of [64, 5_000, 100_000]) {
        assert.deepStrictEqual(parseText(`{ "x": ${nested(levels)} }`, format), {
          _tag: "Invalid",
          problem: `invalid ${language} at line 1, column 71: nested more than 64 levels deep`
        })
      }
    }
    // YAML's indented blocks count as well.
    const blocks = Array.from({ length: 70 }, (_, i) => `${" ".repeat(i)}k:`).join("\n") + " 1"
    assert.deepStrictEqual(parseText(blocks, "yaml"), {
      _tag: "Invalid",
      problem: "invalid YAML at line 65, column 65: nested more than 64 levels deep"
    })
    // Aliases cannot get around the bound.
    const deep = `a: &a ${nested(40)}\nb: [${"[".repeat(30)}*a${"]".repeat(30)}]`
    assert.deepStrictEqual(parseText(deep, "yaml"), { _tag: "Invalid", problem: "nested more than 64 levels deep once its aliases are expanded" })
    // So can compact YAML lists ("- - - x" nests on one line).
    assert.deepStrictEqual(parseText(`${"- ".repeat(5_000)}x`, "yaml"), {
      _tag: "Invalid",
      problem: "invalid YAML at line 1, column 129: nested more than 64 levels deep"
    })
  })

  it("interpolation refuses a value too deep for it, whoever passes it", () => {
    const deep = JSON.parse(`{ "x": ${nested(100_000)} }`)
    assert.deepStrictEqual(interpolate(deep, {}), { value: undefined, problems: [{ path: [], message: "nested more than 64 levels deep" }] })
    assert.deepStrictEqual(interpolate(JSON.parse(`{ "x": ${nested(63)} }`), {}).problems, [])
  })

  it("a file longer than 256 Ki characters is refused before it is parsed", () => {
    const sinks = Array.from({ length: 15_000 }, (_, i) => `{ "type": "file", "name": "f${i}", "path": "p" }`)
    const text = `{ "sinks": [${sinks.join(", ")}] }`
    assert.deepStrictEqual(parseText(text, "json"), {
      _tag: "Invalid",
      problem: `the file has ${text.length} characters, more than the 262144 a config file may have`
    })
  })

  it("validate-config on a file nested 5,000 deep: exit 2, the problem on stderr, nothing on stdout", async () => {
    const dir = tempDir()
    for (const [name, text] of [
      ["deep.json", `{ "sinks": [{ "type": "stdout" }], "x": ${nested(5_000)} }`],
      ["deep.yaml", `sinks: [{ type: stdout }]\nx: ${nested(5_000)}\n`]
    ] as const) {
      const file = path.join(dir, name)
      fs.writeFileSync(file, text)
      const result = await runCli(["validate-config", file])
      // The 64th "[" of x, whose object is the first level.
      const where = name.endsWith(".json") ? "JSON at line 1, column 104" : "YAML at line 2, column 67"
      assert.strictEqual(result.code, 2)
      assert.strictEqual(result.stderr, `${file}: invalid configuration\n  - invalid ${where}: nested more than 64 levels deep\n`)
      assert.strictEqual(result.stdout, "")
    }
  })
})

describe("config: every number has a bound, said in the message", () => {
  it.effect("absurd rates and attempts: 1e400 (Infinity), 1e-300, 1e9", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        yield* problems(`{ "collection": { "maxRequestsPerSecond": 1e400, "minRequestsPerSecond": 1e-300,
          "retry": { "maxAttempts": 1e9 } }, ${stdoutOnly} }`),
        [
          "collection.retry.maxAttempts: expected an integer between 1 and 100; found 1000000000",
          "collection.maxRequestsPerSecond: expected a number between 0.1 and 10000; found Infinity",
          "collection.minRequestsPerSecond: expected a number between 0.1 and 10000; found 1e-300"
        ]
      )
      // The same in YAML, where .inf is a number too.
      assert.deepStrictEqual(yield* yamlProblems(`collection: { maxRequestsPerSecond: .inf }\nsinks: [{ type: stdout }]`), [
        "collection.maxRequestsPerSecond: expected a number between 0.1 and 10000; found Infinity"
      ])
    }))

  it.effect("every duration has a maximum, in every section", () =>
    Effect.gen(function*() {
      const lines = yield* problems(`{
        "collection": { "callTimeout": "11m", "maxCredentialReportAge": "8d", "retry": { "baseDelay": "2h", "maxDelay": "2h" } },
        "schedule": { "interval": "8d", "shutdownTimeout": "11m" },
        "delivery": { "batchWindow": "11m", "retry": { "maxAttempts": 101 } },
        "telemetry": { "metricInterval": "2h" },
        "sinks": [
          { "type": "http", "url": "https://h.test/", "timeout": "11m", "maxRetryAfter": "2h", "batchWindow": "11m" },
          { "type": "kafka", "brokers": ["k:9092"], "topic": "t", "connectTimeout": "2m", "requestTimeout": "3m" }
        ]
      }`)
      assert.sameMembers([...lines], [
        `collection.callTimeout: expected a duration between 1ms and 10m; found "11m"`,
        `collection.retry.baseDelay: expected a duration between 1ms and 1h; found "2h"`,
        `collection.retry.maxDelay: expected a duration between 1ms and 1h; found "2h"`,
        `collection.maxCredentialReportAge: expected a duration between 1s and 7d; found "8d"`,
        `schedule.interval: expected a duration between 1s and 7d; found "8d"`,
        `schedule.shutdownTimeout: expected a duration between 1s and 10m; found "11m"`,
        `delivery.batchWindow: expected a duration between 1ms and 10m; found "11m"`,
        "delivery.retry.maxAttempts: expected an integer between 1 and 100; found 101",
        `telemetry.metricInterval: expected a duration between 1s and 1h; found "2h"`,
        `sinks[0].batchWindow: expected a duration between 1ms and 10m; found "11m"`,
        `sinks[0].timeout: expected a duration between 1ms and 10m; found "11m"`,
        `sinks[0].maxRetryAfter: expected a duration between 1ms and 1h; found "2h"`,
        `sinks[1].connectTimeout: expected a duration between 1ms and 1m; found "2m"`,
        `sinks[1].requestTimeout: expected a duration between 1ms and 2m; found "3m"`
      ])
      // Digits enough to read as Infinity are a duration beyond the maximum, not a wait forever.
      assert.deepStrictEqual(yield* problems(`{ "schedule": { "interval": "${"9".repeat(400)}d" }, ${stdoutOnly} }`), [
        `schedule.interval: expected a duration between 1s and 7d; found "${"9".repeat(60)}…"`
      ])
    }))
})

describe("config: URLs", () => {
  const password = "hunter2-never-shown"

  it.effect("a user name or password in any URL field is refused, never shown, and the message says where the secret goes", () =>
    Effect.gen(function*() {
      const lines = yield* problems(`{
        "aws": { "endpoint": "http://admin:${password}@127.0.0.1:4566" },
        "telemetry": { "endpoint": "https://otel:${password}@collector.test:4318" },
        "sinks": [
          { "type": "http", "url": "https://siem:${password}@siem.test/ingest" },
          { "type": "http", "name": "plain", "url": "siem:${password}@siem.test" }
        ]
      }`)
      const header = `a header: "headers": { "Authorization": "\${TOKEN}" }`
      assert.deepStrictEqual(lines, [
        `aws.endpoint: expected a URL without a user name or password; found "http://<redacted>@127.0.0.1:4566" (put the secret in "accessKeyId" and "secretAccessKey")`,
        `sinks[0].url: expected a URL without a user name or password; found "https://<redacted>@siem.test/ingest" (put the secret in ${header})`,
        `sinks[1].url: expected an http(s) URL like "https://siem.example.com/ingest"; found "<redacted>@siem.test"`,
        `telemetry.endpoint: expected a URL without a user name or password; found "https://<redacted>@collector.test:4318" (put the secret in ${header})`
      ])
      for (const line of lines) assert.notInclude(line, password)
    }))

  it("validate-config refuses a URL with credentials, exit 2, and prints the password nowhere", async () => {
    const file = path.join(tempDir(), "config.yaml")
    fs.writeFileSync(file, `sinks:\n  - type: http\n    url: "http://user:\${HOOK_PASSWORD}@hooks.test/in"\n`)
    const result = await runCli(["validate-config", file], { env: { HOOK_PASSWORD: password } })
    assert.strictEqual(result.code, 2)
    assert.strictEqual(
      result.stderr,
      `${file}: invalid configuration\n  - sinks[0].url: expected a URL without a user name or password; found "http://<redacted>@hooks.test/in" (put the secret in a header: "headers": { "Authorization": "\${TOKEN}" })\n`
    )
    assert.strictEqual(result.stdout, "")
  })

  it.effect("ports fetch refuses are refused where fetch is used (the http sink), and only there", () =>
    Effect.gen(function*() {
      const badPort = (port: number) =>
        `expected a URL on a port that fetch connects to; found "http://hooks.test:${port}/in" (fetch refuses port ${port}, one of the WHATWG "bad ports" such as 25, 6000 and 6665-6669)`
      const lines = yield* problems(`{ "sinks": [
        { "type": "http", "name": "x11", "url": "http://hooks.test:6000/in" },
        { "type": "http", "name": "irc", "url": "http://hooks.test:6667/in" },
        { "type": "http", "name": "smtp", "url": "http://hooks.test:25/in" },
        { "type": "http", "name": "fine", "url": "http://hooks.test:6001/in" }
      ] }`)
      assert.deepStrictEqual(lines, [`sinks[0].url: ${badPort(6000)}`, `sinks[1].url: ${badPort(6667)}`, `sinks[2].url: ${badPort(25)}`])
      // A query may hold a token: not shown either.
      assert.deepStrictEqual(yield* problems(`{ "sinks": [{ "type": "http", "url": "http://hooks.test:6000/in?token=${password}" }] }`), [
        `sinks[0].url: ${badPort(6000).replace("/in\"", "/in?<redacted>\"")}`
      ])
      // The AWS SDK and the OTLP exporters use Node's http module, which connects to any port.
      const config = yield* parse(`{ "aws": { "endpoint": "http://127.0.0.1:6000" }, "telemetry": { "endpoint": "http://otel:6000" }, ${stdoutOnly} }`)
      assert.strictEqual(config.aws.endpoint, "http://127.0.0.1:6000")
      assert.strictEqual(config.telemetry.endpoint, "http://otel:6000")
    }))
})
