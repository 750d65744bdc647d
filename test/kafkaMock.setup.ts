import type { TestProject } from "vitest/node"
import { startKafkaMock } from "./kafkaMock.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** The mock's bootstrap address, or why it could not start (the Kafka tests then fail with it). */
    readonly kafkaMock: { readonly bootstrap: string } | { readonly error: string }
  }
}

/** One mock Kafka cluster for the whole test run; test files take its address with `inject`. */
export default function setup(project: TestProject) {
  try {
    // A partition count that is not a power of 2 shows which partitioner placed the keys.
    const mock = startKafkaMock(["iam-ocsf-three-partitions:3"])
    project.provide("kafkaMock", { bootstrap: mock.bootstrap })
    return () => mock.stop()
  } catch (error) {
    project.provide("kafkaMock", { error: error instanceof Error ? error.message : String(error) })
    return undefined
  }
}
