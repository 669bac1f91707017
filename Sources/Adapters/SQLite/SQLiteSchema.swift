import Foundation
import UserDomain
import UserPorts

/// The store's schema, as versioned migrations recorded in `schema_migrations`.
///
/// Storage choices: ids are 16-byte BLOBs (the primary key of a `WITHOUT ROWID` table, compared byte-wise,
/// which is `UserID`'s order); timestamps are INTEGER milliseconds since 1970 (the domain's precision);
/// the event payload is the envelope's JSON. Tables are STRICT.
///
/// Version 2 adds delivery state to the events (attempts, last error, retry time, dead), the relay lease,
/// and the user directory read model with its projection checkpoints. Version 3 replaces the index of
/// unpublished events with a watermark (see ``SQLiteUserStore/unpublishedEvents(limit:)``). Version 4
/// recomputes `email_canonical` (users and the directory) in Swift: the canonical form became IDNA A-labels and
/// Unicode case folding instead of `lower()` (see `EmailAddress.canonical`); two users whose addresses now
/// have one form stop it (``rewriteCanonicalEmails(_:)``). Version 5 moves the directory into a
/// `DirectoryReplica`'s tables (`replica_users`, `replica_state`), rows and checkpoint included.
enum SQLiteSchema {
    /// One schema version: SQL, then (for changes SQL can't compute) a step in Swift, in the same transaction.
    struct Migration: Sendable {
        let version: Int
        let sql: String
        var rewrite: (@Sendable (SQLiteConnection) throws -> Void)? = nil
    }

