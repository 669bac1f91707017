import Foundation
package import Logging
public import UserDomain

/// The use cases of the user domain: the commands that change users and the queries that read them.
///
/// The service is generic over its repository, so calls into the store are direct, not through an
/// existential; `any` appears only at the wiring edge. Every command loads the user, applies the domain
/// rule, and saves the new state with its events in one transaction at the version it loaded, so a
/// concurrent change makes it fail with `UserError.versionConflict` instead of being overwritten.
///
/// Commands take an optional `expectedVersion`: the version the caller last saw (an HTTP `If-Match`). When
/// given and the user has moved on, the command fails with `UserError.versionConflict` naming that version,
/// without applying anything. Without it, the command applies to the current version. Commands on one user
/// through one service (and its copies) take turns, so they do not race each other; when a change from
/// elsewhere (another service, another process) commits between a command's read and its write, the command
/// reads the user again, checks the domain's rules again on what it read, and retries (up to
/// ``maximumAttempts`` times, with a short random pause between attempts), so an unconditional command never
/// fails with a version its caller never named.
///
/// Errors: `UserError` for broken rules and refused input, `UserStoreError` from the store.
public struct UserUseCases<Repository: UserRepository>: Sendable {
    /// The store the service reads and writes: not public, so that callers can't go around the use cases
    /// (their rules, their events, their retries) to the store.
    let repository: Repository
    /// How often a command without `expectedVersion` tries to apply itself when concurrent changes keep
    /// winning; past it the command fails with `UserStoreError` code `unavailable` (retry later).
    public static var maximumAttempts: Int { 32 }
    private let clock: any WallClock
    private let identifiers: any IdentifierGenerator
    private let logger: Logger
    private let turns = UserTurns()

