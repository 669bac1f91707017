import UserDomain
import UserPorts

/// The store's schema, as versioned migrations recorded in `schema_migrations` and applied under a
/// transaction-scoped advisory lock, so that several processes starting at once migrate exactly once.
///
/// Storage: ids are `uuid` (ordered by their bytes, `UserID`'s order), timestamps `timestamptz` holding
/// whole milliseconds, the event payload the envelope's JSON as `jsonb`. The event position is an identity
/// column; the relay reads events that are not yet marked published, never "above the last position", so a
/// transaction that took a lower position and committed later is not skipped.
///
/// Version 2 adds delivery state to the events (attempts, last error, retry time, dead), the relay lease, the
/// user directory read model with its projection checkpoints, and `user_events_horizon()`, which readers of
/// the history use so that a late commit of a lower position is never skipped. Version 3 drops the event
/// indexes no query needs, so that appending an event writes two index entries (position, unpublished).
/// Version 4 recomputes `email_canonical` (users and the directory) in Swift: the canonical form became IDNA
/// A-labels and Unicode case folding instead of `lower()` (see `EmailAddress.canonical`); two users whose
/// addresses now have one form stop it (``rewriteCanonicalEmails(_:)``). Version 5 gives each schema its own
/// append lock (``appendLock``): stores in different schemas of one database no longer wait for each other.
/// Version 6 moves the directory into a `DirectoryReplica`'s tables (`replica_users`, `replica_state`), rows and
/// checkpoint included (``PostgresDirectoryReplica``).
enum PostgresSchema {
    /// One schema version: SQL, then (for changes SQL can't compute) a step in Swift, in the same transaction.
    struct Migration: Sendable {
        let version: Int
        let sql: String
        var rewrite: (@Sendable (PostgresConnection) throws -> Void)? = nil
    }

    /// The advisory lock key: "users-v1" as an integer.
    static let lockKey: Int64 = 0x7573_6572_732D_7631

