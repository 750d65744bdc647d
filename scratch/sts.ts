import { fromTemporaryCredentials } from "@aws-sdk/credential-providers"
import { IAMClient, ListUsersCommand } from "@aws-sdk/client-iam"
import { startEmulator } from "../emulator/index.ts"

const emu = await startEmulator({ users: 3, organization: { accounts: 3, usersPerAccount: 2, sessionLifetime: { calls: 3 } } })
const base = { accessKeyId: "AKIABASE", secretAccessKey: "base-secret" }
let sent = 0
const plugin = {
  applyToStack: (stack: any) => {
    stack.add((next: any, context: any) => async (args: any) => {
      sent++
      console.log("through door:", context.commandName, context.clientName)
      return next(args)
    }, { step: "initialize", name: "iamOcsfDoor", override: true })
  }
}
const provider = fromTemporaryCredentials({
  params: { RoleArn: "arn:aws:iam::200000000001:role/iam-ocsf-reader", RoleSessionName: "iam-ocsf", DurationSeconds: 3600 },
  masterCredentials: base,
  clientConfig: { region: "us-east-1", endpoint: emu.url, maxAttempts: 1 },
  clientPlugins: [plugin]
})
const iam = new IAMClient({ region: "us-east-1", endpoint: emu.url, credentials: provider, maxAttempts: 1 })
for (let i = 0; i < 5; i++) {
  try {
    const out = await iam.send(new ListUsersCommand({}))
    console.log(i, out.Users?.map((u) => u.Arn))
  } catch (e: any) { console.log(i, "error", e.name, e.$metadata?.httpStatusCode, e.message) }
}
console.log("sts calls through door:", sent)
await emu.close()
