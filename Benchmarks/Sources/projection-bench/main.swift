// projection-bench: how fast the directory projection applies a store's event history to its directory.
//
//   projection-bench --store sqlite:/tmp/p.sqlite --users 20000 --changes 20000
//   projection-bench --store postgres://…/empty --users 20000 --changes 20000
//
// It opens the store as an app does (`UserSystem.open`, the directory on), registers `--users` users and makes
// `--changes` renames (spread over them) through the repository port (the system's services are not run, so
// nothing is projected yet), then times the system's own projection catching up from an empty directory to the
// end of the history, in its default batches. One JSON line on stdout.
import Foundation
import Logging
import UserAppCore
import UserDomain
import UserPorts
import UserPostgres
import UserSQLite

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

var store = "memory:"
var users = 20_000
var changes = 20_000
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    guard let value = arguments.next() else { throw BenchError("\(argument) needs a value") }
    switch argument {
    case "--store": store = value
    case "--users": users = Int(value) ?? users
    case "--changes": changes = Int(value) ?? changes
    default: throw BenchError("unknown option \(argument)")
    }
}
if store.hasPrefix("sqlite:") {
    let path = String(store.dropFirst("sqlite:".count))
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    SQLiteUserStore.configureProcess()
}
let logger = Logger(label: "projection-bench")
let system = try await UserSystem.open(store: store, events: .none, logger: logger)
guard let projection = system.projection else { throw BenchError("the system keeps no directory") }
let backend = store.hasPrefix("sqlite:") ? "sqlite" : store.hasPrefix("postgres") ? "postgres" : "memory"
let start = Date(timeIntervalSince1970: 1_700_000_000)
var batch: [UserChange] = []
for i in 0..<users {
    batch.append(
        User.register(
            id: UserID(UUID()), email: try EmailAddress("user\(i)@example.com"),
            displayName: try DisplayName("User \(i)"), at: start.addingTimeInterval(Double(i)), eventID: UUID()))
    if batch.count == 1000 || i == users - 1 {
        _ = try await system.store.insert(batch)
        batch = []
    }
}
let ids = try await {
    var ids: [User] = []
    var cursor: PageCursor?
    repeat {
        let page = try await system.store.page(after: cursor, limit: 1000)
        ids += page.users
        cursor = page.nextCursor
    } while cursor != nil
    return ids
}()
var current = ids
for i in 0..<changes {
    let index = i % current.count
    let change = try current[index].renamed(
        to: DisplayName("Renamed \(i)"), at: start.addingTimeInterval(Double(users + i)), eventID: UUID())
    try await system.store.save(change.user, expectedVersion: current[index].version, events: change.events)
    current[index] = change.user
}
FileHandle.standardError.write(Data("== \(backend): \(users + changes) events written; projecting\n".utf8))
let clock = ContinuousClock()
var applied = 0
let elapsed = try await clock.measure { applied = try await projection.catchUp().applied }
guard applied == users + changes else { throw BenchError("projected \(applied) of \(users + changes) events") }
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print(
    #"{"backend":"\#(backend)","phase":"project","events":\#(applied),"seconds":\#(String(format: "%.3f", seconds)),"events_per_s":\#(Int(Double(applied) / seconds))}"#
)
await system.close()