    static let migrations: [Migration] = [
        Migration(
            version: 1, sql:
            """
            CREATE TABLE users (
                id uuid PRIMARY KEY,
                email text NOT NULL,
                email_canonical text NOT NULL CONSTRAINT users_email_canonical_key UNIQUE,
                display_name text NOT NULL,
                status text NOT NULL CHECK (status IN ('active', 'deactivated')),
                version integer NOT NULL CHECK (version >= 1),
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            );
            CREATE TABLE user_events (
                position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                event_id uuid NOT NULL UNIQUE,
                user_id uuid NOT NULL,
                user_version integer NOT NULL,
                type text NOT NULL,
                payload jsonb NOT NULL,
                occurred_at timestamptz NOT NULL,
                published_at timestamptz
            );
            CREATE INDEX user_events_unpublished ON user_events (position) WHERE published_at IS NULL;
            CREATE INDEX user_events_by_user ON user_events (user_id, user_version);
            """
        ),
        Migration(
            version: 2, sql:
            """
            ALTER TABLE user_events
                ADD COLUMN attempts integer NOT NULL DEFAULT 0,
                ADD COLUMN last_error text,
                ADD COLUMN retry_at timestamptz,
                ADD COLUMN dead boolean NOT NULL DEFAULT false;
            CREATE INDEX user_events_pending_by_user ON user_events (user_id, position) WHERE published_at IS NULL;
            CREATE INDEX user_events_dead ON user_events (position) WHERE published_at IS NULL AND dead;
            CREATE INDEX user_events_published_occurred ON user_events (occurred_at) WHERE published_at IS NOT NULL;

            CREATE TABLE relay_lease (
                name text PRIMARY KEY,
                owner text NOT NULL,
                expires_at timestamptz NOT NULL
            );

            CREATE TABLE user_directory (
                id uuid PRIMARY KEY,
                email text NOT NULL,
                email_canonical text NOT NULL,
                display_name text NOT NULL,
                display_name_folded text NOT NULL,
                status text NOT NULL,
                version integer NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL
            );
            CREATE INDEX user_directory_email ON user_directory (email_canonical COLLATE "C");
            CREATE INDEX user_directory_name ON user_directory (display_name_folded COLLATE "C");

            CREATE TABLE projection_checkpoints (
                name text PRIMARY KEY,
                position bigint NOT NULL
            );
            INSERT INTO projection_checkpoints (name, position) VALUES ('directory', 0);

            -- The highest position below which no event can still commit: writers append events under a shared
            -- advisory lock; this takes it exclusively (waiting out every writer in flight) and reads the
            -- maximum in a new snapshot. Volatile, so the second statement sees commits made before the lock.
            CREATE FUNCTION user_events_horizon() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
            BEGIN
                PERFORM pg_advisory_xact_lock(\(legacyAppendLockKey));
                RETURN (SELECT coalesce(max(position), 0) FROM user_events);
            END
            $$;
            """
        ),
        Migration(
            version: 3, sql:
            """
            -- Leaner event inserts (as SQLite's version 2): every index on user_events is written for every
            -- event, and three were not needed. No unique index on event_id (ids are UUIDv7s this package
            -- makes; consumers deduplicate on them), no index by (user, version) that no query used, and the
            -- relay's hold-back look-up only needs the events that can hold a user back (dead, or waiting for
            -- a retry), which a new event never is: a partial index that inserts don't touch. Measured with
            -- pgbench on the one-statement write: 0.247 ms before, 0.176-0.205 ms after.
            DROP INDEX user_events_by_user;
            ALTER TABLE user_events DROP CONSTRAINT user_events_event_id_key;
            DROP INDEX user_events_pending_by_user;
            CREATE INDEX user_events_held ON user_events (user_id, position)
                WHERE published_at IS NULL AND (dead OR retry_at IS NOT NULL);
            """
        ),
        Migration(
            version: 4, sql: "-- email_canonical is recomputed in Swift: rewriteCanonicalEmails(_:)",
            rewrite: { try rewriteCanonicalEmails($0) }),
        Migration(
            version: 5, sql:
            """
            -- One append lock per schema: advisory locks are per database, so with one key for all, a history
            -- read in one schema waited for the writers of every other schema of the database (and made their
            -- next writes wait behind it). Writers of this version take the schema's key (appendLock); the
            -- horizon takes it, then the single key of versions 1-4, which writers of an older version still
            -- take during a rolling upgrade (a later version drops it).
            CREATE OR REPLACE FUNCTION user_events_horizon() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
            BEGIN
                PERFORM pg_advisory_xact_lock(\(appendLock));
                PERFORM pg_advisory_xact_lock(\(legacyAppendLockKey));
                RETURN (SELECT coalesce(max(position), 0) FROM user_events);
            END
            $$;
            """
        ),
        Migration(
            version: 6,
            sql: PostgresDirectoryReplica.tables + "\n" + """
                -- The directory becomes a DirectoryReplica (per-user versions, tombstones, the position it reached):
                -- its rows and its checkpoint move over as they are, so a log trimmed by retention loses nothing.
                INSERT INTO replica_users (id, email, email_canonical, display_name, display_name_folded, status,
                    version, created_at, updated_at, deleted)
                SELECT id, email, email_canonical, display_name, display_name_folded, status, version, created_at,
                    updated_at, false
                FROM user_directory;
                UPDATE replica_state SET value = (SELECT position FROM projection_checkpoints WHERE name = 'directory')
                WHERE name = 'backfill_position';
                DROP TABLE user_directory;
                DELETE FROM projection_checkpoints WHERE name = 'directory';
                """),
        // The directory's counts by status become counters that each apply moves (counted once here).
        Migration(version: 7, sql: PostgresDirectoryRows.counters),
    ]

    /// The advisory lock writers hold (shared) while appending events, and the horizon takes (exclusive), as
    /// an SQL expression: one key per schema (the current one: the store's, first on its search path), so that
    /// stores in other schemas of the same database neither wait for nor hold back each other.
    static let appendLock = "hashtextextended('swift-user-domain.append.' || current_schema(), 0)"

    /// The one append lock key of schema versions 1-4, for every schema of a database; the horizon still takes
    /// it for writers of those versions during a rolling upgrade.
    static let legacyAppendLockKey: Int64 = 0x7573_6572_732D_6576

