import Foundation
package import UserDomain
public import UserPorts

/// The contract of a `DirectoryReplica`, as a list of checks that run against a fresh, empty replica each:
/// the version rule (the next version applied, duplicates dropped, gaps reported and never applied),
/// batches applied in order, tombstones that keep a deleted user deleted, backfill pages that overlap what the broker delivered, the
/// backfill position, search and statistics.
///
/// ```swift
/// @Test(arguments: DirectoryReplicaContract.checks)
/// func contract(_ check: DirectoryReplicaContract.Check) async throws {
///     try await DirectoryReplicaContract { body in
///         let replica = try await MyReplica.open()
///         try await body(replica)
///         await replica.close()
///     }.run(check)
/// }
/// ```
///
/// A failed expectation throws a ``ContractViolation`` naming the check.
public struct DirectoryReplicaContract: Sendable {
    /// Gives a check a fresh, empty replica and cleans up after it: it calls `body` once with the replica.
    public typealias Provider =
        @Sendable (_ body: @Sendable (any DirectoryReplica) async throws -> Void) async throws -> Void

    /// One named check of the contract.
    public struct Check: Sendable, CustomStringConvertible {
        /// What the check shows, as a sentence.
        public let name: String
        let body: @Sendable (any DirectoryReplica, Expectations) async throws -> Void

        /// The name.
        public var description: String { name }
    }

    private let provider: Provider

    /// Creates the contract over a provider of fresh replicas.
    public init(_ provider: @escaping Provider) {
        self.provider = provider
    }

    /// Runs one check against a fresh replica.
    ///
    /// - Throws: ``ContractViolation`` when an expectation fails; the replica's own errors unchanged.
    public func run(_ check: Check) async throws {
        try await provider { replica in try await check.body(replica, Expectations(check: check.name)) }
    }

