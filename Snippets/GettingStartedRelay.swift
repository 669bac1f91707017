// Quoted in: Sources/Ports/UserPorts.docc/GettingStarted.md
import Logging
import ServiceLifecycle
import UserInMemory
import UserPorts

let logger = Logger(label: "my-app")
let store = InMemoryUserStore()
let bus = InMemoryEventBus()
let relay = OutboxRelay(outbox: store, publisher: bus, logger: logger)
let subscription = await bus.subscribe()

let group = ServiceGroup(services: [relay], logger: logger)   // graceful shutdown on SIGTERM
// snippet.hide
let running = Task { try await group.run() }
_ = try await UserService(repository: store).register(email: "ada@example.com", displayName: "Ada")
for await event in subscription {
    precondition(event.type == "user.registered")
    break
}
await group.triggerGracefulShutdown()
try await running.value
