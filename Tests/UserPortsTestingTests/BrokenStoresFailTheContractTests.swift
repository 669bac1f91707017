import Foundation
import Testing
import UserDomain
import UserInMemory
import UserPorts
import UserPortsTesting

/// A store that forwards its reads, outbox and directory to a correct inner store: the broken stores below
/// break what they declare themselves.
protocol ForwardingOutbox: EventOutbox, DirectoryHosting {
    var inner: any UserStore { get }
}

extension ForwardingOutbox {
    func user(id: UserID) async throws -> User? { try await inner.user(id: id) }
    func user(email: EmailAddress) async throws -> User? { try await inner.user(email: email) }
    func page(after cursor: PageCursor?, limit: Int) async throws -> UserPage {
        try await inner.page(after: cursor, limit: limit)
    }
    var commitSignal: CommitSignal { inner.commitSignal }
    func unpublishedEvents(limit: Int) async throws -> [OutboxEvent] { try await inner.unpublishedEvents(limit: limit) }
    func markPublished(_ positions: [EventPosition]) async throws { try await inner.markPublished(positions) }
    func markFailed(_ position: EventPosition, reason: String, retryAt: Date?) async throws {
        try await inner.markFailed(position, reason: reason, retryAt: retryAt)
    }
    func deadEvents(limit: Int) async throws -> [OutboxEvent] { try await inner.deadEvents(limit: limit) }
    func retryDeadEvents(_ positions: [EventPosition]?) async throws -> Int {
        try await inner.retryDeadEvents(positions)
    }
    func events(after position: EventPosition?, limit: Int) async throws -> [OutboxEvent] {
        try await inner.events(after: position, limit: limit)
    }
    func outboxStatus() async throws -> OutboxStatus { try await inner.outboxStatus() }
    func deletePublishedEvents(before date: Date) async throws -> Int {
        try await inner.deletePublishedEvents(before: date)
    }
    func trimmedThrough() async throws -> EventPosition? { try await inner.trimmedThrough() }
    func acquireRelayLease(owner: String, duration: Duration) async throws -> Bool {
        try await inner.acquireRelayLease(owner: owner, duration: duration)
    }
    func releaseRelayLease(owner: String) async throws { try await inner.releaseRelayLease(owner: owner) }
    nonisolated var directoryReplica: any DirectoryReplica { (inner as! any DirectoryHosting).directoryReplica }
}

/// A store that ignores versions: the kind of bug the contract suite exists to catch.
actor VersionIgnoringStore: UserRepository, ForwardingOutbox {
    let inner: any UserStore = InMemoryUserStore()

    func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        let current = try await inner.user(id: user.id)
        return try await inner.save(user, expectedVersion: current?.version ?? 0, events: events)
    }
    func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        guard let current = try await inner.user(id: id) else { throw UserError.notFound(id) }
        return try await inner.delete(id: id, expectedVersion: current.version, events: events)
    }
}

/// A store that treats a missing user as fine: an update inserts it, a delete does nothing.
actor MissingUserTolerantStore: UserRepository, ForwardingOutbox {
    let inner: any UserStore = InMemoryUserStore()

    func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        let exists = try await inner.user(id: user.id) != nil
        return try await inner.save(user, expectedVersion: exists ? expectedVersion : 0, events: events)
    }
    func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        guard try await inner.user(id: id) != nil else { return nil }
        return try await inner.delete(id: id, expectedVersion: expectedVersion, events: events)
    }
}

/// A store whose e-mail uniqueness is case-sensitive, with a check-then-insert race.
actor CaseSensitiveStore: UserRepository, ForwardingOutbox {
    let inner: any UserStore = InMemoryUserStore()
    var emails: Set<String> = []

    func user(email: EmailAddress) async throws -> User? {
        let page = try await inner.page(after: nil, limit: UserPage.maximumLimit)
        return page.users.first { $0.email.value == email.value }
    }
    func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        if expectedVersion == 0, emails.contains(user.email.value) { throw UserError.emailTaken(user.email) }
        emails.insert(user.email.value)
        // Bypass the inner store's own (correct) uniqueness by giving it a unique canonical form.
        let disguised = User(
            id: user.id, email: try EmailAddress("\(user.id)@disguised.example"), displayName: user.displayName,
            status: user.status, version: user.version, createdAt: user.createdAt, updatedAt: user.updatedAt)
        return try await inner.save(disguised, expectedVersion: expectedVersion, events: events)
    }
    func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        try await inner.delete(id: id, expectedVersion: expectedVersion, events: events)
    }
}

