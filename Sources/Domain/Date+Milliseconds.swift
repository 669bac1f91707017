public import Foundation

extension Date {
    /// Milliseconds since 1970-01-01T00:00:00Z, rounded to the nearest millisecond.
    ///
    /// Timestamps in the user domain have millisecond precision, so that every store keeps them exactly
    /// (an INTEGER in SQLite, a `timestamptz` in PostgreSQL) and a value read back equals the one saved.
    public var epochMilliseconds: Int64 {
        Int64((timeIntervalSince1970 * 1000).rounded())
    }

    /// The date at a whole number of milliseconds since 1970-01-01T00:00:00Z.
    public init(epochMilliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(epochMilliseconds) / 1000)
    }

    /// This date rounded to the nearest millisecond: the precision the domain keeps.
    public var roundedToMilliseconds: Date {
        Date(epochMilliseconds: epochMilliseconds)
    }
}