    /// Every check.
    public static let checks: [Check] = [
        Check(name: "a registration then the next versions are applied") { replica, expect in
            let user = ReplicaEvents(name: "Ada")
            try expect.equal(try await replica.apply(user.registered), .applied, "the registration")
            try expect.equal(try await replica.apply(user.renamed("Ada L", version: 2)), .applied, "version 2")
            try expect.equal(try await replica.apply(user.deactivated(version: 3)), .applied, "version 3")
            try expect.equal(try await replica.appliedVersion(of: user.id), 3, "the applied version")
            let found = try await replica.search(prefix: "ada l", limit: 10)
            try expect.equal(found.map(\.id), [user.id], "the renamed user found by its new name")
            try expect.equal(found.first?.status, .deactivated, "the status")
            try expect.equal(found.first?.version, 3, "the entry's version")
        },
        Check(name: "a redelivered event is a duplicate and changes nothing") { replica, expect in
            let user = ReplicaEvents(name: "Bea")
            let rename = user.renamed("Beatrix", version: 2)
            _ = try await replica.apply(user.registered)
            _ = try await replica.apply(rename)
            try expect.equal(try await replica.apply(user.registered), .duplicate, "the registration again")
            try expect.equal(try await replica.apply(rename), .duplicate, "the rename again")
            try expect.equal(
                try await replica.search(prefix: "", limit: 10).map(\.displayName), ["Beatrix"], "the directory")
        },
        Check(name: "a gap is reported with the applied version and not applied") { replica, expect in
            let user = ReplicaEvents(name: "Cid")
            try expect.equal(
                try await replica.apply(user.renamed("Cidney", version: 2)), .gap(appliedVersion: 0),
                "version 2 before the registration")
            try expect.equal(try await replica.appliedVersion(of: user.id), nil, "nothing applied")
            _ = try await replica.apply(user.registered)
            try expect.equal(
                try await replica.apply(user.deactivated(version: 3)), .gap(appliedVersion: 1), "version 3 after 1")
            try expect.equal(try await replica.appliedVersion(of: user.id), 1, "still version 1")
            try expect.equal(try await replica.apply(user.renamed("Cidney", version: 2)), .applied, "version 2")
            try expect.equal(try await replica.apply(user.deactivated(version: 3)), .applied, "version 3 now")
        },
        Check(name: "a batch is applied in order: an event may follow its user's previous one in the batch") {
            replica, expect in
            let (a, b) = (ReplicaEvents(name: "Ida"), ReplicaEvents(name: "Jo"))
            let batch = [
                a.registered, a.renamed("Idabel", version: 2), a.registered, a.deactivated(version: 4),
                b.renamed("Joan", version: 2), b.registered, a.deactivated(version: 3),
            ]
            try expect.equal(
                try await replica.apply(batch),
                [.applied, .applied, .duplicate, .gap(appliedVersion: 2), .gap(appliedVersion: 0), .applied, .applied],
                "the outcomes, at the events' indices")
            try expect.equal(try await replica.appliedVersion(of: a.id), 3, "the first user's version")
            try expect.equal(try await replica.appliedVersion(of: b.id), 1, "the second user's version")
            try expect.equal(try await replica.apply([]), [], "an empty batch")
            try expect.equal(
                try await replica.statistics(), DirectoryStatistics(active: 1, deactivated: 1), "the counts")
        },
        Check(name: "a deleted user stays deleted: its tombstone drops older events") { replica, expect in
            let user = ReplicaEvents(name: "Dag")
            _ = try await replica.apply(user.registered)
            try expect.equal(try await replica.apply(user.deleted(version: 2)), .applied, "the deletion")
            try expect.equal(try await replica.apply(user.registered), .duplicate, "the registration redelivered")
            try expect.equal(try await replica.appliedVersion(of: user.id), 2, "the tombstone's version")
            try expect.equal(try await replica.search(prefix: "", limit: 10).count, 0, "no entry")
            try expect.equal(
                try await replica.statistics(), DirectoryStatistics(active: 0, deactivated: 0), "no count")
        },
        Check(name: "a backfill page overlapping delivered events applies each event once") { replica, expect in
            let (a, b) = (ReplicaEvents(name: "Eve"), ReplicaEvents(name: "Fay"))
            _ = try await replica.apply(a.registered)
            _ = try await replica.apply(a.renamed("Evelyn", version: 2))
            let page = [a.registered, b.registered, a.renamed("Evelyn", version: 2), b.deactivated(version: 2)]
            let result = try await replica.applyBackfill(page, reaching: EventPosition(rawValue: 4))
            try expect.equal(result, ReplicaBackfillResult(applied: 2, duplicates: 2), "the page's outcome")
            try expect.equal(try await replica.backfillPosition(), EventPosition(rawValue: 4), "the position")
            let again = try await replica.applyBackfill(page, reaching: EventPosition(rawValue: 4))
            try expect.equal(again, ReplicaBackfillResult(duplicates: 4), "the page again")
            try expect.equal(
                try await replica.statistics(), DirectoryStatistics(active: 1, deactivated: 1), "the counts")
        },
        Check(name: "the backfill position starts empty and never moves back") { replica, expect in
            try expect.equal(try await replica.backfillPosition(), nil, "a new replica's position")
            _ = try await replica.applyBackfill([], reaching: EventPosition(rawValue: 7))
            _ = try await replica.applyBackfill([], reaching: EventPosition(rawValue: 3))
            try expect.equal(try await replica.backfillPosition(), EventPosition(rawValue: 7), "the position")
        },
        Check(name: "a backfill page with a gap applies the rest and counts the gap") { replica, expect in
            let (a, b) = (ReplicaEvents(name: "Gil"), ReplicaEvents(name: "Hal"))
            let result = try await replica.applyBackfill(
                [a.renamed("Gilbert", version: 2), b.registered], reaching: EventPosition(rawValue: 9))
            try expect.equal(result, ReplicaBackfillResult(applied: 1, gaps: 1), "the page's outcome")
            try expect.equal(try await replica.appliedVersion(of: a.id), nil, "the user behind the gap")
        },
        Check(name: "search matches e-mail or name prefixes ignoring case, ordered by name then id") {
            replica, expect in
            let names = ["zed", "Amy", "amelia", "Bob"]
            for name in names { _ = try await replica.apply(ReplicaEvents(name: name).registered) }
            try expect.equal(
                try await replica.search(prefix: "AM", limit: 10).map(\.displayName), ["amelia", "Amy"],
                "prefix AM")
            try expect.equal(
                try await replica.search(prefix: "bob@", limit: 10).map(\.displayName), ["Bob"], "an e-mail prefix")
            try expect.equal(try await replica.search(prefix: "", limit: 2).count, 2, "the limit")
            try expect.equal(try await replica.search(prefix: "", limit: 10).count, 4, "everyone")
        },
        Check(name: "statistics count active and deactivated users") { replica, expect in
            let users = (0..<5).map { ReplicaEvents(name: "User \($0)") }
            for user in users { _ = try await replica.apply(user.registered) }
            _ = try await replica.apply(users[0].deactivated(version: 2))
            _ = try await replica.apply(users[1].deactivated(version: 2))
            _ = try await replica.apply(users[2].deleted(version: 2))
            try expect.equal(
                try await replica.statistics(), DirectoryStatistics(active: 2, deactivated: 2), "the counts")
        },
        Check(name: "a changed e-mail address is searched by its new value") { replica, expect in
            let user = ReplicaEvents(name: "Ivy")
            _ = try await replica.apply(user.registered)
            let new = try EmailAddress("new.ivy@example.com")
            _ = try await replica.apply(
                user.envelope(.emailChanged(email: new, previous: user.email), version: 2))
            try expect.equal(try await replica.search(prefix: "ivy@", limit: 10).count, 0, "the old address")
            try expect.equal(
                try await replica.search(prefix: "NEW.IVY", limit: 10).map(\.email), ["new.ivy@example.com"],
                "the new address")
        },
        Check(name: "a reset empties the entries, the tombstones and the backfill position") { replica, expect in
            let (a, b) = (ReplicaEvents(name: "Kai"), ReplicaEvents(name: "Lea"))
            _ = try await replica.apply([a.registered, b.registered, b.deleted(version: 2)], reaching: EventPosition(rawValue: 3))
            try await replica.reset()
            try expect.equal(try await replica.search(prefix: "", limit: 10).count, 0, "entries")
            try expect.equal(try await replica.statistics(), DirectoryStatistics(active: 0, deactivated: 0), "counts")
            try expect.isNil(try await replica.backfillPosition(), "the position")
            try expect.isNil(try await replica.appliedVersion(of: b.id), "the tombstone")
            try expect.equal(try await replica.apply(b.registered), .applied, "a registration after the reset")
        },
        Check(name: "random deliveries (duplicates, gaps, users interleaved): the replica equals each user's last state") {
            replica, expect in
            for seed: UInt64 in [1, 2, 3] {
                try await RandomDeliveries.run(seed: seed, replica: replica, expect: expect)
                try await replica.reset()
            }
        },
    ]
}

