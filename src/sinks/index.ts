/**
 * The sink types the config file may name, in one list: the config schema, `--help` and the opening
 * of sinks all read it.
 */
import type { SinkDefinition } from "../delivery/Sink.ts"
import file from "./file.ts"
import http from "./http.ts"
import kafka from "./kafka.ts"
import stdout from "./stdout.ts"

/** Every sink type the config file may name. A new sink is one file here plus one line below. */
export const sinkDefinitions = [stdout, file, http, kafka] as const satisfies ReadonlyArray<SinkDefinition>

export type SinkConfig = typeof sinkDefinitions[number]["config"]["Type"]
export type SinkType = SinkConfig["type"]

export const sinkDefinition = (type: string): SinkDefinition | undefined =>
  sinkDefinitions.find((d) => d.type === type)
