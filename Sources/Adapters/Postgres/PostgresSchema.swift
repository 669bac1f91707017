import UserPorts

/// The store's schema, as versioned migrations recorded in `schema_migrations` and applied under a
/// transaction-scoped advisory lock, so that several processes starting at once migrate exactly once.
///
/// Storage: ids are `uuid` (ordered by their bytes, `UserID`'s order), timestamps `timestamptz` holding
/// whole milliseconds, the event payload the envelope's JSON as `jsonb`. The event position is an identity
/// column; the relay reads events that are not yet marked published, never "above the last position", so a
/// transaction that took a lower position and committed later is not skipped.
enum PostgresSchema {
    /// The advisory lock key: "users-v1" as an integer.
    static let lockKey: Int64 = 0x7573_6572_732D_7631

    static let migrations: [(version: Int, sql: String)] = [
        (
            1,
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
        )
    ]

    static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the database (the first schema of the search path) to ``latestVersion``.
    ///
    /// - Throws: `UserStoreError.incompatibleSchema` when it was written by a newer schema.
    static func migrate(_ connection: PostgresConnection, redactedURL: String) throws {
        try connection.execute("BEGIN")
        do {
            try connection.query("SELECT pg_advisory_xact_lock($1::bigint)", [String(lockKey)])
            try connection.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            let current = Int(
                try connection.query("SELECT coalesce(max(version), 0) FROM schema_migrations").int64(0, 0))
            if current > latestVersion {
                throw UserStoreError(
                    .incompatibleSchema,
                    "The database of \(redactedURL) has schema version \(current); this version of the package "
                        + "knows up to \(latestVersion).")
            }
            for migration in migrations where migration.version > current {
                try connection.execute(migration.sql)
                try connection.query(
                    "INSERT INTO schema_migrations (version) VALUES ($1::integer)", [String(migration.version)])
            }
            try connection.execute("COMMIT")
        } catch {
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
    }
}
