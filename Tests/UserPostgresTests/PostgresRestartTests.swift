import Foundation
import Testing
import UserDomain
import UserPortsTesting
import UserPostgres
@testable import UserPorts

@Suite("PostgreSQL restart")
struct PostgresRestartTests {
    /// Runs the restart command of the second test server (`scripts/postgres-test-server.sh restart DIR SECONDS`),
    /// off the cooperative pool.
    static func restartServer(downFor seconds: Int) async throws {
        let command = try TestPostgres.environment("USERS_TEST_POSTGRES_RESTART_COMMAND") + " \(seconds)"
        // system(3) rather than Foundation.Process, whose waitUntilExit can miss the exit of a command that
        // leaves a daemon behind (pg_ctl start).
        let status: Int32 = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: system(command + " >/dev/null 2>&1 </dev/null"))
            }
        }
        #expect(status == 0, "restart command failed: \(command)")
    }

    @Test("operations during a restart fail with unavailable, nothing hangs, and work resumes with nothing lost")
    func restart() async throws {
        // A server of its own: restarting the shared one would break the tests that run alongside.
        let server = try TestPostgres.environment("USERS_TEST_POSTGRES_RESTART_URL")
        try await TestPostgres.withFreshSchema(on: server) { url in
            let store = try await PostgresUserStore.open(
                .init(url: url, acquireTimeout: .seconds(2), connectTimeout: .seconds(2), listensForCommits: true))
            let service = UserUseCases(repository: store)

            struct Outcome: Sendable {
                var committed: [UserID] = []
                var unavailable = 0
                var unexpected: [String] = []
                var slowest: Duration = .zero
                var successesAfterRestart = 0
            }
            let restarted = Locked(false)
            let loop = Task { () -> Outcome in
                var outcome = Outcome()
                var index = 0
                // Until work resumed after the restart; the deadline is only a safety net against a hang.
                let deadline = ContinuousClock.now + Patience.safetyNet
                while ContinuousClock.now < deadline {
                    if restarted.withLock({ $0 }) && outcome.successesAfterRestart >= 20 { break }
                    index += 1
                    let started = ContinuousClock.now
                    do {
                        let user = try await service.register(email: "r\(index)@example.com", displayName: "R \(index)")
                        outcome.committed.append(user.id)
                        _ = try await service.user(user.id)
                        if restarted.withLock({ $0 }) { outcome.successesAfterRestart += 1 }
                    } catch let error as UserStoreError where error.code == .unavailable {
                        outcome.unavailable += 1
                        outcome.successesAfterRestart = 0
                        try? await Task.sleep(for: .milliseconds(50))
                    } catch {
                        outcome.unexpected.append("\(error)")
                    }
                    outcome.slowest = max(outcome.slowest, ContinuousClock.now - started)
                }
                return outcome
            }
            try await Task.sleep(for: .milliseconds(500))
            try await Self.restartServer(downFor: 2)
            restarted.withLock { $0 = true }
            let outcome = await loop.value

            #expect(outcome.unexpected.isEmpty, "\(outcome.unexpected.prefix(3))")
            #expect(outcome.unavailable > 0, "the outage was not observed")
            #expect(outcome.successesAfterRestart >= 20, "work did not resume after the restart")
            // An operation may wait for the acquire timeout and one connect timeout, never more.
            #expect(outcome.slowest < .seconds(6), "slowest operation: \(outcome.slowest)")
            for id in outcome.committed {
                #expect(try await store.user(id: id) != nil, "committed user \(id) was lost")
            }
            await store.close()
        }
    }
}