    /// Creates the use cases over a repository. Apps get theirs from `UserSystem` (UserAppCore), which
    /// wires them with the relay and the directory: the one way to wire the package.
    ///
    /// - Parameters:
    ///   - repository: the store.
    ///   - clock: the source of timestamps.
    ///   - identifiers: the source of new user and event ids.
    ///   - logger: where commands are logged (at `debug`); e-mail addresses are never logged.
    package init(
        repository: Repository,
        clock: any WallClock = SystemWallClock(),
        identifiers: any IdentifierGenerator = UUIDv7Generator.shared,
        logger: Logger = Logger(label: "user-domain", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.repository = repository
        self.clock = clock
        self.identifiers = identifiers
        self.logger = logger
    }

    // MARK: Commands

    /// Registers a new, active user.
    ///
    /// - Returns: the user at version 1.
    /// - Throws: `UserError.invalidEmail`, `UserError.invalidDisplayName`, `UserError.emailTaken`.
    public func register(email: String, displayName: String) async throws -> User {
        let email = try EmailAddress(email)
        let displayName = try DisplayName(displayName)
        let change = User.register(
            id: identifiers.makeUserID(), email: email, displayName: displayName, at: clock.now(),
            eventID: identifiers.makeEventID())
        ConsistencyTokens.record(try await repository.save(change.user, expectedVersion: 0, events: change.events))
        logger.debug("user registered", metadata: ["user.id": "\(change.user.id)"])
        return change.user
    }

    /// Registers many users with one store transaction (``UserRepository/insert(_:)``): the bulk path of
    /// imports.
    ///
    /// Each registration is checked on its own; one that is invalid or whose e-mail is taken (by a stored
    /// user or an earlier registration in the same call) is refused and the others are registered. Rerunning
    /// the same registrations refuses them all as taken: nothing is registered twice.
    ///
    /// - Returns: one result per registration, in order: the user at version 1, or why it was refused
    ///   (`UserError.invalidEmail`, `.invalidDisplayName`, `.emailTaken`, or `.versionConflict` expecting 0 for
    ///   an id that already exists).
    /// - Throws: `UserStoreError` when the store fails; then nothing of the batch is written by a store whose
    ///   ``UserRepository/insert(_:)`` is one transaction (the package's stores); over the default
    ///   implementation, which saves one user at a time, the users before the failure stay registered.
    public func register(_ registrations: [Registration]) async throws -> [Result<User, UserError>] {
        var results: [Result<User, UserError>] = []
        results.reserveCapacity(registrations.count)
        var changes: [UserChange] = []
        var changeIndices: [Int] = []
        let now = clock.now()
        for registration in registrations {
            do throws(UserError) {
                let change = User.register(
                    id: identifiers.makeUserID(), email: try EmailAddress(registration.email),
                    displayName: try DisplayName(registration.displayName), at: now,
                    eventID: identifiers.makeEventID())
                changeIndices.append(results.count)
                changes.append(change)
                results.append(.success(change.user))
            } catch {
                results.append(.failure(error))
            }
        }
        let outcome = try await repository.insert(changes)
        ConsistencyTokens.record(outcome.lastPosition)
        for (index, reason) in outcome.rejected {
            results[changeIndices[index]] = .failure(reason)
        }
        logger.debug(
            "users registered in bulk",
            metadata: [
                "count": "\(outcome.insertedCount)", "refused": "\(registrations.count - outcome.insertedCount)",
            ])
        return results
    }

    /// Changes a user's display name; a no-op when it is already `displayName`.
    ///
    /// - Returns: the user after the change.
    /// - Throws: `UserError.invalidDisplayName`, `.notFound`, `.versionConflict`, `.illegalTransition`
    ///   (deactivated).
    public func rename(_ id: UserID, to displayName: String, expectedVersion: Int? = nil) async throws -> User {
        let displayName = try DisplayName(displayName)
        return try await update(id, .init(expectedVersion), operation: "rename") { user, now, eventID in
            try user.renamed(to: displayName, at: now, eventID: eventID)
        }
    }

    /// Changes a user's e-mail address; a no-op when it is already spelled `email`. A change of letter case
    /// only is a real change.
    ///
    /// - Returns: the user after the change.
    /// - Throws: `UserError.invalidEmail`, `.emailTaken`, `.notFound`, `.versionConflict`,
    ///   `.illegalTransition` (deactivated).
    public func changeEmail(_ id: UserID, to email: String, expectedVersion: Int? = nil) async throws -> User {
        let email = try EmailAddress(email)
        return try await update(id, .init(expectedVersion), operation: "changeEmail") {
            user, now, eventID in
            try user.changingEmail(to: email, at: now, eventID: eventID)
        }
    }

    /// Changes the display name and the e-mail address together, in one save: both changes and their events
    /// commit atomically (the version grows by one per real change). A `nil` field is left as it is.
    ///
    /// - Returns: the user after the change; unchanged when both fields already hold the given values.
    /// - Throws: `UserError.invalidDisplayName`, `.invalidEmail` (both checked before anything is written),
    ///   `.emailTaken`, `.notFound`, `.versionConflict`, `.illegalTransition` (deactivated).
    public func update(
        _ id: UserID, displayName: String? = nil, email: String? = nil, expectedVersion: Int? = nil
    ) async throws -> User {
        try await update(id, displayName: displayName, email: email, precondition: .init(expectedVersion))
    }

    /// ``update(_:displayName:email:expectedVersion:)`` under a precondition.
    package func update(
        _ id: UserID, displayName: String? = nil, email: String? = nil, precondition: VersionPrecondition
    ) async throws -> User {
        let displayName = try displayName.map { try DisplayName($0) }
        let email = try email.map { try EmailAddress($0) }
        return try await update(id, precondition, operation: "update") { user, now, eventID in
            var events: [UserEventEnvelope] = []
            var next = user
            if let displayName {
                let change = try next.renamed(to: displayName, at: now, eventID: eventID)
                next = change.user
                events += change.events
            }
            if let email {
                let change = try next.changingEmail(
                    to: email, at: now, eventID: events.isEmpty ? eventID : identifiers.makeEventID())
                next = change.user
                events += change.events
            }
            return UserChange(user: next, events: events)
        }
    }

    /// Deactivates a user; a no-op when it is already deactivated.
    ///
    /// - Returns: the user after the change.
    /// - Throws: `UserError.notFound`, `.versionConflict`.
    public func deactivate(_ id: UserID, expectedVersion: Int? = nil) async throws -> User {
        try await deactivate(id, precondition: .init(expectedVersion))
    }

    /// ``deactivate(_:expectedVersion:)`` under a precondition.
    package func deactivate(_ id: UserID, precondition: VersionPrecondition) async throws -> User {
        try await update(id, precondition, operation: "deactivate") { user, now, eventID in
            user.deactivated(at: now, eventID: eventID)
        }
    }

    /// Reactivates a user; a no-op when it is already active.
    ///
    /// - Returns: the user after the change.
    /// - Throws: `UserError.notFound`, `.versionConflict`.
    public func reactivate(_ id: UserID, expectedVersion: Int? = nil) async throws -> User {
        try await reactivate(id, precondition: .init(expectedVersion))
    }

    /// ``reactivate(_:expectedVersion:)`` under a precondition.
    package func reactivate(_ id: UserID, precondition: VersionPrecondition) async throws -> User {
        try await update(id, precondition, operation: "reactivate") { user, now, eventID in
            user.reactivated(at: now, eventID: eventID)
        }
    }

    /// Deletes a user and frees its e-mail address.
    ///
    /// - Throws: `UserError.notFound`, `.versionConflict`.
    public func delete(_ id: UserID, expectedVersion: Int? = nil) async throws {
        try await delete(id, precondition: .init(expectedVersion))
    }

    /// ``delete(_:expectedVersion:)`` under a precondition.
    package func delete(_ id: UserID, precondition: VersionPrecondition) async throws {
        try await retryingConflicts(id) {
            let current = try await load(id, precondition)
            let change = current.deleted(at: clock.now(), eventID: identifiers.makeEventID())
            try await committing {
                try await repository.delete(id: id, expectedVersion: current.version, events: change.events)
            }
        }
        logger.debug("user deleted", metadata: ["user.id": "\(id)"])
    }

    /// Runs commands and returns their result with the consistency token of the last event they committed:
    /// pass it to a directory query (``DirectoryQueries``) to read your own writes there.
    ///
    /// ```swift
    /// let (ada, token) = try await users.withConsistencyToken { try await $0.register(email: e, displayName: n) }
    /// let found = try await directory.search(prefix: "ada", consistentWith: token)
    /// ```
    ///
    /// - Returns: the body's result, and the position of the last event committed inside it (`nil` when it
    ///   committed none: a no-op or a query).
    public func withConsistencyToken<T>(_ body: (Self) async throws -> T) async rethrows -> (
        result: T, token: EventPosition?
    ) {
        let recorder = ConsistencyTokens.Recorder()
        let result = try await ConsistencyTokens.$current.withValue(recorder) { try await body(self) }
        return (result, recorder.position)
    }

    // MARK: Queries

    /// The user with this id.
    ///
    /// - Throws: `UserError.notFound` when there is none.
    public func user(_ id: UserID) async throws -> User {
        guard let user = try await repository.user(id: id) else { throw UserError.notFound(id) }
        return user
    }

    /// The user with this e-mail address, compared without regard to letter case.
    ///
    /// - Returns: the user, or `nil` when none has it.
    /// - Throws: `UserError.invalidEmail` when `email` is not an address.
    public func user(email: String) async throws -> User? {
        try await repository.user(email: try EmailAddress(email))
    }

    /// One page of users in id order.
    ///
    /// - Parameters:
    ///   - cursor: the previous page's `nextCursor`, or `nil` for the first page.
    ///   - limit: the page size, `1...UserPage.maximumLimit`.
    /// - Throws: `UserError.invalidPageSize`.
    public func users(after cursor: PageCursor? = nil, limit: Int = 50) async throws -> UserPage {
        try UserPage.validate(limit: limit)
        return try await repository.page(after: cursor, limit: limit)
    }

    // MARK: Helpers

    /// The user, when it meets the precondition.
    private func load(_ id: UserID, _ precondition: VersionPrecondition) async throws -> User {
        guard let current = try await repository.user(id: id) else { throw UserError.notFound(id) }
        if case .oneOf(let versions) = precondition, !versions.contains(current.version) {
            throw UserError.versionConflict(id, expected: versions.first ?? 0, actual: current.version)
        }
        return current
    }

    /// Runs one read-decide-write attempt until it commits: a version conflict from the store's write (see
    /// ``committing(_:)``) means a concurrent change won between the read and the write, so the attempt runs
    /// again on what is current, and its precondition, read again, decides whether it still applies.
    private func retryingConflicts<T>(_ id: UserID, _ attempt: () async throws -> T) async throws -> T {
        await turns.begin(id)
        defer { turns.end(id) }
        var round = 0
        while true {
            round += 1
            do {
                return try await attempt()
            } catch is StaleRead {
                guard round < Self.maximumAttempts else {
                    throw UserStoreError(
                        .unavailable,
                        "User \(id) changed \(round) times while a change was applied to it; retry later.")
                }
                // Concurrent writers on one user take turns: a short random pause, growing to 32 ms.
                try await Task.sleep(for: .microseconds(Int.random(in: 0...(500 << min(round - 1, 6)))))
            }
        }
    }

    /// The store's write of an attempt: its version conflict becomes ``StaleRead``, for
    /// ``retryingConflicts(_:_:)`` to retry (a conflict found by reading is the caller's, and is not retried).
    private func committing(_ write: () async throws -> EventPosition?) async throws {
        do {
            ConsistencyTokens.record(try await write())
        } catch UserError.versionConflict {
            throw StaleRead()
        }
    }

    /// The user changed between an attempt's read and its write.
    private struct StaleRead: Error {}

    private func update(
        _ id: UserID,
        _ precondition: VersionPrecondition,
        operation: String,
        _ apply: (User, Date, UUID) throws -> UserChange
    ) async throws -> User {
        let user = try await retryingConflicts(id) {
            let current = try await load(id, precondition)
            let change = try apply(current, clock.now(), identifiers.makeEventID())
            guard !change.isNoOp else { return current }
            try await committing {
                try await repository.save(change.user, expectedVersion: current.version, events: change.events)
            }
            return change.user
        }
        logger.debug(
            "user changed", metadata: ["user.id": "\(id)", "operation": "\(operation)", "user.version": "\(user.version)"])
        return user
    }
}
