import Foundation
import Synchronization
import Testing
import UserDomain
import UserInMemory
import UserPorts

/// A repository over the in-memory store that lets another change commit between a command's read and its
/// write, the number of times asked: the race an unconditional command must survive.
final class InterleavingRepository: UserRepository {
    let store = InMemoryUserStore()
    private let interleavings: Mutex<[@Sendable (InMemoryUserStore) async throws -> Void]>

    init(_ interleavings: [@Sendable (InMemoryUserStore) async throws -> Void] = []) {
        self.interleavings = Mutex(interleavings)
    }

    func interleave(_ change: @escaping @Sendable (InMemoryUserStore) async throws -> Void) {
        interleavings.withLock { $0.append(change) }
    }

    private func interleaved() async throws {
        let next = interleavings.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        try await next?(store)
    }

    func user(id: UserID) async throws -> User? { try await store.user(id: id) }
    func user(email: EmailAddress) async throws -> User? { try await store.user(email: email) }
    func page(after cursor: PageCursor?, limit: Int) async throws -> UserPage {
        try await store.page(after: cursor, limit: limit)
    }
    func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        if expectedVersion > 0 { try await interleaved() }
        return try await store.save(user, expectedVersion: expectedVersion, events: events)
    }
    func insert(_ batch: [UserChange]) async throws -> BatchInsertOutcome { try await store.insert(batch) }
    func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition? {
        try await interleaved()
        return try await store.delete(id: id, expectedVersion: expectedVersion, events: events)
    }
}

@Suite("UserUseCases: commands without an expected version")
struct UnconditionalWriteTests {
    /// Renames the user behind the service's back (a concurrent writer).
    static func concurrentRename(_ id: UserID, _ name: String) -> @Sendable (InMemoryUserStore) async throws -> Void {
        { store in
            let current = try #require(await store.user(id: id))
            let change = try current.renamed(to: try DisplayName(name), at: Date(), eventID: UUID())
            _ = try await store.save(change.user, expectedVersion: current.version, events: change.events)
        }
    }

    @Test("a concurrent change between read and write: the command reads again and applies to the new version")
    func retriedOnConflict() async throws {
        let repository = InterleavingRepository()
        let users = UserUseCases(repository: repository)
        let ada = try await users.register(email: "ada@example.com", displayName: "Ada")
        repository.interleave(Self.concurrentRename(ada.id, "Other"))
        repository.interleave(Self.concurrentRename(ada.id, "Another"))
        let renamed = try await users.rename(ada.id, to: "Countess")
        #expect(renamed.version == 4, "two concurrent renames won first; this one applied on top")
        #expect(try await users.user(ada.id).displayName.value == "Countess")

        repository.interleave(Self.concurrentRename(ada.id, "Racer"))
        try await users.delete(ada.id)
        #expect(try await repository.user(id: ada.id) == nil)
    }

    @Test("with an expected version, a concurrent change is a conflict naming the version the caller sent")
    func conditionalNotRetried() async throws {
        let repository = InterleavingRepository()
        let users = UserUseCases(repository: repository)
        let ada = try await users.register(email: "ada@example.com", displayName: "Ada")
        repository.interleave(Self.concurrentRename(ada.id, "Other"))
        await #expect(throws: UserError.versionConflict(ada.id, expected: 1, actual: 2)) {
            try await users.rename(ada.id, to: "Countess", expectedVersion: 1)
        }
    }

    @Test("the retry checks the domain's rules again: a rename that lost to a deactivation is refused")
    func rulesRechecked() async throws {
        let repository = InterleavingRepository()
        let users = UserUseCases(repository: repository)
        let ada = try await users.register(email: "ada@example.com", displayName: "Ada")
        repository.interleave { store in
            let current = try #require(await store.user(id: ada.id))
            let change = current.deactivated(at: Date(), eventID: UUID())
            _ = try await store.save(change.user, expectedVersion: current.version, events: change.events)
        }
        await #expect(throws: UserError.illegalTransition(ada.id, operation: .rename, status: .deactivated)) {
            try await users.rename(ada.id, to: "Countess")
        }
    }

    @Test("past maximumAttempts lost races the command fails as unavailable, never as a version it did not send")
    func boundedAttempts() async throws {
        let repository = InterleavingRepository()
        let users = UserUseCases(repository: repository)
        let ada = try await users.register(email: "ada@example.com", displayName: "Ada")
        for index in 0..<UserUseCases<InterleavingRepository>.maximumAttempts {
            repository.interleave(Self.concurrentRename(ada.id, "Racer \(index)"))
        }
        do {
            _ = try await users.rename(ada.id, to: "Countess")
            Issue.record("the rename should have given up")
        } catch let error as UserStoreError {
            #expect(error.code == .unavailable)
        }
    }

    @Test("50 concurrent unconditional renames of one user all apply")
    func concurrentRenames() async throws {
        let store = InMemoryUserStore()
        let users = UserUseCases(repository: store)
        let ada = try await users.register(email: "ada@example.com", displayName: "Ada")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<50 {
                group.addTask { _ = try await users.rename(ada.id, to: "Writer \(index)") }
            }
            try await group.waitForAll()
        }
        #expect(try await users.user(ada.id).version == 51)
    }
}
