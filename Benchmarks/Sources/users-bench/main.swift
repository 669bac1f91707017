// users-bench: the users-v1 workload (Benchmarks/WORKLOAD.md) through the repository port.
//
//   users-bench --store sqlite:/tmp/b.sqlite --users 20000 --lookups 100000
//   users-bench --store memory:
//   users-bench --store postgres://user:pass@127.0.0.1:5432/empty_a --batch-store postgres://…/empty_b
//
// `insert` runs on the store, `insertBatch` (through the bulk-import API, `UserRepository.insert(_:)`) on a
// second fresh one (for SQLite the same path with `-batch`, for PostgreSQL `--batch-store`, an empty
// database), and the later phases on that second store.
//
// One JSON line per phase on stdout, nothing else; notes go to stderr.
import Foundation
import Logging
import UserAppCore
import UserDomain
import UserInMemory
import UserPorts
import UserPostgres
import UserSQLite

struct Options {
    var store = "memory:"
    var batchStore: String?
    var users = 20_000
    var lookups = 100_000
    /// `--only PHASE` (for profiling one phase): the other phases are skipped, except insertBatch, which
    /// loads the data the later phases read (it is then run but not reported).
    var only: String?
    /// `--erased 1`: the stores wrapped in `AnyUserStore` (what `UserSystem.open(store:)` hands an embedder), to
    /// measure what its forwarding costs.
    var erased = false

    func includes(_ phase: String) -> Bool { only == nil || only == phase }

