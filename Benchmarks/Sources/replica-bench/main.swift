// replica-bench: the directory replicas side by side on the same events: how fast each applies them, and how
// fast it answers prefix searches and counts.
//
//   replica-bench --replica sqlite:/tmp/r.sqlite --users 20000 --changes 20000 --queries 20000 --clients 8
//   replica-bench --replica postgres://…/empty …
//   replica-bench --replica 'redis://:pw@127.0.0.1:6379/0?prefix=bench:' …
//
// The events are made in memory, the same for every replica (a fixed seed): `--users` registrations, then
// `--changes` renames and deactivations spread over them. They are applied as a directory service's follower
// applies a backfill: pages of 500 with their position. Then `--clients` concurrent callers run `--queries`
// prefix searches (a random one- or two-syllable prefix of the names, limit 20), then as many counts. One JSON
// line on stdout.
import Foundation
import UserDomain
import UserPorts
import UserPostgres
import UserRedis
import UserSQLite

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

var target = "sqlite:/tmp/replica-bench.sqlite"
var users = 20_000
var changes = 20_000
var queries = 20_000
var clients = 8
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    guard let value = arguments.next() else { throw BenchError("\(argument) needs a value") }
    switch argument {
    case "--replica": target = value
    case "--users": users = Int(value) ?? users
    case "--changes": changes = Int(value) ?? changes
    case "--queries": queries = Int(value) ?? queries
    case "--clients": clients = max(1, Int(value) ?? clients)
    default: throw BenchError("unknown option \(argument)")
    }
}

let replica: any DirectoryReplica
let backend: String
var close: @Sendable () async -> Void = {}
if target.hasPrefix("sqlite:") {
    let path = String(target.dropFirst("sqlite:".count))
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    let sqlite = try await SQLiteDirectoryReplica.open(path: path)
    (replica, backend, close) = (sqlite, "sqlite", { await sqlite.close() })
} else if target.hasPrefix("postgres") {
    let postgres = try await PostgresDirectoryReplica.open(url: target, maximumConnections: clients)
    (replica, backend, close) = (postgres, "postgres", { await postgres.close() })
} else if target.hasPrefix("redis://") {
    let redis = try await RedisDirectoryReplica.open(url: target, connections: clients)
    (replica, backend, close) = (redis, "redis", { await redis.close() })
} else {
    throw BenchError("--replica must be sqlite:PATH, postgres://… or redis://…")
}
try await replica.reset()

// The events: names from syllables, so that prefixes spread as real names do.
var random = Mixer(state: 42)
let syllables = ["ka", "lo", "mi", "ra", "to", "ve", "su", "an", "el", "or", "ni", "pa", "de", "jo", "ba", "fi"]
@MainActor func name() -> String {
    (0..<3).map { _ in syllables[Int(random.next() % UInt64(syllables.count))] }.joined().capitalized
}
let start = Date(timeIntervalSince1970: 1_700_000_000)
var ids: [UserID] = []
var versions: [Int] = []
var names: [DisplayName] = []
var events: [UserEventEnvelope] = []
for index in 0..<users {
    let id = UserID(UUID())
    let display = try DisplayName("\(name()) \(index)")
    ids.append(id)
    versions.append(1)
    names.append(display)
    events.append(
        UserEventEnvelope(
            eventID: UUID(), userID: id, userVersion: 1, occurredAt: start.addingTimeInterval(Double(index)),
            event: .registered(email: try EmailAddress("\(name().lowercased())\(index)@example.com"), displayName: display)))
}
var deactivated: Set<Int> = []
for change in 0..<changes {
    let index = Int(random.next() % UInt64(users))
    versions[index] += 1
    let event: UserEvent
    if change % 10 == 9, deactivated.insert(index).inserted {
        event = .deactivated
    } else {
        let renamed = try DisplayName("\(name()) \(index)")
        event = .renamed(displayName: renamed, previous: names[index])
        names[index] = renamed
    }
    events.append(
        UserEventEnvelope(
            eventID: UUID(), userID: ids[index], userVersion: versions[index],
            occurredAt: start.addingTimeInterval(Double(users + change)), event: event))
}

// Apply, as a backfill: pages of 500 with their position.
let applyStart = ContinuousClock.now
var applied = 0
for page in stride(from: 0, to: events.count, by: 500) {
    let slice = Array(events[page..<min(page + 500, events.count)])
    applied += try await replica.applyBackfill(slice, reaching: EventPosition(rawValue: Int64(page + slice.count))).applied
}
let applySeconds = (ContinuousClock.now - applyStart).seconds
guard applied == events.count else { throw BenchError("applied \(applied) of \(events.count) events") }

/// Runs `count` calls over `clients` concurrent callers; calls per second.
func rate(_ count: Int, clients: Int, _ call: @escaping @Sendable (Int) async throws -> Int) async throws
    -> (Double, Int)
{
    let begin = ContinuousClock.now
    let rows = try await withThrowingTaskGroup(of: Int.self) { group in
        for client in 0..<clients {
            group.addTask {
                var rows = 0
                for index in stride(from: client, to: count, by: clients) { rows += try await call(index) }
                return rows
            }
        }
        return try await group.reduce(0, +)
    }
    return (Double(count) / (ContinuousClock.now - begin).seconds, rows)
}
let prefixes = (0..<256).map { index -> String in
    let first = syllables[index % syllables.count]
    return index % 2 == 0 ? first : first + syllables[(index / syllables.count) % syllables.count]
}
let (searchRate, found) = try await rate(queries, clients: clients) { index in
    try await replica.search(prefix: prefixes[index % prefixes.count], limit: 20).count
}
let (countRate, _) = try await rate(queries, clients: clients) { _ in try await replica.statistics().total }
await close()

let result: [String: Any] = [
    "replica": backend, "users": users, "events": events.count, "apply_events_per_s": Int(Double(events.count) / applySeconds),
    "clients": clients, "search_per_s": Int(searchRate), "rows_per_search": Double(found) / Double(max(1, queries)),
    "counts_per_s": Int(countRate),
]
let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// SplitMix64: the same names on every run and for every replica.
struct Mixer {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
