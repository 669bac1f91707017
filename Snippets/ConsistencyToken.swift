// Quoted in: README.md
// snippet.hide
import Logging
import UserApp

let system = try await UserSystem.open(
    try UserAppConfiguration(reader: try await UserAppConfiguration.reader(
        arguments: ["users.store": "memory:"], environment: [:])),
    logger: Logger(label: "snippet"))
// snippet.show
let (ada, token) = try await system.users.withConsistencyToken {
    try await $0.register(email: "ada@example.com", displayName: "Ada")
}
// snippet.hide
// The projection runs as a service of the system (`system.services`); here it catches up by hand.
try await system.projection.catchUp()
// snippet.show
let found = try await system.directory.search(prefix: "ada", consistentWith: token)
// snippet.hide
precondition(found.map(\.id) == [ada.id])
await system.close()
