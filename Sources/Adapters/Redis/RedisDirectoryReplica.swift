import Foundation
public import Logging
public import UserDomain
public import UserPorts

/// A `DirectoryReplica` in Redis (over hiredis): the read side of CQRS in a store built for reads. Prefix search
/// reads two sorted sets by range (`ZRANGE … BYLEX`), counts are two counters; every key is under a prefix of
/// its own (`RedisDirectoryKeys`), so several directories share one Redis.
///
/// **Applying.** A batch is applied optimistically, in two round trips: `WATCH` the directory's `meta` key and
/// the batch's users' rows, read them, run the version rule (`ReplicaBatch`, the same code as every replica's)
/// and write the rows that changed, their index members, the counters and the backfill position in one
/// `MULTI`/`EXEC`. Redis runs the transaction only when no watched key changed since it was read (another
/// applier's write, a reset, a `FLUSHALL`); otherwise it runs none of it, and the batch is read and worked out
/// again. So a batch and its position are all or nothing, and racing appliers never apply one version twice.
///
/// **Losing data.** Redis is often run as a cache: a restart without persistence, a `FLUSHALL` or a restore of
/// an older snapshot takes data it had acknowledged. The directory's `meta` key holds an `epoch`, new at each
/// reset; this replica remembers the epoch it works on and the highest backfill position it saw. When the epoch
/// is gone or another, or the position went back, every call throws `UserStoreError` code `dataLost` (never an
/// answer from what is left) until ``reset()`` starts a new epoch, which the directory service's follower does
/// before it rebuilds the directory from the event history.
///
/// Every call runs on a connection's own queue (`RedisClient`), never on Swift's cooperative pool; a lost
/// connection is made again, with a backoff after a failed connect. The server must not evict keys on its own
/// (`maxmemory-policy` `noeviction`, the default, or a `volatile-*` one: no key here expires): ``open(url:connections:logger:)``
/// refuses an `allkeys-*` policy. Redis Cluster is not supported (a search reads several keys in one script).
public final class RedisDirectoryReplica: DirectoryReplica {
    private let url: RedisURL
    private let keys: RedisDirectoryKeys
    private let clients: [RedisClient]
    private let next = Locked(0)
    /// The epoch this replica works on, and the highest backfill position it read or wrote in it.
    private let seen: Locked<(epoch: String, position: Int64)>
    private let scripts = RedisScriptCache()
    private let logger: Logger

    /// The most times a batch is worked out again after another writer changed one of its keys.
    private static let maximumAttempts = 100

    private init(url: RedisURL, clients: [RedisClient], epoch: String, position: Int64, logger: Logger) {
        self.url = url
        self.keys = RedisDirectoryKeys(prefix: url.prefix)
        self.clients = clients
        self.seen = Locked((epoch, position))
        self.logger = logger
    }