/// A store that writes the change but drops its events: no outbox.
actor EventDroppingStore: UserRepository, ForwardingOutbox {
    let inner: any UserStore = InMemoryUserStore()

    func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        try await inner.save(user, expectedVersion: expectedVersion, events: [])
    }
    func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        try await inner.delete(id: id, expectedVersion: expectedVersion, events: [])
    }
}

/// A store whose directory loses e-mail changes: the read model drifts from the write model.
actor EmailChangeLosingStore: UserRepository, ForwardingOutbox {
    let inner: any UserStore = InMemoryUserStore()
    nonisolated var directoryReplica: any DirectoryReplica {
        EmailChangeLosingReplica(base: (inner as! any DirectoryHosting).directoryReplica)
    }

    func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        try await inner.save(user, expectedVersion: expectedVersion, events: events)
    }
    func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        try await inner.delete(id: id, expectedVersion: expectedVersion, events: events)
    }
}

/// A replica that says it applied an e-mail change and drops it.
struct EmailChangeLosingReplica: DirectoryReplica {
    let base: any DirectoryReplica

    func apply(_ events: [UserEventEnvelope], reaching position: EventPosition?) async throws -> [ReplicaOutcome] {
        let kept = events.filter { $0.type != "user.emailChanged" }
        let outcomes = try await base.apply(kept, reaching: position)
        var next = outcomes.makeIterator()
        return events.map { $0.type == "user.emailChanged" ? .applied : next.next()! }
    }
    func backfillPosition() async throws -> EventPosition? { try await base.backfillPosition() }
    func appliedVersion(of user: UserID) async throws -> Int? { try await base.appliedVersion(of: user) }
    func search(prefix: String, limit: Int) async throws -> [DirectoryEntry] {
        try await base.search(prefix: prefix, limit: limit)
    }
    func statistics() async throws -> DirectoryStatistics { try await base.statistics() }
    func reset() async throws { try await base.reset() }
}

@Suite("The contract suite fails broken stores")
struct BrokenStoresFailTheContractTests {
    func failedChecks(_ provider: @escaping UserStoreContract.StoreProvider) async -> Set<String> {
        let failures = await UserStoreContract(provider: provider).runAll()
        for failure in failures {
            // Every failure is the suite's own verdict, never a crash of the suite.
            #expect(failure.error is ContractViolation, "\(failure.check): \(failure.error)")
        }
        return Set(failures.map(\.check))
    }

    @Test("a store that ignores versions fails the version and race checks")
    func versionIgnoring() async {
        let failed = await failedChecks { body in try await body(VersionIgnoringStore()) }
        #expect(failed.contains("an update at a stale version is a conflict and changes nothing"))
        #expect(failed.contains("a delete at a stale version is a conflict and keeps the user"))
        #expect(failed.contains("inserting an id that exists is a version conflict"))
        #expect(failed.contains("100 tasks renaming one user at the same version: exactly one wins"))
        #expect(!failed.contains("a saved user is found by id with every field intact"))
    }

    @Test("a case-sensitive store fails the uniqueness checks")
    func caseSensitive() async {
        let failed = await failedChecks { body in try await body(CaseSensitiveStore()) }
        #expect(failed.contains("an e-mail that differs only in letter case is taken"))
        #expect(failed.contains("lookup by e-mail ignores letter case and keeps the spelling"))
        #expect(failed.contains("100 tasks registering one e-mail: exactly one wins"))
    }

    @Test("a store that drops events fails the outbox checks")
    func eventDropping() async {
        let failed = await failedChecks { body in try await body(EventDroppingStore()) }
        #expect(failed.contains("a save commits its events with the change"))
        #expect(failed.contains("every event type survives the round trip"))
        #expect(failed.contains("a delete commits its event"))
    }

    @Test("a replica that loses e-mail changes fails the replica contract")
    func emailChangeLosingReplica() async {
        let contract = DirectoryReplicaContract { body in
            try await body(EmailChangeLosingReplica(base: InMemoryDirectoryReplica()))
        }
        var failed: Set<String> = []
        for check in DirectoryReplicaContract.checks {
            do {
                try await contract.run(check)
            } catch {
                #expect(error is ContractViolation, "\(check): \(error)")
                failed.insert(check.name)
            }
        }
        #expect(failed.contains("a changed e-mail address is searched by its new value"))
        #expect(!failed.contains("a registration then the next versions are applied"))
    }