    /// Each migration runs once, in order, in the migrating transaction.
    static let migrations: [Migration] = [
        Migration(
            version: 1, sql:
            """
            CREATE TABLE users (
                id BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
                email TEXT NOT NULL,
                email_canonical TEXT NOT NULL UNIQUE,
                display_name TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('active', 'deactivated')),
                version INTEGER NOT NULL CHECK (version >= 1),
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;

            CREATE TABLE user_events (
                position INTEGER PRIMARY KEY AUTOINCREMENT,
                event_id BLOB NOT NULL UNIQUE,
                user_id BLOB NOT NULL,
                user_version INTEGER NOT NULL,
                type TEXT NOT NULL,
                payload TEXT NOT NULL,
                occurred_at INTEGER NOT NULL,
                published_at INTEGER
            ) STRICT;

            CREATE INDEX user_events_unpublished ON user_events (position) WHERE published_at IS NULL;
            CREATE INDEX user_events_by_user ON user_events (user_id, user_version);
            """
        ),
        Migration(
            version: 2, sql:
            """
            -- Rebuilt leaner: a plain rowid position (no AUTOINCREMENT bookkeeping; positions are never reused
            -- because retention keeps the newest event), no unique index on event_id (ids are UUIDv7s this
            -- package makes), no index by (user, version) that no query used; delivery state added. Every index
            -- costs a page write per event: the relay holds back a failed user's events while it scans the
            -- unpublished ones in order, rather than through an index by user.
            CREATE TABLE user_events_v2 (
                position INTEGER PRIMARY KEY,
                event_id BLOB NOT NULL,
                user_id BLOB NOT NULL,
                user_version INTEGER NOT NULL,
                type TEXT NOT NULL,
                payload TEXT NOT NULL,
                occurred_at INTEGER NOT NULL,
                published_at INTEGER,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                retry_at INTEGER,
                dead INTEGER NOT NULL DEFAULT 0 CHECK (dead IN (0, 1))
            ) STRICT;
            INSERT INTO user_events_v2 (position, event_id, user_id, user_version, type, payload, occurred_at,
                published_at)
            SELECT position, event_id, user_id, user_version, type, payload, occurred_at, published_at
            FROM user_events;
            DROP TABLE user_events;
            ALTER TABLE user_events_v2 RENAME TO user_events;
            DELETE FROM sqlite_sequence WHERE name = 'user_events';
            CREATE INDEX user_events_unpublished ON user_events (position) WHERE published_at IS NULL;
            CREATE INDEX user_events_dead ON user_events (position) WHERE published_at IS NULL AND dead = 1;
            CREATE INDEX user_events_published_occurred ON user_events (occurred_at) WHERE published_at IS NOT NULL;

            CREATE TABLE relay_lease (
                name TEXT PRIMARY KEY NOT NULL,
                owner TEXT NOT NULL,
                expires_at INTEGER NOT NULL
            ) STRICT;

            CREATE TABLE user_directory (
                id BLOB PRIMARY KEY NOT NULL,
                email TEXT NOT NULL,
                email_canonical TEXT NOT NULL,
                display_name TEXT NOT NULL,
                display_name_folded TEXT NOT NULL,
                status TEXT NOT NULL,
                version INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX user_directory_email ON user_directory (email_canonical);
            CREATE INDEX user_directory_name ON user_directory (display_name_folded);

            CREATE TABLE projection_checkpoints (
                name TEXT PRIMARY KEY NOT NULL,
                position INTEGER NOT NULL
            ) STRICT;
            INSERT INTO projection_checkpoints (name, position) VALUES ('directory', 0);
            """
        ),
        Migration(
            version: 3, sql:
            """
            -- No index of every unpublished event: appending an event wrote an entry into it (one more page per
            -- commit, measured: 5 WAL frames per registration instead of 4). The relay's work is found instead
            -- from a watermark: every unpublished event at or below `outbox_watermark.position` is marked
            -- `behind` (failed, dead, revived, or held back behind its user's failed event), and those few are
            -- indexed; above the watermark the rowid order serves. Appends only ever go above it.
            ALTER TABLE user_events ADD COLUMN behind INTEGER NOT NULL DEFAULT 0 CHECK (behind IN (0, 1));
            UPDATE user_events SET behind = 1 WHERE published_at IS NULL AND (dead = 1 OR retry_at IS NOT NULL);
            CREATE TABLE outbox_watermark (
                id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
                position INTEGER NOT NULL
            ) STRICT;
            INSERT INTO outbox_watermark (id, position)
            SELECT 1, coalesce(
                (SELECT min(position) - 1 FROM user_events WHERE published_at IS NULL AND behind = 0),
                (SELECT max(position) FROM user_events),
                0);
            DROP INDEX user_events_unpublished;
            DROP INDEX user_events_dead;
            CREATE INDEX user_events_behind ON user_events (position) WHERE published_at IS NULL AND behind = 1;
            CREATE INDEX user_events_behind_by_user ON user_events (user_id, position)
                WHERE published_at IS NULL AND behind = 1;
            """
        ),
        Migration(
            version: 4, sql: "-- email_canonical is recomputed in Swift: rewriteCanonicalEmails(_:)",
            rewrite: { try rewriteCanonicalEmails($0) }),
        Migration(
            version: 5,
            sql: SQLiteDirectoryReplica.tables + "\n" + """
                -- The directory becomes a DirectoryReplica (per-user versions, tombstones, the position it reached):
                -- its rows and its checkpoint move over as they are, so a log trimmed by retention loses nothing.
                INSERT INTO replica_users (id, email, email_canonical, display_name, display_name_folded, status,
                    version, created_at, updated_at, deleted)
                SELECT id, email, email_canonical, display_name, display_name_folded, status, version, created_at,
                    updated_at, 0
                FROM user_directory;
                UPDATE replica_state SET value = (SELECT position FROM projection_checkpoints WHERE name = 'directory')
                WHERE name = 'backfill_position';
                DROP TABLE user_directory;
                DELETE FROM projection_checkpoints WHERE name = 'directory';
                """),
        // The directory's counts by status become counters that each apply moves (counted once here).
        Migration(version: 6, sql: SQLiteDirectoryRows.counters),
    ]