    init(_ arguments: [String]) throws {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            guard let value = iterator.next() else { throw BenchError("\(argument) needs a value") }
            switch argument {
            case "--store": store = value
            case "--batch-store": batchStore = value
            case "--users": users = try Self.int(value)
            case "--lookups": lookups = try Self.int(value)
            case "--only": only = value
            case "--erased": erased = value == "1"
            default: throw BenchError("unknown option \(argument)")
            }
        }
    }

    static func int(_ text: String) throws -> Int {
        guard let value = Int(text), value > 0 else { throw BenchError("\(text) is not a positive number") }
        return value
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// SplitMix64, as WORKLOAD.md draws lookups.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A fresh, empty store for the URL; for a SQLite file, the file is recreated.
func makeStore(_ url: String, fresh: Bool, erased: Bool) async throws -> (
    store: any UserStore, close: @Sendable () async -> Void, backend: String
) {
    guard erased else { return try await makeStore(url, fresh: fresh) }
    // The store as an embedder gets it by URL: `UserSystem.open(store:)`'s `AnyUserStore`.
    let (first, closeFirst, backend) = try await makeStore(url, fresh: fresh)
    await closeFirst()  // it made the store fresh; the system opens it again
    _ = first
    let system = try await UserSystem.open(
        store: url, events: .none, options: .init(directory: false), logger: Logger(label: "users-bench"))
    return (system.store, { await system.close() }, backend)
}

func makeStore(_ url: String, fresh: Bool) async throws -> (
    store: any UserStore, close: @Sendable () async -> Void, backend: String
) {
    if url == "memory:" {
        let store = InMemoryUserStore()
        return (store, {}, "memory")
    }
    if url.hasPrefix("sqlite:") {
        let path = String(url.dropFirst("sqlite:".count))
        if fresh {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        // What `users serve` does for its own process (an opt-in since the store stopped doing it unasked).
        SQLiteUserStore.configureProcess()
        let store = try await SQLiteUserStore.open(.init(path: path))
        return (store, { await store.close() }, "sqlite")
    }
    if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
        // The database must be empty: Benchmarks/run.sh creates a fresh one for each run.
        let store = try await PostgresUserStore.open(.init(url: url, maximumConnections: 8, listensForCommits: false))
        return (store, { await store.close() }, "postgres")
    }
    throw BenchError("unsupported store \(url) (memory:, sqlite:PATH, postgres://…)")
}

func workloadUser(_ i: Int) -> User {
    let hex = String(i, radix: 16)
    let id = UserID("00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - hex.count) + hex)!
    let at = Date(timeIntervalSince1970: TimeInterval(1_700_000_000 + i))
    return User(
        id: id, email: try! EmailAddress("user\(i)@example.com"), displayName: try! DisplayName("User \(i)"),
        status: .active, version: 1, createdAt: at, updatedAt: at)
}

func report(_ backend: String, _ phase: String, ops: Int, seconds: Double) {
    let line =
        #"{"peer":"swift-user-domain","backend":"\#(backend)","phase":"\#(phase)","ops":\#(ops),"seconds":\#(String(format: "%.3f", seconds)),"ops_per_s":\#(Int((Double(ops) / seconds).rounded()))}"#
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func time(_ body: () async throws -> Int) async rethrows -> (Int, Double) {
    let start = ContinuousClock.now
    let ops = try await body()
    let elapsed = ContinuousClock.now - start
    return (ops, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

func run(_ options: Options) async throws {
    let n = options.users
    let l = options.lookups
    let users = (0..<n).map(workloadUser)
    let ids = UUIDv7Generator()

    func registration(_ user: User) -> UserEventEnvelope {
        UserEventEnvelope(
            eventID: ids.makeEventID(), userID: user.id, userVersion: 1, occurredAt: user.createdAt,
            event: .registered(email: user.email, displayName: user.displayName))
    }

    // 1. insert: one user (and its registration event) per transaction.
    let (first, closeFirst, backend) = try await makeStore(options.store, fresh: true, erased: options.erased)
    if options.includes("insert") {
        let (inserted, insertSeconds) = try await time {
            for user in users {
                try await first.save(user, expectedVersion: 0, events: [registration(user)])
            }
            return users.count
        }
        report(backend, "insert", ops: inserted, seconds: insertSeconds)
    }
    await closeFirst()
    if options.only == "insert" { return }

    // 2. insertBatch: the same users into an empty store, 1,000 (with their events) per transaction.
    let batchURL: String
    switch backend {
    case "sqlite": batchURL = options.store + "-batch"
    case "postgres":
        guard let url = options.batchStore else {
            throw BenchError("--batch-store (a second empty database) is needed for insertBatch on PostgreSQL")
        }
        batchURL = url
    default: batchURL = options.store
    }
    let (store, close, _) = try await makeStore(batchURL, fresh: true, erased: options.erased)
    let changes = users.map { UserChange(user: $0, events: [registration($0)]) }
    let (batched, batchSeconds) = try await time {
        var count = 0
        for start in stride(from: 0, to: changes.count, by: 1000) {
            let outcome = try await store.insert(Array(changes[start..<min(start + 1000, changes.count)]))
            precondition(outcome.rejected.isEmpty, "insertBatch rejected \(outcome.rejected.count)")
            count += outcome.insertedCount
        }
        return count
    }
    if options.includes("insertBatch") { report(backend, "insertBatch", ops: batched, seconds: batchSeconds) }

    // 3. getById
    if options.includes("getById") {
        var draw = SplitMix64(state: 42)
        let lookupIDs = (0..<l).map { _ in users[Int(draw.next() % UInt64(n))].id }
        let (found, getSeconds) = try await time {
            var found = 0
            for id in lookupIDs where try await store.user(id: id) != nil { found += 1 }
            return found
        }
        precondition(found == l, "getById found \(found) of \(l)")
        report(backend, "getById", ops: l, seconds: getSeconds)
    }

    // 4. getByEmail
    if options.includes("getByEmail") {
        var draw = SplitMix64(state: 42)
        let lookupEmails = (0..<l).map { _ in users[Int(draw.next() % UInt64(n))].email }
        let (foundByEmail, emailSeconds) = try await time {
            var found = 0
            for email in lookupEmails where try await store.user(email: email) != nil { found += 1 }
            return found
        }
        precondition(foundByEmail == l)
        report(backend, "getByEmail", ops: l, seconds: emailSeconds)
    }

    // 5. update: rename every user once at version 1, with its event.
    if options.includes("update") {
        let (updated, updateSeconds) = try await time {
            for (i, user) in users.enumerated() {
                let change = try user.renamed(
                    to: DisplayName("Renamed \(i)"), at: Date(timeIntervalSince1970: 1_800_000_000),
                    eventID: ids.makeEventID())
                try await store.save(change.user, expectedVersion: 1, events: change.events)
            }
            return users.count
        }
        report(backend, "update", ops: updated, seconds: updateSeconds)
    }

    // 6. listAll: keyset pages of 100.
    if options.includes("listAll") {
        let (listed, listSeconds) = try await time {
            var count = 0
            var cursor: PageCursor?
            repeat {
                let page = try await store.page(after: cursor, limit: 100)
                count += page.users.count
                cursor = page.nextCursor
            } while cursor != nil
            return count
        }
        precondition(listed == n)
        report(backend, "listAll", ops: listed, seconds: listSeconds)
    }

    // 7. concurrentGet: 8 tasks, each L/8 lookups with its own draw.
    if options.includes("concurrentGet") {
        let (concurrent, concurrentSeconds) = try await time {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<8 {
                    var draw = SplitMix64(state: 42 + UInt64(task))
                    let taskIDs = (0..<l / 8).map { _ in users[Int(draw.next() % UInt64(n))].id }
                    group.addTask {
                        var found = 0
                        for id in taskIDs where try await store.user(id: id) != nil { found += 1 }
                        return found
                    }
                }
                return try await group.reduce(0, +)
            }
        }
        precondition(concurrent == l / 8 * 8)
        report(backend, "concurrentGet", ops: concurrent, seconds: concurrentSeconds)
    }
    await close()
}

let options: Options
do {
    options = try Options(CommandLine.arguments)
} catch {
    FileHandle.standardError.write(Data("users-bench: \(error)\n".utf8))
    exit(64)
}
let finished = DispatchSemaphore(value: 0)
// The loops run in a detached task: awaits from main.swift's top level would hop through the main thread.
Task.detached {
    do {
        try await run(options)
    } catch {
        FileHandle.standardError.write(Data("users-bench: \(error)\n".utf8))
        exit(1)
    }
    finished.signal()
}
finished.wait()
