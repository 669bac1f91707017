public import Foundation

/// A user: the aggregate of the domain.
///
/// A `User` is an immutable value. Its behaviour (``register(id:email:displayName:at:eventID:)``,
/// ``renamed(to:at:eventID:)``, ``changingEmail(to:at:eventID:)``, ``deactivated(at:eventID:)``,
/// ``reactivated(at:eventID:)``, ``deleted(at:eventID:)``) returns a ``UserChange``: the new state and the
/// events it caused. Every real change bumps ``version`` by one and causes exactly one event; a change to the
/// same value is a no-op with no event and no version bump.
///
/// Timestamps have millisecond precision (see `Date.epochMilliseconds`).
public struct User: Sendable, Hashable, Identifiable {
    /// The user's identity; it never changes.
    public let id: UserID
    /// The e-mail address as spelled.
    public private(set) var email: EmailAddress
    /// The name shown to others.
    public private(set) var displayName: DisplayName
    /// Active or deactivated.
    public private(set) var status: UserStatus
    /// Starts at 1 on registration and grows by one with every real change; the basis of optimistic
    /// concurrency.
    public private(set) var version: Int
    /// When the user registered.
    public let createdAt: Date
    /// When the user last changed.
    public private(set) var updatedAt: Date

    /// Re-creates a user from stored state; adapters use it to rebuild what they saved.
    ///
    /// It applies no rule (the state was valid when it was saved) beyond rounding the timestamps to
    /// milliseconds. Use ``register(id:email:displayName:at:eventID:)`` to create a new user.
    public init(
        id: UserID,
        email: EmailAddress,
        displayName: DisplayName,
        status: UserStatus,
        version: Int,
        createdAt: Date,
        updatedAt: Date
    ) {
        self.id = id
        self.email = email
        self.displayName = displayName
        self.status = status
        self.version = version
        self.createdAt = createdAt.roundedToMilliseconds
        self.updatedAt = updatedAt.roundedToMilliseconds
    }
}

/// The outcome of an operation on a ``User``: its new state and the events the operation caused.
///
/// A store saves both in one transaction. ``events`` is empty when the operation changed nothing.
public struct UserChange: Sendable, Hashable {
    /// The state after the operation; for a deletion, the last state the user had.
    public let user: User
    /// The events caused, oldest first; empty for a no-op.
    public let events: [UserEventEnvelope]

    /// Creates a change.
    public init(user: User, events: [UserEventEnvelope]) {
        self.user = user
        self.events = events
    }

    /// `true` when nothing changed: no event, no version bump.
    public var isNoOp: Bool { events.isEmpty }
}

extension User {
    /// Registers a new, active user at version 1.
    ///
    /// - Returns: the user and its ``UserEvent/registered(email:displayName:)`` event.
    public static func register(
        id: UserID,
        email: EmailAddress,
        displayName: DisplayName,
        at now: Date,
        eventID: UUID = UUID()
    ) -> UserChange {
        let user = User(
            id: id, email: email, displayName: displayName, status: .active, version: 1, createdAt: now,
            updatedAt: now)
        return UserChange(
            user: user, events: [user.envelope(.registered(email: email, displayName: displayName), eventID)])
    }

    /// Changes the display name.
    ///
    /// - Returns: a no-op when the name is already `newName`.
    /// - Throws: ``UserError/illegalTransition(_:operation:status:)`` when the user is deactivated.
    public func renamed(to newName: DisplayName, at now: Date, eventID: UUID = UUID()) throws(UserError)
        -> UserChange
    {
        guard status == .active else { throw .illegalTransition(id, operation: .rename, status: status) }
        guard newName != displayName else { return UserChange(user: self, events: []) }
        var next = bumped(at: now)
        next.displayName = newName
        return UserChange(
            user: next, events: [next.envelope(.renamed(displayName: newName, previous: displayName), eventID)])
    }

    /// Changes the e-mail address.
    ///
    /// Changing only the letter case is a real change (the spelling is what people see); the canonical form,
    /// and so uniqueness, stays the same.
    ///
    /// - Returns: a no-op when the address is already spelled `newEmail`.
    /// - Throws: ``UserError/illegalTransition(_:operation:status:)`` when the user is deactivated.
    public func changingEmail(to newEmail: EmailAddress, at now: Date, eventID: UUID = UUID()) throws(UserError)
        -> UserChange
    {
        guard status == .active else { throw .illegalTransition(id, operation: .changeEmail, status: status) }
        guard newEmail != email else { return UserChange(user: self, events: []) }
        var next = bumped(at: now)
        next.email = newEmail
        return UserChange(user: next, events: [next.envelope(.emailChanged(email: newEmail, previous: email), eventID)])
    }

    /// Switches the user off. Deactivating a deactivated user is a no-op.
    public func deactivated(at now: Date, eventID: UUID = UUID()) -> UserChange {
        guard status == .active else { return UserChange(user: self, events: []) }
        var next = bumped(at: now)
        next.status = .deactivated
        return UserChange(user: next, events: [next.envelope(.deactivated, eventID)])
    }

    /// Switches the user back on. Reactivating an active user is a no-op.
    public func reactivated(at now: Date, eventID: UUID = UUID()) -> UserChange {
        guard status == .deactivated else { return UserChange(user: self, events: []) }
        var next = bumped(at: now)
        next.status = .active
        return UserChange(user: next, events: [next.envelope(.reactivated, eventID)])
    }

    /// Removes the user, in any status.
    ///
    /// - Returns: the user's last state (one version past the current one) and its
    ///   ``UserEvent/deleted`` event; the store removes the user and commits the event.
    public func deleted(at now: Date, eventID: UUID = UUID()) -> UserChange {
        let next = bumped(at: now)
        return UserChange(user: next, events: [next.envelope(.deleted, eventID)])
    }

    private func bumped(at now: Date) -> User {
        var next = self
        next.version += 1
        next.updatedAt = now.roundedToMilliseconds
        return next
    }

    private func envelope(_ event: UserEvent, _ eventID: UUID) -> UserEventEnvelope {
        UserEventEnvelope(eventID: eventID, userID: id, userVersion: version, occurredAt: updatedAt, event: event)
    }
}
