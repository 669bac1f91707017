// Quoted in: README.md
import Logging
import UserDomain
import UserInMemory
import UserPorts

let logger = Logger(label: "my-app")
let store = InMemoryUserStore()
let users = UserService(repository: store)
let bus = InMemoryEventBus()
let relay = OutboxRelay(outbox: store, publisher: bus, logger: logger)   // run it in your ServiceGroup
let events = await bus.subscribe()

let ada = try await users.register(email: "Ada@Example.com", displayName: "Ada Lovelace")
let renamed = try await users.rename(ada.id, to: "Countess of Lovelace", expectedVersion: ada.version)
try await relay.publishPendingEvents()                                    // or let the running relay do it
await bus.finish()                                  // ends the subscriptions once they have read what was sent
for await event in events { print(event.type, event.userVersion) }       // user.registered 1, user.renamed 2
