// Quoted in: Sources/Ports/UserPorts.docc/GettingStarted.md
import Logging
import UserInMemory
import UserPorts

let logger = Logger(label: "my-app")
let store = InMemoryUserStore()
let users = UserService(repository: store, logger: logger)

let ada = try await users.register(email: "Ada@Example.com", displayName: "Ada Lovelace")
let same = try await users.user(email: "ada@example.com")          // case-insensitive
let next = try await users.rename(ada.id, to: "Countess", expectedVersion: ada.version)
// snippet.hide
precondition(same?.id == ada.id && next.version == 2)
