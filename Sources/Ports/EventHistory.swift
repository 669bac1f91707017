public import Foundation

/// The event log: every committed event, published or not, in position order, for projections, backfills and
/// `users events tail`; and its retention. Published events stay until ``deletePublishedEvents(before:)``
/// trims them.
///
/// Errors: every method may throw `UserStoreError` for an infrastructure failure (code `unavailable` when the
/// store can't be reached, `closed` after the store closed); none throws a `UserError`.
public protocol EventHistory: CommitSignalling {
    /// The committed history after `position` (from the first kept event when `nil`), published or not, in
    /// position order, at most `limit`.
    ///
    /// Gap-free: it returns an event only when every lower position is either returned before it or will
    /// never commit, so a reader that checkpoints the last position it read never misses an event that
    /// committed late (PostgreSQL transactions can commit out of position order).
    func events(after position: EventPosition?, limit: Int) async throws -> [OutboxEvent]
    /// Deletes published events that occurred before `date` (the retention of the history); unpublished and
    /// dead events are kept, and so is the newest event whatever its age (so that no position is reused).
    ///
    /// - Returns: how many events were deleted.
    @discardableResult
    func deletePublishedEvents(before date: Date) async throws -> Int

    /// The highest position that ``deletePublishedEvents(before:)`` has deleted, or `nil` when the history was
    /// never trimmed. Events at or below it may be gone: a reader that starts below it (``events(after:limit:)``
    /// from a lower position, or from the start) would read an incomplete history, and should not take it for a
    /// whole one.
    func trimmedThrough() async throws -> EventPosition?
}