    /// The newest schema version of the store.
    static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the database (the first schema of the search path) to the newest version of `migrations`
    /// (the store's by default: ``latestVersion``).
    ///
    /// - Throws: `UserStoreError.incompatibleSchema` when it was written by a newer schema.
    ///
    /// A directory replica (``PostgresDirectoryReplica``) passes its own migrations, ledger table and lock.
    static func migrate(
        _ connection: PostgresConnection, redactedURL: String, ledger: String = "schema_migrations",
        lockKey: Int64 = lockKey, migrations: [Migration] = migrations
    ) throws {
        let latestVersion = migrations.last?.version ?? 0
        try connection.execute("BEGIN")
        do {
            try connection.query("SELECT pg_advisory_xact_lock($1::bigint)", [String(lockKey)])
            try connection.execute(
                """
                CREATE TABLE IF NOT EXISTS \(ledger) (
                    version integer PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            let current = Int(
                try connection.query("SELECT coalesce(max(version), 0) FROM \(ledger)").int64(0, 0))
            if current > latestVersion {
                throw UserStoreError(
                    .incompatibleSchema,
                    "The database of \(redactedURL) has schema version \(current); this version of the package "
                        + "knows up to \(latestVersion).")
            }
            for migration in migrations where migration.version > current {
                try connection.execute(migration.sql)
                try migration.rewrite?(connection)
                try connection.query(
                    "INSERT INTO \(ledger) (version) VALUES ($1::integer)", [String(migration.version)])
            }
            try connection.execute("COMMIT")
        } catch {
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// Version 4: every stored canonical e-mail form that the new rules compute differently is rewritten, in the
    /// users table and the directory, under the migration's advisory lock and in its transaction; only rows with
    /// a non-ASCII character or an `xn--` label can differ.
    ///
    /// - Throws: `UserStoreError.migrationConflict` naming the users when two would have one canonical form, or
    ///   when a stored address is no longer accepted; the caller then rolls back.
    static func rewriteCanonicalEmails(_ connection: PostgresConnection) throws {
        let plan = CanonicalEmailMigration.changes(
            of: try rows(connection, "SELECT id::text, email, email_canonical FROM users WHERE \(mayChangeCanonical)"))
        guard !plan.changes.isEmpty || !plan.refused.isEmpty else { return try rewriteDirectory(connection) }
        let holders = try rows(
            connection, "SELECT id::text, email, email_canonical FROM users WHERE email_canonical = ANY($1::text[])",
            [PostgresArray.literal(Array(Set(plan.changes.map(\.canonical))))])
        if let conflict = CanonicalEmailMigration.conflict(plan, holders: holders, version: 4) { throw conflict }
        // Two statements, so that no row takes a form another row has not left yet (the unique constraint is
        // checked row by row): first a placeholder no address can have (it starts with U+0001), then the form.
        let ids = PostgresArray.literal(plan.changes.map(\.row.id.description))
        try connection.query(
            """
            UPDATE users SET email_canonical = chr(1) || users.id::text
            FROM unnest($1::uuid[]) AS moving(id) WHERE users.id = moving.id
            """, [ids])
        try connection.query(
            """
            UPDATE users SET email_canonical = batch.canonical
            FROM unnest($1::uuid[], $2::text[]) AS batch(id, canonical) WHERE users.id = batch.id
            """, [ids, PostgresArray.literal(plan.changes.map(\.canonical))])
        try rewriteDirectory(connection)
    }

    /// The directory has no unique constraint, and an address it can't canonicalise keeps its form: the read
    /// model follows the users' events, and the users table has just been checked.
    private static func rewriteDirectory(_ connection: PostgresConnection) throws {
        let changes = CanonicalEmailMigration.changes(
            of: try rows(
                connection, "SELECT id::text, email, email_canonical FROM user_directory WHERE \(mayChangeCanonical)")
        ).changes
        guard !changes.isEmpty else { return }
        try connection.query(
            """
            UPDATE user_directory SET email_canonical = batch.canonical
            FROM unnest($1::uuid[], $2::text[]) AS batch(id, canonical) WHERE user_directory.id = batch.id
            """,
            [PostgresArray.literal(changes.map(\.row.id.description)), PostgresArray.literal(changes.map(\.canonical))])
    }

    /// The rows whose canonical form can differ from `lower(email)`, the rule before version 4: an address
    /// with a non-ASCII character (more bytes than characters) or an `xn--` label.
    private static let mayChangeCanonical = "octet_length(email) <> length(email) OR strpos(lower(email), 'xn--') > 0"

    private static func rows(_ connection: PostgresConnection, _ sql: String, _ parameters: [String?] = []) throws
        -> [CanonicalEmailMigration.Row]
    {
        let result = try connection.query(sql, parameters)
        return try (0..<result.rowCount).map { row in
            guard let id = UserID(result.string(row, 0)) else {
                throw UserStoreError(.corrupt, "A row of the users table has an id that is not a UUID.")
            }
            return CanonicalEmailMigration.Row(id: id, email: result.string(row, 1), canonical: result.string(row, 2))
        }
    }
}