    /// Connects, checks the server keeps keys until they are deleted, and takes up the directory under the
    /// URL's prefix (creating it, empty, when there is none).
    ///
    /// - Parameters:
    ///   - url: `redis://[user[:password]@]host[:port][/db][?prefix=…&timeoutMs=…]` (see the adapter's
    ///     documentation); its password is never logged.
    ///   - connections: connections in use at once (each on a queue of its own).
    ///   - logger: for connects, losses and warnings.
    /// - Throws: `UserStoreError`: `invalidConfiguration` for a malformed URL, `rediss://`, or an `allkeys-*`
    ///   eviction policy; `accessDenied` for refused credentials; `unavailable` when the server can't be reached;
    ///   `incompatibleSchema` for a directory written by a newer layout.
    public static func open(
        url: String, connections: Int = 2,
        logger: Logger = Logger(label: "user-redis.replica", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws -> RedisDirectoryReplica {
        let url = try RedisURL(url)
        let clients = (0..<max(1, connections)).map { _ in RedisClient(url: url, logger: logger) }
        let keys = RedisDirectoryKeys(prefix: url.prefix)
        let fresh = UUID().uuidString
        do {
            let (policy, meta) = try await clients[0].run(retrying: true) { connection in
                let policy = try connection.command(["CONFIG", "GET", "maxmemory-policy"])
                let meta = try connection.pipeline([
                    ["HSETNX", keys.meta, "epoch", fresh], ["HSETNX", keys.meta, "format", RedisDirectoryKeys.format],
                    ["HMGET", keys.meta, "epoch", "position", "format"],
                ])
                return (policy, try meta.map { try $0.checked() }[2].elements.map(\.text))
            }
            if let name = policy.elements.last?.text, name.hasPrefix("allkeys-") {
                throw UserStoreError(
                    .invalidConfiguration,
                    "Redis at \(url.redacted) evicts keys on its own (maxmemory-policy \(name)): the directory "
                        + "would lose users without a word. Set maxmemory-policy noeviction (or a volatile-* policy).")
            } else if case .error = policy {
                logger.notice(
                    "redis CONFIG GET is not allowed; make sure maxmemory-policy keeps the directory's keys",
                    metadata: ["url": "\(url.redacted)"])
            }
            guard meta.count == 3, let epoch = meta[0] ?? nil else {
                throw UserStoreError(.corrupt, "The directory's meta key in Redis at \(url.redacted) can't be read.")
            }
            guard (meta[2] ?? nil) == RedisDirectoryKeys.format else {
                throw UserStoreError(
                    .incompatibleSchema,
                    "The directory under \(url.prefix) in Redis at \(url.redacted) has layout \((meta[2] ?? nil) ?? "?"); "
                        + "this version reads layout \(RedisDirectoryKeys.format).")
            }
            let position = (meta[1] ?? nil).flatMap { Int64($0) } ?? 0
            return RedisDirectoryReplica(url: url, clients: clients, epoch: epoch, position: position, logger: logger)
        } catch {
            for client in clients { await client.close() }
            throw error
        }
    }

    /// Closes the connections; later calls throw `UserStoreError` code `closed`.
    public func close() async {
        for client in clients { await client.close() }
    }

    // MARK: Writes

    /// Applies events in order by the version rule, with the backfill position, in one `MULTI`/`EXEC` guarded by
    /// `WATCH` (see the type's documentation).
    public func apply(_ events: [UserEventEnvelope], reaching position: EventPosition?) async throws
        -> [ReplicaOutcome]
    {
        guard !events.isEmpty || position != nil else { return [] }
        let ids = Array(Set(events.map(\.userID)))
        let (keys, seen, lost) = (self.keys, self.seen, lostError)
        let (outcomes, epoch, stored) = try await client().run(retrying: true) { connection in
            for _ in 0..<Self.maximumAttempts {
                // What this replica works on now: a reset by this replica since the call began is taken up.
                let expected = seen.withLock { $0 }
                let userKeys = ids.map(keys.user)
                var reads = [["WATCH", keys.meta] + userKeys, ["HMGET", keys.meta, "epoch", "position"]]
                if !userKeys.isEmpty { reads.append(["MGET"] + userKeys) }
                let replies = try connection.pipeline(reads)
                do {
                    try replies[0].checked()
                    let meta = try RedisDirectoryKeys.meta(replies[1])
                    guard meta.epoch == expected.epoch, meta.position >= expected.position else {
                        _ = try connection.command(["UNWATCH"])
                        if seen.withLock({ $0.epoch }) != expected.epoch { continue }  // reset meanwhile: again
                        throw lost
                    }
                    var before: [UserID: ReplicaRow] = [:]
                    if !userKeys.isEmpty {
                        for (id, value) in zip(ids, try replies[2].checked().elements) {
                            if let text = value.text { before[id] = try RedisDirectoryKeys.decode(text, id: id) }
                        }
                    }
                    var rows = before
                    let (outcomes, changed, counts) = ReplicaBatch.apply(events, to: &rows)
                    let moves = position.map { $0.rawValue > meta.position } ?? false
                    guard !changed.isEmpty || moves else {
                        _ = try connection.command(["UNWATCH"])
                        return (outcomes, expected.epoch, meta.position)
                    }
                    var writes = [["MULTI"]]
                    writes += Self.writes(changed.map { (before[$0], rows[$0]!) }, counts, keys)
                    if let position, moves { writes.append(["HSET", keys.meta, "position", String(position.rawValue)]) }
                    writes.append(["EXEC"])
                    let results = try connection.pipeline(writes)
                    switch results.last! {
                    case .null:
                        continue  // a watched key changed since it was read: work the batch out again
                    case .array(let done):
                        // Redis runs every command of a transaction it runs; one it refused (a key of the wrong
                        // type: someone else's key under this prefix) is not undone.
                        if let refused = done.first(where: { if case .error = $0 { true } else { false } }) {
                            throw UserStoreError(.corrupt, "Redis refused a write of the directory: \(refused).")
                        }
                        return (outcomes, expected.epoch, moves ? position!.rawValue : meta.position)
                    case let other:
                        try other.checked()  // EXECABORT (out of memory, a replica that became read-only, …)
                        throw RedisFailure.server("EXEC answered \(other)")
                    }
                } catch {
                    if case RedisFailure.connection = error { throw error }
                    _ = try? connection.command(["UNWATCH"])  // the next call on this connection starts clean
                    throw error
                }
            }
            throw UserStoreError(
                .unavailable, "Other writers kept changing the directory's keys; the batch was not applied.")
        }
        seen.withLock { seen in
            if seen.epoch == epoch { seen.position = max(seen.position, stored) }
        }
        return outcomes
    }

    /// The commands that write changed rows (the row, its index members) and the counters.
    private static func writes(
        _ changes: [(before: ReplicaRow?, after: ReplicaRow)], _ counts: DirectoryStatistics, _ keys: RedisDirectoryKeys
    ) -> [[String]] {
        var commands: [[String]] = []
        for (before, after) in changes {
            let id = after.entry.id
            commands.append(["SET", keys.user(id), RedisDirectoryKeys.encode(after)])
            if let before, !before.deleted {
                commands.append(["ZREM", keys.names, RedisDirectoryKeys.nameMember(before)])
                commands.append(["ZREM", keys.emails, RedisDirectoryKeys.emailMember(before)])
            }
            if before == nil { commands.append(["SADD", keys.ids, id.description]) }
            if !after.deleted {
                commands.append(["ZADD", keys.names, "0", RedisDirectoryKeys.nameMember(after)])
                commands.append(["ZADD", keys.emails, "0", RedisDirectoryKeys.emailMember(after)])
            }
        }
        if counts.active != 0 { commands.append(["HINCRBY", keys.counts, "active", String(counts.active)]) }
        if counts.deactivated != 0 {
            commands.append(["HINCRBY", keys.counts, "deactivated", String(counts.deactivated)])
        }
        return commands
    }

    /// Empties the directory and starts a new epoch at position 0, in one script; this replica takes it up.
    ///
    /// When another process reset the directory since this replica took up its epoch (the epoch there is another
    /// one), it is not emptied again: this replica takes up that epoch and its position, so that two directory
    /// services that both saw a loss don't wipe each other's rebuild.
    public func reset() async throws {
        let (keys, scripts, previous, fresh) = (self.keys, self.scripts, seen.withLock { $0.epoch }, UUID().uuidString)
        let (epoch, position) = try await client().run(retrying: true) { connection in
            let reply = try scripts.evaluate(
                RedisDirectoryScripts.reset, keys: [keys.meta, keys.ids, keys.names, keys.emails, keys.counts],
                arguments: [previous, fresh, keys.userPrefix], connection
            ).checked().elements
            guard reply.count == 2, let epoch = reply[0].text, let position = reply[1].text.flatMap({ Int64($0) })
            else { throw RedisFailure.server("the reset script answered \(reply)") }
            return (epoch, position)
        }
        seen.withLock { $0 = (epoch, position) }
        logger.info(
            epoch == fresh ? "redis directory reset" : "redis directory reset by another process; taken up",
            metadata: ["url": "\(url.redacted)", "prefix": "\(url.prefix)", "position": "\(position)"])
    }

    // MARK: Reads

    /// The source position the history has been applied to.
    public func backfillPosition() async throws -> EventPosition? {
        let (keys, expected, lost) = (self.keys, seen.withLock { $0 }, lostError)
        let position = try await client().run(retrying: true) { connection in
            let meta = try RedisDirectoryKeys.meta(connection.command(["HMGET", keys.meta, "epoch", "position"]))
            guard meta.epoch == expected.epoch, meta.position >= expected.position else { throw lost }
            return meta.position
        }
        seen.withLock { seen in
            if seen.epoch == expected.epoch { seen.position = max(seen.position, position) }
        }
        return position > 0 ? EventPosition(rawValue: position) : nil
    }

    /// The version applied for a user, tombstones included.
    public func appliedVersion(of user: UserID) async throws -> Int? {
        let text = try await checked(["GET", keys.user(user)]).text
        return try text.map { try RedisDirectoryKeys.decode($0, id: user).entry.version }
    }

    /// Entries whose e-mail or display name starts with `prefix`, ignoring case, by display name then id.
    public func search(prefix: String, limit: Int) async throws -> [DirectoryEntry] {
        let low = prefix.lowercased()
        let (keys, scripts, epoch, lost) = (self.keys, self.scripts, seen.withLock { $0.epoch }, lostError)
        let found = try await client().run(retrying: true) { connection in
            let reply = try scripts.evaluate(
                RedisDirectoryScripts.search, keys: [keys.meta, keys.names, keys.emails],
                arguments: [epoch, low, low + "\u{10FFFF}", String(max(0, limit)), keys.userPrefix], connection)
            if case .error(let message) = reply, message.contains("DIRECTORYLOST") { throw lost }  // maybe "ERR …"
            return try reply.checked().elements
        }
        guard found.count == 2 else { throw UserStoreError(.corrupt, "A directory search in Redis answered no rows.") }
        return try zip(found[0].elements, found[1].elements).compactMap { id, value -> DirectoryEntry? in
            // A user's row and its index members change in one transaction: a member always has its row.
            guard let id = id.text.flatMap(UserID.init), let text = value.text else {
                throw UserStoreError(.corrupt, "A directory row in Redis can't be decoded.")
            }
            let row = try RedisDirectoryKeys.decode(text, id: id)
            return row.deleted ? nil : row.entry
        }
    }

    /// Counts by status, tombstones not counted.
    public func statistics() async throws -> DirectoryStatistics {
        let counts = try await checked(["HMGET", keys.counts, "active", "deactivated"]).elements
        func count(_ index: Int) -> Int { counts.count > index ? (counts[index].text.flatMap { Int($0) } ?? 0) : 0 }
        return DirectoryStatistics(active: count(0), deactivated: count(1))
    }

    // MARK: Running commands

    /// The reply of `command`, read in one `MULTI`/`EXEC` with the directory's epoch, checked.
    private func checked(_ command: [String]) async throws -> RedisValue {
        let (keys, epoch, lost) = (self.keys, seen.withLock { $0.epoch }, lostError)
        return try await client().run(retrying: true) { connection in
            let replies = try connection.pipeline([["MULTI"], ["HGET", keys.meta, "epoch"], command, ["EXEC"]])
            let done = try replies[3].checked().elements
            guard done.count == 2 else { throw RedisFailure.server("the transaction was not run") }
            let stored = try done[0].checked()
            guard stored == .null || stored.text != nil else { throw RedisFailure.server("the epoch is not a string") }
            guard stored.text == epoch else { throw lost }
            return try done[1].checked()
        }
    }

    /// The next connection, in turn.
    private func client() -> RedisClient {
        clients[next.withLock { next in
            defer { next = (next + 1) % clients.count }
            return next
        }]
    }

    private var lostError: UserStoreError {
        UserStoreError(
            .dataLost,
            "The directory under \(url.prefix) in Redis at \(url.redacted) lost data it had stored (a restart without "
                + "persistence, a FLUSHALL, or an older snapshot restored): it must be rebuilt from the event history.")
    }
}

/// The SHA1 of each script as the server loaded it: scripts run by `EVALSHA`, loaded again after the server
/// forgot them (`NOSCRIPT`: a restart, `SCRIPT FLUSH`).
final class RedisScriptCache: Sendable {
    private let loaded = Locked<[String: String]>([:])

    func evaluate(_ script: String, keys: [String], arguments: [String], _ connection: RedisConnection)
        throws(RedisFailure) -> RedisValue
    {
        let tail = [String(keys.count)] + keys + arguments
        if let sha = loaded.withLock({ $0[script] }) {
            let reply = try connection.command(["EVALSHA", sha] + tail)
            guard case .error(let message) = reply, message.hasPrefix("NOSCRIPT") else { return reply }
        }
        let load = try connection.command(["SCRIPT", "LOAD", script])
        guard let sha = load.text else {
            if case .error(let message) = load { throw .server(message) }
            throw .server("SCRIPT LOAD answered no digest")
        }
        loaded.withLock { $0[script] = sha }
        return try connection.command(["EVALSHA", sha] + tail)
    }
}