/// Random users with random histories, delivered as a broker and a backfill would: users interleaved, events
/// redelivered, later events arriving before their predecessors. Each outcome is checked against the rule, and
/// the replica, once every event came in order, against each user's last state.
enum RandomDeliveries {
    static func run(seed: UInt64, replica: any DirectoryReplica, expect: Expectations) async throws {
        var random = SplitMix64(seed: seed)
        var histories: [[UserEventEnvelope]] = []
        for index in 0..<25 {
            let user = ReplicaEvents(name: "R\(seed) \(index)")
            var events = [user.registered]
            var active = true
            for version in 2..<(2 + Int.random(in: 0..<8, using: &random)) {
                let event: UserEvent
                switch Int.random(in: 0..<10, using: &random) {
                case 0..<4: event = .renamed(displayName: try DisplayName("N\(seed) \(index) \(version)"), previous: user.name)
                case 4..<6:
                    event = .emailChanged(email: try EmailAddress("e\(seed)x\(index)x\(version)@example.com"), previous: user.email)
                case 6..<9:
                    event = active ? .deactivated : .reactivated
                    active.toggle()
                default: event = .deleted
                }
                events.append(user.envelope(event, version: version))
                if case .deleted = event { break }
            }
            histories.append(events)
        }
        var applied = Array(repeating: 0, count: histories.count)  // events applied, per user (= its version)
        var position: Int64 = 0
        while applied.indices.contains(where: { applied[$0] < histories[$0].count }) {
            var batch: [(user: Int, event: UserEventEnvelope)] = []
            var next = applied  // the next in-order event of each user, as the batch is drawn
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                let user = Int.random(in: 0..<histories.count, using: &random)
                let history = histories[user]
                let pick = Int.random(in: 0..<10, using: &random)
                if pick == 0, next[user] > 0 {
                    batch.append((user, history[Int.random(in: 0..<next[user], using: &random)]))  // a redelivery
                } else if pick == 1, next[user] + 1 < history.count {
                    // A later event before its predecessor: a gap.
                    batch.append((user, history[Int.random(in: (next[user] + 1)..<history.count, using: &random)]))
                } else if next[user] < history.count {
                    batch.append((user, history[next[user]]))
                    next[user] += 1
                }
            }
            // What the rule says of each, in order, from what was applied before the batch.
            let rule = batch.map { user, event -> ReplicaOutcome in
                let outcome = ReplicaOutcome.of(event, appliedVersion: applied[user])
                if outcome == .applied { applied[user] = event.userVersion }
                return outcome
            }
            position += Int64(batch.count)
            let backfill = Int.random(in: 0..<3, using: &random) == 0
            let outcomes = try await replica.apply(
                batch.map(\.event), reaching: backfill ? EventPosition(rawValue: position) : nil)
            try expect.equal(outcomes, rule, "seed \(seed): the outcomes of a batch")
        }
        var entries: [DirectoryEntry] = []
        for history in histories {
            try expect.equal(
                try await replica.appliedVersion(of: history[0].userID), history.count,
                "seed \(seed): a user's applied version")
            if let entry = history.reduce(nil, { DirectoryEntry.applying($1, to: $0) }) { entries.append(entry) }
        }
        let found = try await replica.search(prefix: "", limit: 1000).sorted { $0.id < $1.id }
        try expect.equal(found, entries.sorted { $0.id < $1.id }, "seed \(seed): the entries")
        let active = entries.count { $0.status == .active }
        try expect.equal(
            try await replica.statistics(), DirectoryStatistics(active: active, deactivated: entries.count - active),
            "seed \(seed): the counts")
    }
}

