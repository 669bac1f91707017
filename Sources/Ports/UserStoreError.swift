/// A failure of the infrastructure behind a port: the database is down, a file is corrupt, the
/// configuration is wrong.
///
/// Domain outcomes (an e-mail taken, a version conflict) are never reported this way; they are
/// `UserError`s, the same from every adapter.
///
/// ``description`` is safe to show to a caller: it names the problem and, where useful, a path or a host,
/// but never SQL, bound values, passwords or stack traces. The underlying error is kept for
/// ``debugDescription`` and logs.
public struct UserStoreError: Error, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure; a struct so that new kinds can be added without breaking `switch`es.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The store can't be reached or has gone away (server down, connection lost, pool exhausted, a
        /// lock held too long). Retrying later may succeed.
        public static let unavailable = Code("unavailable")
        /// The configuration is wrong: a malformed URL, a bad option, wrong credentials, an unknown database.
        public static let invalidConfiguration = Code("invalid-configuration")
        /// The store's files or data are not what the adapter wrote: not a database, truncated, corrupt.
        public static let corrupt = Code("corrupt")
        /// The store was written by a newer schema version than this adapter knows.
        public static let incompatibleSchema = Code("incompatible-schema")
        /// The process may not read or write the store (permissions, a read-only location).
        public static let accessDenied = Code("access-denied")
        /// The store was closed.
        public static let closed = Code("closed")
        /// A failure the adapter did not expect; the underlying error says more.
        public static let `internal` = Code("internal")
        /// The store no longer holds data it had acknowledged: a Redis restarted without persistence, flushed, or
        /// restored from an older snapshot. Nothing is answered from what is left; a directory replica is rebuilt
        /// from the event history (`DirectoryReplica.reset()`, then a backfill: the directory service's follower
        /// does it by itself).
        public static let dataLost = Code("data-lost")
        /// The event log was trimmed by retention: what needs every event (a rebuild) can't be done.
        public static let historyTrimmed = Code("history-trimmed")
        /// A schema migration found data it can't carry over without a person's decision (two users whose
        /// e-mail addresses now name one mailbox); it was not applied and nothing was changed. Unlike other
        /// codes, the message names the users and their addresses: it is for the operator who upgrades the
        /// store, not for callers of a service.
        public static let migrationConflict = Code("migration-conflict")

        /// The code's name, e.g. `unavailable`.
        public var description: String { name }
    }

    /// What kind of failure.
    public let code: Code
    /// A safe sentence for callers and logs.
    public let message: String
    /// The technology error, for ``debugDescription`` only.
    public let underlying: (any Error & Sendable)?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: a sentence safe to show to a caller: no SQL, values, secrets.
    ///   - underlying: the technology error, kept for debugging.
    public init(_ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }

    /// The description and the underlying error's own debug description.
    public var debugDescription: String {
        guard let underlying else { return description }
        return "\(description) (underlying: \(String(reflecting: underlying)))"
    }

    /// Errors are equal when their code and message are.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }

    /// Hashes the code and message.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}
