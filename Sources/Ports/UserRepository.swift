public import UserDomain

/// The store of users: the write model of the domain.
///
/// Implementations must behave identically; the contract suite in `UserPortsTesting` checks it. In
/// particular:
/// - e-mail uniqueness is case-insensitive (on `EmailAddress.canonical`) and enforced by the store itself,
///   so that two concurrent registrations of one address can't both succeed;
/// - every write is optimistic: it names the version it expects and fails without writing if the stored
///   version differs;
/// - a write and its events commit atomically: both or neither. Events become visible to ``OutboxDelivery``
///   readers only when committed.
///
/// Reads are strongly consistent: a caller always reads its own committed writes.
///
/// Besides the `UserError`s listed per method, every method may throw `UserStoreError` for infrastructure
/// failures (code `unavailable` when the store can't be reached, `closed` after it was closed).
public protocol UserRepository: Sendable {
    /// The user with this id.
    ///
    /// - Returns: the user, or `nil` when no user has this id.
    func user(id: UserID) async throws -> User?

    /// The user with this e-mail address, compared without regard to letter case.
    ///
    /// - Returns: the user, or `nil` when no user has an address with the same canonical form.
    func user(email: EmailAddress) async throws -> User?

    /// One page of users in ascending id order, starting after the cursor (from the first user when it
    /// is `nil`).
    ///
    /// Keyset paging: users inserted or removed between pages do not shift later pages. The page's
    /// `nextCursor` is `nil` on the last page, even when that page is exactly full.
    ///
    /// - Throws: `UserError.invalidPageSize` when `limit` is outside `1...UserPage.maximumLimit`.
    func page(after cursor: PageCursor?, limit: Int) async throws -> UserPage

    /// Inserts or updates a user and commits its events in the same transaction.
    ///
    /// - Parameters:
    ///   - user: the new state.
    ///   - expectedVersion: the version the stored user must have now; `0` to insert a new user.
    ///   - events: the events the change caused, oldest first, appended to the event log with the change.
    /// - Returns: the position of the last event committed, or `nil` when `events` is empty. Callers may use
    ///   it as a consistency token.
    /// - Throws:
    ///   - `UserError.emailTaken` when another user has the same canonical e-mail address;
    ///   - `UserError.versionConflict` when the stored version is not `expectedVersion` (also when
    ///     inserting an id that exists: `expected` is 0, `actual` the stored version);
    ///   - `UserError.notFound` when `expectedVersion` is above 0 and no user has this id.
    ///   Nothing is written when it throws.
    @discardableResult
    func save(_ user: User, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition?

    /// Inserts new users, each with its events, as one transaction per call: the bulk path of imports.
    ///
    /// Each change is a registration (`User.register`: version 1, inserted at expected version 0). A user
    /// that can't be inserted is skipped and reported in the outcome, and the rest commit: its e-mail is
    /// taken (by a stored user or an earlier one in the batch, compared without regard to letter case), or
    /// its id exists. Events are appended in batch order. An infrastructure failure throws and writes
    /// nothing (stores that fall back on the default implementation commit user by user).
    ///
    /// - Returns: the rejected indices with their reasons, the number inserted, the last event position.
    func insert(_ batch: [UserChange]) async throws -> BatchInsertOutcome

    /// Removes a user and commits its events in the same transaction; its e-mail address is free again.
    ///
    /// - Parameters:
    ///   - id: the user to remove.
    ///   - expectedVersion: the version the stored user must have now.
    ///   - events: the events of the deletion (a `user.deleted` event), appended to the event log.
    /// - Returns: the position of the last event committed, or `nil` when `events` is empty.
    /// - Throws: `UserError.notFound` when no user has this id; `UserError.versionConflict` when the
    ///   stored version is not `expectedVersion`. Nothing is written when it throws.
    @discardableResult
    func delete(id: UserID, expectedVersion: Int, events: [UserEventEnvelope]) async throws -> EventPosition?
}
