import Foundation
import Logging
import UserDomain
public import UserPorts

/// The contract every user store must honour, as a list of checks that run against a fresh store each,
/// grouped by the port they are about.
///
/// Every adapter of this package runs the whole suite against a real instance (the in-memory actor, a
/// SQLite file, a PostgreSQL server), and so can the author of a new adapter. The checks state what the
/// ports document: lookups, e-mail uniqueness on the canonical form, keyset paging across concurrent inserts,
/// optimistic versions on update and delete, races (100 tasks registering one e-mail, 100 tasks renaming one
/// user: exactly one wins); events committed with the change and never without it, their delivery state,
/// dead letters, the gap-free history and the relay lease; the directory the store keeps (`DirectoryHosting`),
/// projected from that history. The directory replica itself has a contract of its own,
/// ``DirectoryReplicaContract``.
///
/// Write the adapter port by port. With only a `UserRepository`, run the repository checks:
///
/// ```swift
/// @Test(arguments: UserStoreContract.checks(for: .repository))
/// func repositoryContract(_ check: UserStoreContract.Check) async throws {
///     try await UserStoreContract(repository: { body in
///         let store = MyUserRepository()       // a fresh, empty store per check
///         try await body(store)
///         await store.close()                  // clean up, also after a failure
///     }).run(check)
/// }
/// ```
///
/// Once the store implements every port (`UserStore`) and keeps its directory (`DirectoryHosting`), run them
/// all (a store that keeps no directory runs the repository's and the outbox's):
///
/// ```swift
/// @Test(arguments: UserStoreContract.checks)
/// func contract(_ check: UserStoreContract.Check) async throws {
///     try await UserStoreContract { body in
///         let store = MyUserStore()
///         try await body(store)
///         await store.close()
///     }.run(check)
/// }
/// ```
///
/// A failed expectation throws a ``ContractViolation`` naming the check (and, for an error that was
/// expected, its case: `expected UserError.emailTaken …`); errors thrown by the store itself propagate
/// unchanged.
public struct UserStoreContract: Sendable {
    /// Gives a check a fresh, empty store and cleans up after it: it calls `body` once with the store.
    public typealias StoreProvider =
        @Sendable (_ body: @Sendable (any UserStore) async throws -> Void) async throws -> Void
    /// Gives a repository check a fresh, empty repository and cleans up after it.
    public typealias RepositoryProvider =
        @Sendable (_ body: @Sendable (any UserRepository) async throws -> Void) async throws -> Void

    /// The port a check is about; a check runs against a store that implements that port and the ones it
    /// builds on.
    public enum Port: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// `UserRepository` alone: lookups, uniqueness, versions, deletion, paging, races, batches.
        case repository
        /// The outbox's ports (`EventOutbox`) with the repository: events committed with their
        /// change, delivery, dead letters, the history, the relay lease.
        case outbox
        /// The store's directory (`DirectoryHosting`) kept by a `DirectoryProjection` of the outbox's history.
        case directory

        /// The raw value.
        public var description: String { rawValue }
    }

    /// One named check of the contract.
    public struct Check: Sendable, CustomStringConvertible {
        /// What the check shows, as a sentence.
        public let name: String
        /// The port the check is about.
        public let port: Port
        let body: @Sendable (Fixture) async throws -> Void

        /// The name.
        public var description: String { name }
    }

    private enum Provider: Sendable {
        case store(StoreProvider)
        case repository(RepositoryProvider)
    }

    private let provider: Provider

    /// Creates the suite over a provider of fresh stores that implement every port: every check can run.
    public init(provider: @escaping StoreProvider) {
        self.provider = .store(provider)
    }

    /// Creates the suite over a provider of fresh repositories: only the checks of ``Port/repository`` can
    /// run (``checks(for:)``).
    public init(repository provider: @escaping RepositoryProvider) {
        self.provider = .repository(provider)
    }

    /// Runs one check against a fresh store.
    ///
    /// - Throws: ``ContractViolation`` when the store breaks the contract (or when the check needs a port
    ///   that a repository provider can't give), or the store's own error.
    public func run(_ check: Check) async throws {
        let expect = Expectations(check: check.name)
        switch provider {
        case .store(let provider):
            try await provider { store in
                try await check.body(Fixture(repository: store, store: store, expect: expect))
            }
        case .repository(let provider):
            guard check.port == .repository else {
                throw expect.fail(
                    "a check of the \(check.port) port needs a store that implements it: "
                        + "run it with UserStoreContract(provider:)")
            }
            try await provider { repository in
                try await check.body(Fixture(repository: repository, store: nil, expect: expect))
            }
        }
    }

    /// Runs every check this suite's provider can run, each against a fresh store, and returns the
    /// failures (empty when the store passes).
    public func runAll() async -> [(check: String, error: any Error)] {
        let runnable: [Check]
        switch provider {
        case .store: runnable = Self.checks
        case .repository: runnable = Self.checks(for: .repository)
        }
        var failures: [(check: String, error: any Error)] = []
        for check in runnable {
            do {
                try await run(check)
            } catch {
                failures.append((check.name, error))
            }
        }
        return failures
    }

    /// Every check, in a stable order.
    public static let checks: [Check] =
        lookupChecks + uniquenessChecks + versionChecks + deletionChecks + outboxChecks + pagingChecks
        + concurrencyChecks + fidelityChecks + batchChecks + deliveryChecks + directoryChecks

    /// The checks of one port, in the order of ``checks``.
    public static func checks(for port: Port) -> [Check] {
        checks.filter { $0.port == port }
    }

    static func check(
        _ name: String, _ port: Port, _ body: @escaping @Sendable (Fixture) async throws -> Void
    ) -> Check {
        Check(name: name, port: port, body: body)
    }
}
