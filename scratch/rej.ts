import * as Effect from "effect/Effect"
import { IamError, AccessDenied } from "../src/iam/IamError.ts"
const e = new IamError({ action: "AssumeRole", reason: new AccessDenied({ code: "AccessDenied", message: "no" }) })
Effect.runPromise(Effect.fail(e)).catch((x) => console.log(x === e, x instanceof IamError, x?.constructor?.name, Object.keys(x)))