/// Events of one made-up user, for the replica checks and the package's replica tests.
package struct ReplicaEvents: Sendable {
    package let id = UserID(UUID())
    package let email: EmailAddress
    package let name: DisplayName
    let start = Date(timeIntervalSince1970: 1_700_000_000)

    /// A user named `name`, whose address is `email` or made of the name's letters and digits.
    package init(name: String, email: String? = nil) {
        let local = name.lowercased().filter { $0.isLetter || $0.isNumber }
        // Valid by construction: letters and digits at a fixed domain (or an address the caller chose).
        self.email = try! EmailAddress(email ?? "\(local.isEmpty ? "x" : local)@example.com")
        self.name = try! DisplayName(name)
    }

    func envelope(_ event: UserEvent, version: Int) -> UserEventEnvelope {
        UserEventEnvelope(
            eventID: UUID(), userID: id, userVersion: version, occurredAt: start.addingTimeInterval(Double(version)),
            event: event)
    }

    package var registered: UserEventEnvelope { envelope(.registered(email: email, displayName: name), version: 1) }
    package func renamed(_ new: String, version: Int) -> UserEventEnvelope {
        envelope(.renamed(displayName: try! DisplayName(new), previous: name), version: version)
    }
    package func deactivated(version: Int) -> UserEventEnvelope { envelope(.deactivated, version: version) }
    package func deleted(version: Int) -> UserEventEnvelope { envelope(.deleted, version: version) }
}
