import UserPorts

/// What a SQLite file of this package holds, written in its header (`PRAGMA application_id`): a user store or a
/// directory replica. Each refuses a file of the other kind, or of another application, instead of migrating its
/// tables into it.
enum SQLiteDatabaseKind: Int32 {
    /// "USRS".
    case userStore = 0x5553_5253
    /// "USRD".
    case directoryReplica = 0x5553_5244

    private var name: String {
        switch self {
        case .userStore: "a user store"
        case .directoryReplica: "a directory replica"
        }
    }

    /// The table only this kind has, for files made before the header said what they hold.
    private var signature: String {
        switch self {
        case .userStore: "users"
        case .directoryReplica: "replica_users"
        }
    }

    private var other: SQLiteDatabaseKind { self == .userStore ? .directoryReplica : .userStore }

    /// Checks that the file holds this kind (or nothing yet) and marks it as this kind; inside the opening write
    /// transaction.
    ///
    /// - Throws: `UserStoreError` code `invalidConfiguration`, naming the path and what the file holds.
    func claim(_ connection: SQLiteConnection, path: String) throws {
        let found = Int32(truncatingIfNeeded: Int(try connection.scalarText("PRAGMA application_id") ?? "0") ?? 0)
        if found == rawValue { return }
        // A file from before the header said what it holds: its tables tell (a file holding both, as an older
        // version could leave one, is claimed by the first to open it).
        let olderOther = try found == 0 && has(other.signature, connection) && !has(signature, connection)
        if found == other.rawValue || olderOther {
            throw UserStoreError(
                .invalidConfiguration,
                "The database \(path) holds \(other.name); \(name) needs a file of its own.")
        }
        if found != 0 {
            throw UserStoreError(
                .invalidConfiguration,
                "The database \(path) belongs to another application (application_id \(found)); \(name) needs a "
                    + "file of its own.")
        }
        try connection.execute("PRAGMA application_id = \(rawValue)")
    }

    private func has(_ table: String, _ connection: SQLiteConnection) throws -> Bool {
        try connection.withStatement("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1") { statement in
            try statement.bind(1, table)
            return try statement.step()
        }
    }
}
