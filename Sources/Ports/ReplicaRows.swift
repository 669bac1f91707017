import Foundation
package import UserDomain

/// One user's row in a directory replica: the entry with its search keys, or, once the user is deleted, a
/// tombstone that keeps the deleting event's version.
package struct ReplicaRow: Sendable, Hashable {
    /// The entry; its `version` is the version applied for the user.
    package var entry: DirectoryEntry
    /// The e-mail's canonical form: the search key of the address.
    package var emailCanonical: String
    /// The display name lower-cased: the search key of the name.
    package var displayNameFolded: String
    /// Whether the user is deleted (the row is a tombstone, never shown).
    package var deleted: Bool

    package init(entry: DirectoryEntry, emailCanonical: String, displayNameFolded: String, deleted: Bool) {
        self.entry = entry
        self.emailCanonical = emailCanonical
        self.displayNameFolded = displayNameFolded
        self.deleted = deleted
    }
}

/// The version rule and the row changes of a batch, worked out in memory from the rows of its users as stored:
/// every replica (memory, SQLite, PostgreSQL) reads those rows, runs this, and writes back the rows it changed,
/// in one transaction. One place for the rule, so the replicas cannot drift apart.
package enum ReplicaBatch {
    /// Applies `events` in order by the version rule to `rows` (every row of the batch's users, as stored).
    ///
    /// - Returns: each event's outcome, at its index; the ids whose rows changed (to write back); and how the
    ///   counts by status change (negative for fewer), for replicas that keep counters instead of counting rows.
    package static func apply(_ events: [UserEventEnvelope], to rows: inout [UserID: ReplicaRow])
        -> (outcomes: [ReplicaOutcome], changed: Set<UserID>, counts: DirectoryStatistics)
    {
        let stored = rows
        var changed: Set<UserID> = []
        let outcomes = events.map { event -> ReplicaOutcome in
            let id = event.userID
            let outcome = ReplicaOutcome.of(event, appliedVersion: rows[id]?.entry.version ?? 0)
            guard outcome == .applied else { return outcome }
            switch DirectoryChange(event) {
            case .upsert(let entry, let emailCanonical, let displayNameFolded):
                rows[id] = ReplicaRow(
                    entry: entry, emailCanonical: emailCanonical, displayNameFolded: displayNameFolded, deleted: false)
            case .update(_, let fields):
                guard var row = rows[id] else { return outcome }  // version > 1 on no row is a gap: not here
                row.entry = fields.applied(to: row.entry)
                if let email = fields.email { row.emailCanonical = email.canonical }
                if let name = fields.displayName { row.displayNameFolded = name.folded }
                rows[id] = row
            case .remove:
                guard var row = rows[id] else { return outcome }
                row.deleted = true
                row.entry.version = event.userVersion
                row.entry.updatedAt = event.occurredAt
                rows[id] = row
            }
            changed.insert(id)
            return outcome
        }
        var counts = DirectoryStatistics(active: 0, deactivated: 0)
        for id in changed {
            counts.add(stored[id], -1)
            counts.add(rows[id], 1)
        }
        return (outcomes, changed, counts)
    }
}

extension DirectoryStatistics {
    /// Counts `row` (when it is shown: not a tombstone) `times` times under its status.
    fileprivate mutating func add(_ row: ReplicaRow?, _ times: Int) {
        guard let row, !row.deleted else { return }
        if row.entry.status == .active { active += times } else { deactivated += times }
    }
}
