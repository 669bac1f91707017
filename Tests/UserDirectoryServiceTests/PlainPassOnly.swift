import Foundation
import Testing
import UserDirectoryService

// The same few lines live in each test target that spawns processes (test targets share no code but
// through a library, and UserPortsTesting, a library for users of the package, has no business with
// Swift Testing).

extension Trait where Self == ConditionTrait {
    /// For tests that spawn a process (`Foundation.Process`): skipped in the ThreadSanitizer pass of
    /// `scripts/test.sh`, which sets `USERS_TEST_UNDER_TSAN=1`; they run in its plain pass.
    ///
    /// ThreadSanitizer's runtime can't host them: forking with many threads alive aborts it in
    /// `ForkChildAfter`, taking the whole test process down.
    static var plainPassOnly: Self {
        .disabled(
            if: ProcessInfo.processInfo.environment["USERS_TEST_UNDER_TSAN"] == "1",
            "spawns a process, which ThreadSanitizer's runtime can't host: runs in the plain pass only")
    }
}
