// Quoted in: README.md
import Logging
import ServiceLifecycle
import UserAppCore
import UserPorts

let logger = Logger(label: "my-app")
let system = try await UserSystem.open(store: "memory:", logger: logger)
// The projection that keeps the directory is one of the system's services: run them.
let group = ServiceGroup(services: system.services, logger: logger)
let running = Task { try await group.run() }

let (ada, token) = try await system.users.withConsistencyToken {
    try await $0.register(email: "ada@example.com", displayName: "Ada")
}
// Waits until the directory includes the registration, then reads it: never a stale answer.
let found = try await system.directory.search(prefix: "ada", consistentWith: token)
print(found.map(\.id) == [ada.id])  // true

await group.triggerGracefulShutdown()
try await running.value
await system.close()
