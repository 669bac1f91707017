public import UserDomain

/// What ``UserRepository/insert(_:)`` did with a batch of new users.
public struct BatchInsertOutcome: Sendable, Equatable {
    /// The users that could not be inserted, by their index in the batch, with the reason:
    /// `UserError.emailTaken` (a stored user, or an earlier one in the same batch, has the same canonical
    /// address) or `UserError.versionConflict` (the id exists). Nothing of theirs was written.
    public var rejected: [Int: UserError]
    /// How many users were inserted.
    public var insertedCount: Int
    /// The position of the last event committed, or `nil` when no event was: a consistency token.
    public var lastPosition: EventPosition?

    /// Creates an outcome.
    public init(rejected: [Int: UserError] = [:], insertedCount: Int = 0, lastPosition: EventPosition? = nil) {
        self.rejected = rejected
        self.insertedCount = insertedCount
        self.lastPosition = lastPosition
    }
}

extension UserRepository {
    /// Saves one registration at a time: the fallback for stores without a bulk path.
    ///
    /// Each user commits in its own transaction, so a failure of the store part-way leaves the users before
    /// it inserted (a rerun reports them as taken). The stores of this package override it with one
    /// transaction per batch.
    public func insert(_ batch: [UserChange]) async throws -> BatchInsertOutcome {
        var outcome = BatchInsertOutcome()
        for (index, change) in batch.enumerated() {
            do {
                if let position = try await save(change.user, expectedVersion: 0, events: change.events) {
                    outcome.lastPosition = position
                }
                outcome.insertedCount += 1
            } catch let error as UserError {
                switch error {
                case .emailTaken, .versionConflict: outcome.rejected[index] = error
                default: throw error
                }
            }
        }
        return outcome
    }
}
