/** Vitest global set-up: one mock Kafka cluster for the whole test run; test files take its address with `inject`. */
import type { TestProject } from "vitest/node"
import { startKafkaMock } from "./broker.ts"
import { topicArguments, testTopics } from "./topics.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** The mock's bootstrap address, or why it could not start (the Kafka tests then fail with it). */
    readonly kafkaMock: { readonly bootstrap: string } | { readonly error: string }
  }
}

export default async function setup(project: TestProject) {
  try {
    const mock = await startKafkaMock(topicArguments(Object.values(testTopics)))
    project.provide("kafkaMock", { bootstrap: mock.bootstrap })
    return () => mock.stop()
  } catch (error) {
    project.provide("kafkaMock", { error: error instanceof Error ? error.message : String(error) })
    return undefined
  }
}
