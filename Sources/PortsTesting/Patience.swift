/// How tests wait for something that is bound to happen: for the condition itself, with a safety net.
///
/// A test that waits for a fixed time, or gives up after a few seconds, fails when the machine is slow:
/// a loaded CI runner, or ThreadSanitizer's 5–15× slowdown. So waits here end when their condition holds,
/// and the limit is only a safety net against a hang: generous enough that no slow run reaches it, so
/// reaching it means the condition will never hold. A wait that reaches it returns `false`; check it with
/// `try #require(…)`, which records the failure and stops the test before it reads results that aren't there.
public enum Patience {
    /// The longest a test waits for a condition before it calls it a hang: five minutes.
    public static let safetyNet: Duration = .seconds(300)

    /// Checks `condition` every `interval` until it holds or `safetyNet` has passed.
    ///
    /// For conditions nobody signals (a file that grows, a count in another component); prefer a signal
    /// when there is one.
    ///
    /// - Returns: whether the condition held.
    public static func waitUntil(
        pollingEvery interval: Duration = .milliseconds(5), safetyNet: Duration = Patience.safetyNet,
        _ condition: () async throws -> Bool
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + safetyNet
        while true {
            if try await condition() { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: interval)
        }
    }
}
