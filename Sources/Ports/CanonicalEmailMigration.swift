package import UserDomain

/// Recomputing the stored canonical e-mail forms when the rules that make them change, for the schema
/// migrations of the SQL stores (the rules live in Swift, in `EmailAddress.canonical` (UserDomain), so SQL can't).
///
/// A store reads the rows that may change (any address with a non-ASCII character or an `xn--` label: for the
/// others the new form is `lower(email)`, the rule of the schema versions before), asks ``changes(of:)`` for the new forms,
/// reads the rows that hold those forms today, and asks ``conflict(_:holders:version:)`` whether the change
/// can be applied. Two users whose addresses now have one canonical form are a conflict: the migration
/// reports them by id and address and is not applied; nothing is merged or dropped. So is a stored
/// address that the rules no longer accept, which could not be looked up any more.
package enum CanonicalEmailMigration {
    /// A row as stored: its user, the address as spelled and the canonical form stored with it.
    package struct Row: Sendable, Hashable {
        /// The user.
        package let id: UserID
        /// The address as spelled (`email`).
        package let email: String
        /// The canonical form stored (`email_canonical`).
        package let canonical: String

        /// A row.
        package init(id: UserID, email: String, canonical: String) {
            self.id = id
            self.email = email
            self.canonical = canonical
        }
    }

    /// The result of ``changes(of:)``.
    package struct Plan: Sendable {
        /// Rows whose canonical form changes, with the new form.
        package var changes: [(row: Row, canonical: String)] = []
        /// Rows whose address the rules refuse now, with the reason.
        package var refused: [(row: Row, problem: EmailAddress.Problem)] = []
    }

    /// The new canonical form of each row that has one.
    package static func changes(of rows: [Row]) -> Plan {
        var plan = Plan()
        for row in rows {
            do {
                let canonical = try EmailAddress(row.email).canonical
                if canonical != row.canonical { plan.changes.append((row, canonical)) }
            } catch {
                guard case .invalidEmail(let problem) = error else { continue }
                plan.refused.append((row, problem))
            }
        }
        return plan
    }

    /// The error that stops the migration, or `nil` when the plan can be applied.
    ///
    /// - Parameters:
    ///   - plan: the result of ``changes(of:)``.
    ///   - holders: the rows whose stored canonical form is one of the new forms of `plan`.
    ///   - version: the schema version being applied, for the message.
    package static func conflict(_ plan: Plan, holders: [Row], version: Int) -> UserStoreError? {
        let moving = Set(plan.changes.map(\.row.id))
        var groups: [String: [Row]] = [:]
        var order: [String] = []
        func add(_ row: Row, _ canonical: String) {
            if groups[canonical] == nil { order.append(canonical) }
            groups[canonical, default: []].append(row)
        }
        for (row, canonical) in plan.changes { add(row, canonical) }
        // A holder that is itself changing moves away from the form; one that is not keeps it.
        for holder in holders where !moving.contains(holder.id) && groups[holder.canonical] != nil {
            add(holder, holder.canonical)
        }
        let collisions = order.compactMap { canonical in
            groups[canonical].flatMap { rows in rows.count > 1 ? (canonical, rows.sorted { $0.id < $1.id }) : nil }
        }
        if collisions.isEmpty && plan.refused.isEmpty { return nil }
        var sentences: [String] = []
        if !collisions.isEmpty {
            let list = collisions.map { canonical, rows in
                rows.map { "user \($0.id) <\($0.email)>" }.joined(separator: " and ") + " are all \(canonical)"
            }
            sentences.append(
                "these users' e-mail addresses now name one mailbox: " + list.joined(separator: "; ") + ".")
        }
        if !plan.refused.isEmpty {
            let list = plan.refused.map { "user \($0.row.id) <\($0.row.email)> (\($0.problem.rawValue))" }
            sentences.append(
                "these users' e-mail addresses are no longer accepted: " + list.joined(separator: "; ") + ".")
        }
        return UserStoreError(
            .migrationConflict,
            "Schema version \(version) compares e-mail addresses by a new canonical form (IDNA A-labels, Unicode "
                + "case folding and compatibility normalisation), and "
                + sentences.joined(separator: " Also, ")
                + " The migration was not applied and nothing was changed: give these users distinct, valid "
                + "addresses (or delete all but one) with the previous version, then open the store again.")
    }
}
