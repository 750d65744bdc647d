/**
 * The OCSF 1.6.0 JSON Schemas vendored in `ocsf-1.6.0/`, compiled with ajv: a validator per
 * class and variant, and the errors of one event in a form a failing assertion shows plainly.
 */
// the named export: under NodeNext, TypeScript types this CJS module's default import as the
// module object (not constructable), while Node gives the class for both
import { Ajv2020, type Options, type ValidateFunction } from "ajv/dist/2020.js"
import { readFileSync } from "node:fs"
import { resolve } from "node:path"

export type OcsfClass = "user_inventory" | "account_change"
export type SchemaVariant = "core" | "core.lint" | "cloud" | "cloud.lint"

const fileOf = (ocsfClass: OcsfClass, variant: SchemaVariant): string => ({
  "core": `${ocsfClass}-1.6.0.schema.json`,
  "core.lint": `${ocsfClass}-1.6.0.lint.schema.json`,
  "cloud": `${ocsfClass}-1.6.0-cloud.schema.json`,
  "cloud.lint": `${ocsfClass}-1.6.0-cloud.lint.schema.json`
})[variant]

// `strict`: a keyword ajv does not know is an error, not ignored; `additionalProperties: false`
// in the schemas fails an event with an attribute OCSF does not define.
const options: Options = { strict: true, strictRequired: false, strictTypes: false, allErrors: true, removeAdditional: false }

const compiled = new Map<string, ValidateFunction>()

/** The validator of one schema; one ajv instance per schema, since a schema and its lint twin share an $id. */
export const ocsfValidator = (ocsfClass: OcsfClass, variant: SchemaVariant): ValidateFunction => {
  const file = fileOf(ocsfClass, variant)
  let validate = compiled.get(file)
  if (validate === undefined) {
    const schema = JSON.parse(readFileSync(resolve(import.meta.dirname, "ocsf-1.6.0", file), "utf8")) as object
    validate = new Ajv2020(options).compile(schema)
    compiled.set(file, validate)
  }
  return validate
}

/** The event's problems as "path keyword message" lines; empty when it is valid. */
export const schemaErrors = (validate: ValidateFunction, event: unknown): Array<string> =>
  validate(event) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.keyword} ${e.message}`)
