// Quoted in: README.md
// snippet.hide
import Foundation

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("url-snippet-\(UUID())")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
_ = FileManager.default.changeCurrentDirectoryPath(folder.path)
defer { try? FileManager.default.removeItem(at: folder) }
// snippet.show
import Logging
import UserAppCore

let logger = Logger(label: "my-app")
// memory:, sqlite:PATH or postgres://user:pass@host/db, from wherever your app keeps its settings
let system = try await UserSystem.open(store: "sqlite:users.sqlite", publisher: .memory, logger: logger)
let events = await system.bus!.subscribe()
let ada = try await system.users.register(email: "ada@example.com", displayName: "Ada")
try await system.relay!.publishPendingEvents()            // or run system.services in your ServiceGroup
await system.close()                                       // ends the bus's subscriptions, closes the store
for await event in events { print(event.type, event.userID == ada.id) }     // user.registered true
