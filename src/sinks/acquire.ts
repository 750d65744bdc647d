/**
 * Opening the sinks a config names, each with its delivery settings (the `delivery` section with
 * the entry's own overrides): what a run and `iam-ocsf replay` deliver to.
 */
import * as Effect from "effect/Effect"
import { type DeliveryTarget, deliverySettings } from "../delivery/Delivery.ts"
import type { DeliveryConfig } from "../delivery/DeliveryConfig.ts"
import { sinkDefinition } from "./index.ts"
import type { SinkEntry } from "./SinksConfig.ts"

/** The part of the config that says where events go. */
export interface SinksSettings {
  readonly sinks: ReadonlyArray<SinkEntry>
  readonly delivery: DeliveryConfig
}

/** The sinks of the config (all, or those `only` names), each with its delivery settings; closed with the scope. */
export const acquireSinks = (config: SinksSettings, only?: ReadonlySet<string>) =>
  Effect.forEach(config.sinks.filter((entry) => only === undefined || only.has(entry.name)), (entry) => {
    const definition = sinkDefinition(entry.type)
    // The config schema only admits registered types, so this cannot happen; say so if it does.
    if (definition === undefined) return Effect.die(new Error(`no sink of type ${entry.type}`))
    return definition.make(entry, entry.name).pipe(
      Effect.map((sink): DeliveryTarget => ({ sink, settings: deliverySettings(config.delivery, entry) }))
    )
  })