    /// The newest schema version this code knows.
    static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the database to ``latestVersion`` under SQLite's write lock, so that several processes
    /// opening one file at once migrate it exactly once.
    ///
    /// - Throws: `UserStoreError.incompatibleSchema` when the file was written by a newer schema;
    ///   `invalidConfiguration` when it holds a directory replica or another application's data.
    static func migrate(_ connection: SQLiteConnection, path: String) throws {
        try connection.writeTransaction {
            try SQLiteDatabaseKind.userStore.claim(connection, path: path)
            try connection.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY NOT NULL,
                    applied_at INTEGER NOT NULL
                ) STRICT
                """)
            let current = try connection.withStatement("SELECT coalesce(max(version), 0) FROM schema_migrations") {
                statement in
                try statement.step() ? Int(statement.int64(0)) : 0
            }
            if current > latestVersion {
                throw UserStoreError(
                    .incompatibleSchema,
                    "The database \(path) has schema version \(current); this version of the package knows up to "
                        + "\(latestVersion). Upgrade the package instead of opening it with an older one.")
            }
            for migration in migrations where migration.version > current {
                try connection.execute(migration.sql)
                try migration.rewrite?(connection)
                try connection.withStatement("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)") {
                    statement in
                    try statement.bind(1, migration.version)
                    try statement.bind(2, Date().epochMilliseconds)
                    _ = try statement.step()
                }
            }
        }
    }

    /// Version 4: every stored canonical e-mail form that the new rules compute differently is rewritten, in the
    /// users table and the directory; only rows with a non-ASCII character or an `xn--` label can differ.
    ///
    /// - Throws: `UserStoreError.migrationConflict` naming the users when two would have one canonical form, or
    ///   when a stored address is no longer accepted; the caller's transaction then rolls back.
    static func rewriteCanonicalEmails(_ connection: SQLiteConnection) throws {
        let plan = CanonicalEmailMigration.changes(
            of: try rows(connection, "SELECT id, email, email_canonical FROM users WHERE "
                + mayChangeCanonical))
        var holders: [CanonicalEmailMigration.Row] = []
        for canonical in Set(plan.changes.map(\.canonical)) {
            try connection.withStatement("SELECT id, email, email_canonical FROM users WHERE email_canonical = ?1") {
                statement in
                try statement.bind(1, canonical)
                if try statement.step(), let id = statement.uuid(0) {
                    holders.append(.init(id: UserID(id), email: statement.text(1), canonical: statement.text(2)))
                }
            }
        }
        if let conflict = CanonicalEmailMigration.conflict(plan, holders: holders, version: 4) { throw conflict }
        // Two passes, so that no row takes a form another row has not left yet (the unique index is checked
        // row by row): first a placeholder no address can have (it starts with U+0001), then the new form.
        for (row, _) in plan.changes {
            try update(connection, "UPDATE users SET email_canonical = char(1) || hex(id) WHERE id = ?1", row.id)
        }
        for (row, canonical) in plan.changes {
            try update(connection, "UPDATE users SET email_canonical = ?2 WHERE id = ?1", row.id, canonical)
        }
        // The directory has no unique index, and an address it can't canonicalise keeps its form: the read
        // model follows the users' events, and the users table has just been checked.
        let directory = CanonicalEmailMigration.changes(
            of: try rows(connection, "SELECT id, email, email_canonical FROM user_directory WHERE "
                + mayChangeCanonical))
        for (row, canonical) in directory.changes {
            try update(connection, "UPDATE user_directory SET email_canonical = ?2 WHERE id = ?1", row.id, canonical)
        }
    }

    /// The rows whose canonical form can differ from `lower(email)`, the rule before version 4: an address
    /// with a non-ASCII character (more bytes than characters) or an `xn--` label.
    private static let mayChangeCanonical =
        "length(CAST(email AS BLOB)) <> length(email) OR instr(lower(email), 'xn--') > 0"

    private static func rows(_ connection: SQLiteConnection, _ sql: String) throws -> [CanonicalEmailMigration.Row] {
        try connection.withStatement(sql) { statement in
            var rows: [CanonicalEmailMigration.Row] = []
            while try statement.step() {
                guard let id = statement.uuid(0) else {
                    throw UserStoreError(.corrupt, "A row of the users table has an id that is not 16 bytes.")
                }
                rows.append(.init(id: UserID(id), email: statement.text(1), canonical: statement.text(2)))
            }
            return rows
        }
    }

    private static func update(_ connection: SQLiteConnection, _ sql: String, _ id: UserID, _ text: String? = nil)
        throws
    {
        try connection.withStatement(sql) { statement in
            try statement.bind(1, id.uuid)
            if let text { try statement.bind(2, text) }
            _ = try statement.step()
        }
    }
}
