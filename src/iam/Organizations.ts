/**
 * AWS Organizations, through the door like every AWS call, for discovering a run's accounts
 * (`accounts/discover.ts`): the organization, its roots, the accounts and OUs under each parent,
 * or every account, each listing followed to its last page. Organizations speaks JSON, which the
 * SDK reads itself; what it read is checked here (a listing without its list is BadData), and a
 * listing whose NextToken comes back is refused, as IAM's Marker is.
 */
import {
  DescribeOrganizationCommand,
  ListAccountsCommand,
  ListAccountsForParentCommand,
  ListOrganizationalUnitsForParentCommand,
  ListRootsCommand,
  OrganizationsClient
} from "@aws-sdk/client-organizations"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { OrgAccount, OrganizationReader } from "../accounts/discover.ts"
import type { Door } from "./door.ts"
import { BadData, IamError } from "./IamError.ts"
import { clientConfig, type Connection, scopedClient } from "./sdkClient.ts"

const badAnswer = (action: string, message: string) =>
  new IamError({ action, reason: new BadData({ code: "UnexpectedAnswer", message }) })

interface PageOf<A> {
  readonly items: ReadonlyArray<A> | undefined
  readonly next: string | undefined
}

/** Every page of one listing, in order; a token seen before is an answer not to believe. */
const allPages = <A>(action: string, page: (token: string | undefined) => Effect.Effect<PageOf<A>, IamError>) =>
  Effect.gen(function*() {
    const items: Array<A> = []
    const seen = new Set<string>()
    let token: string | undefined
    do {
      const answer = yield* page(token)
      if (answer.items === undefined) return yield* badAnswer(action, "the answer has no list")
      items.push(...answer.items)
      token = answer.next
      if (token !== undefined) {
        if (seen.has(token)) return yield* badAnswer(action, "NextToken repeats an earlier one: the listing would never end")
        seen.add(token)
      }
    } while (token !== undefined)
    return items
  })

const orgAccount = (a: { Id?: string | undefined; Name?: string | undefined; State?: string | undefined; Status?: string | undefined }) =>
  a.Id === undefined ? undefined : { id: a.Id, name: a.Name, state: a.State ?? a.Status ?? "UNKNOWN" } satisfies OrgAccount

const accountsOf = (action: string, list: ReadonlyArray<Parameters<typeof orgAccount>[0]>) => {
  const accounts = list.map(orgAccount)
  return accounts.some((a) => a === undefined)
    ? Effect.fail(badAnswer(action, "an account without an Id"))
    : Effect.succeed(accounts as ReadonlyArray<OrgAccount>)
}

/** The organization as discovery reads it, through `door` (the management account's Organizations door). */
export const organizationReader = (
  connection: Connection,
  door: Door
): Effect.Effect<OrganizationReader<IamError>, never, Scope.Scope> =>
  Effect.map(scopedClient(() => new OrganizationsClient(clientConfig(connection))), (client) => ({
    describe: door.call("DescribeOrganization", undefined, (abortSignal) =>
      client.send(new DescribeOrganizationCommand({}), { abortSignal })).pipe(
        Effect.flatMap((o) =>
          o.Organization?.Id === undefined || o.Organization.MasterAccountId === undefined
            ? Effect.fail(badAnswer("DescribeOrganization", "no Organization Id or management account"))
            : Effect.succeed({ id: o.Organization.Id, managementAccountId: o.Organization.MasterAccountId })
        )
      ),
    listAccounts: allPages("ListAccounts", (token) =>
      door.call("ListAccounts", undefined, (abortSignal) =>
        client.send(new ListAccountsCommand({ NextToken: token }), { abortSignal }), { listing: true }).pipe(
          Effect.map((o) => ({ items: o.Accounts, next: o.NextToken }))
        )).pipe(Effect.flatMap((list) => accountsOf("ListAccounts", list))),
    listRoots: allPages("ListRoots", (token) =>
      door.call("ListRoots", undefined, (abortSignal) =>
        client.send(new ListRootsCommand({ NextToken: token }), { abortSignal }), { listing: true }).pipe(
          Effect.map((o) => ({ items: o.Roots, next: o.NextToken }))
        )).pipe(Effect.map((roots) => roots.flatMap((r) => r.Id === undefined ? [] : [r.Id]))),
    listAccountsForParent: (parentId) =>
      allPages("ListAccountsForParent", (token) =>
        door.call("ListAccountsForParent", parentId, (abortSignal) =>
          client.send(new ListAccountsForParentCommand({ ParentId: parentId, NextToken: token }), { abortSignal }), { listing: true }).pipe(
            Effect.map((o) => ({ items: o.Accounts, next: o.NextToken }))
          )).pipe(Effect.flatMap((list) => accountsOf("ListAccountsForParent", list))),
    listOrganizationalUnitsForParent: (parentId) =>
      allPages("ListOrganizationalUnitsForParent", (token) =>
        door.call("ListOrganizationalUnitsForParent", parentId, (abortSignal) =>
          client.send(new ListOrganizationalUnitsForParentCommand({ ParentId: parentId, NextToken: token }), { abortSignal }), { listing: true })
          .pipe(Effect.map((o) => ({ items: o.OrganizationalUnits, next: o.NextToken })))).pipe(
          Effect.map((units) => units.flatMap((u) => u.Id === undefined ? [] : [u.Id]))
        )
  }))