    @Test("a store whose directory loses e-mail changes fails the directory checks, the random ones included")
    func emailChangeLosing() async {
        let failed = await failedChecks { body in try await body(EmailChangeLosingStore()) }
        #expect(failed.contains("the projected directory equals the write model after every kind of change"))
        #expect(
            failed.contains(
                "random command sequences: the projection equals the write model, and a rebuild equals both"))
        #expect(!failed.contains("a saved user is found by id with every field intact"))
    }

    @Test("the correct in-memory store passes every check")
    func correctStorePasses() async {
        let failed = await failedChecks { body in try await body(InMemoryUserStore()) }
        #expect(failed.isEmpty)
    }

    @Test("a repository alone runs the repository checks; checks of the other ports say what they need")
    func repositoryOnly() async throws {
        let contract = UserStoreContract(repository: { body in try await body(RepositoryOnly()) })
        #expect(await contract.runAll().isEmpty, "the in-memory store, seen as a repository only, passes")
        let repositoryChecks = UserStoreContract.checks(for: .repository)
        #expect(repositoryChecks.count >= 15)
        #expect(
            UserStoreContract.Port.allCases.flatMap { UserStoreContract.checks(for: $0) }.count
                == UserStoreContract.checks.count)
        let outboxCheck = try #require(UserStoreContract.checks(for: .outbox).first)
        do {
            try await contract.run(outboxCheck)
            Issue.record("an outbox check can't run on a repository alone")
        } catch let violation as ContractViolation {
            #expect(violation.message.contains("needs a store that implements it"))
        }
        let failed = await UserStoreContract(repository: { body in try await body(CaseSensitiveStore()) }).runAll()
        #expect(failed.contains { $0.check == "an e-mail that differs only in letter case is taken" })
    }

    @Test("every rule of the repository port is a repository check: broken repositories fail them seen as repositories alone")
    func repositoryRulesOnARepositoryAlone() async {
        func failed(_ make: @escaping @Sendable () -> any UserRepository) async -> Set<String> {
            let failures = await UserStoreContract(repository: { body in try await body(make()) }).runAll()
            for failure in failures {
                #expect(failure.error is ContractViolation, "\(failure.check): \(failure.error)")
            }
            return Set(failures.map(\.check))
        }
        let versions = await failed { VersionIgnoringStore() }
        #expect(versions.contains("a delete at a stale version is a conflict and keeps the user"))
        #expect(versions.contains("an update at a stale version is a conflict and changes nothing"))
        #expect(versions.contains("100 tasks renaming one user at the same version: exactly one wins"))
        let missing = await failed { MissingUserTolerantStore() }
        #expect(missing.contains("an update of a missing user is not found"))
        #expect(missing.contains("a delete of a missing user is not found"))
        #expect(!missing.contains("a saved user is found by id with every field intact"))
        let unique = await failed { CaseSensitiveStore() }
        #expect(unique.contains("changing to another user's e-mail is refused and changes nothing"))
        #expect(unique.contains("a taken e-mail writes neither the row nor its event"))
        #expect(unique.contains("100 tasks registering one e-mail: exactly one wins"))
        #expect(unique.contains("two batches racing for one e-mail insert it once"))
    }

    @Test("a failed expectation shows what was found, not only what was expected")
    func foundValues() async throws {
        let failures = await UserStoreContract(provider: { body in try await body(MissingUserTolerantStore()) })
            .runAll()
        let failure = try #require(failures.first { $0.check == "an update of a missing user is not found" })
        let message = String(describing: failure.error)
        #expect(message.contains("but it succeeded") || message.contains("got"), "\(message)")
    }

    @Test("a failure names the typed error the store should have thrown")
    func namedErrors() async throws {
        let failures = await UserStoreContract(provider: { body in try await body(CaseSensitiveStore()) }).runAll()
        let failure = try #require(failures.first { $0.check == "an e-mail that differs only in letter case is taken" })
        let message = String(describing: failure.error)
        #expect(message.contains("expected UserError.emailTaken"), "\(message)")
    }
}

/// Only the repository of a correct store: what an adapter author has before the outbox.
struct RepositoryOnly: UserRepository {
    let inner = InMemoryUserStore()
    func user(id: UserID) async throws -> User? { try await inner.user(id: id) }
    func user(email: EmailAddress) async throws -> User? { try await inner.user(email: email) }
    func page(after cursor: PageCursor?, limit: Int) async throws -> UserPage {
        try await inner.page(after: cursor, limit: limit)
    }
    func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        try await inner.save(user, expectedVersion: expectedVersion, events: events)
    }
    func insert(_ batch: [UserChange]) async throws -> BatchInsertOutcome { try await inner.insert(batch) }
    func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        try await inner.delete(id: id, expectedVersion: expectedVersion, events: events)
    }
}
