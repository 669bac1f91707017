import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport
import UserAppCore
import UserPorts

/// The follower's life: the first backfill, then watching the replica for a loss of its store's data and
/// rebuilding it.
extension DirectoryFollower {
    /// Waits for the queue, backfills (retrying until it succeeds), opens the handler, then watches the replica
    /// until the shutdown: when its store lost data (`UserStoreError` code `dataLost`: a Redis restarted without
    /// persistence or flushed), it closes the handler again, resets the replica and rebuilds it from the
    /// history (``isBackfilled`` is `false` meanwhile, and the directory is not served as complete).
    ///
    /// - Throws: `ConfigurationError` for `directory.events` when the first backfill is refused in a way that
    ///   retrying can't fix (``EventHistoryError/isPermanent``: 401, 403, 404); the `queueDeclared` closure's
    ///   errors. Anything else is retried.
    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await self.queueDeclared() }
        } catch is CancellationError {
            return  // shut down before the queue was there (the broker unreachable): nothing to undo
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            guard try await build() else { return }  // shut down meanwhile
            await watch()
        }
    }

    /// Backfills until it succeeds (resetting the replica first when it lost data), then opens the handler.
    ///
    /// - Returns: `false` when the service shut down first.
    private func build() async throws -> Bool {
        var failures = 0
        var losses = 0
        // After a reset, backfill from the start of the history until a backfill finished: a position written
        // meanwhile by a delivery handled before the loss (`noteDeliveries`) must not make it skip events.
        var fromStart = false
        var reported: String?  // the trimmed-history error last logged at `error`: not repeated every retry
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                if lost.withLock({ $0 }) {
                    gate.close()
                    try await replica.reset()
                    reach.withLock { $0 = (0, []) }
                    lost.withLock { $0 = false }
                    fromStart = true
                    logger.warning("directory replica reset after its store lost data; rebuilding from the history")
                }
                let result = try await backfill(fromStart: fromStart)
                fromStart = false
                guard !lost.withLock({ $0 }) else { continue }  // lost again during the backfill: reset again
                let position = try await replica.backfillPosition()?.rawValue ?? 0
                logger.info(
                    "directory backfill finished",
                    metadata: [
                        "applied": "\(result.applied)", "duplicates": "\(result.duplicates)", "gaps": "\(result.gaps)",
                        "position": "\(position)",
                    ])
                lastBackfillFailure.withLock { $0 = nil }
                gate.open()
                if lost.withLock({ $0 }) {  // noted between the check and the opening: closed again, rebuilt
                    gate.close()
                    continue
                }
                return true
            } catch let error as EventHistoryError where error.isPermanent {
                logger.error("directory backfill refused by the user service", metadata: ["error": "\(error)"])
                throw ConfigurationError(
                    key: "directory.events",
                    "\(error) Check the events URL (directory.events) and its token (DIRECTORY_EVENTS_TOKEN): retrying won't help.")
            } catch let error as UserStoreError where error.code == .dataLost {
                lost.withLock { $0 = true }
                lastBackfillFailure.withLock { $0 = "\(error)" }
                losses += 1
                if losses > 1 {  // lost again at once (another process resetting it too): not in a tight loop
                    let delay = retryDelay(after: losses - 1)
                    _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
                }
            } catch {
                failures += 1
                let delay = retryDelay(after: failures)
                if let trimmed = error as? EventHistoryError, trimmed.isTrimmed {
                    // Never ready on a history that can't make this replica whole (it would serve a directory
                    // with users missing as if complete); an operator has to act.
                    lastBackfillFailure.withLock {
                        $0 = "\(trimmed) This directory can't be made whole from the history: start it from a copy of "
                            + "another directory's database, or keep the user service's events while directories follow."
                    }
                    logger.log(
                        level: reported == "\(trimmed)" ? .debug : .error,
                        "directory backfill starts below what retention deleted; not ready",
                        metadata: ["error": "\(error)", "retry.in": "\(delay)"])
                    reported = "\(trimmed)"
                } else {
                    lastBackfillFailure.withLock { $0 = "\(error)" }
                    logger.warning(
                        "directory backfill failed; retrying", metadata: ["error": "\(error)", "retry.in": "\(delay)"])
                }
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
        return false
    }

    /// The wait after the `attempts`-th failure in a row: `retryBackoff`'s lower bound, doubling, at most its upper.
    private func retryDelay(after attempts: Int) -> Duration {
        min(retryBackoff.lowerBound * (1 << min(attempts - 1, 16)), retryBackoff.upperBound)
    }

    /// Returns when the replica's store lost data (seen by a delivery's apply, or by a look at the replica's
    /// backfill position every `lossCheckInterval`), or at the shutdown.
    private func watch() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let seen = lossSignal.generation
            if !lost.withLock({ $0 }) {
                do {
                    _ = try await replica.backfillPosition()
                } catch let error as UserStoreError where error.code == .dataLost {
                    noteLoss(error)
                } catch {
                    logger.debug("directory replica check failed", metadata: ["error": "\(error)"])
                }
            }
            if lost.withLock({ $0 }) { return }
            let (signal, interval) = (lossSignal, lossCheckInterval)
            _ = await cancelWhenGracefulShutdown { await signal.wait(after: seen, timeout: interval) }
        }
    }

    /// Closes the handler (deliveries wait, the directory is not ready) until ``run()`` rebuilt the replica.
    func noteLoss(_ error: UserStoreError) {
        let first = lost.withLock { lost in
            defer { lost = true }
            return !lost
        }
        gate.close()
        guard first else { return }
        lastBackfillFailure.withLock { $0 = "The directory's store lost data; it is being rebuilt from the history." }
        logger.error("directory replica lost data; rebuilding it from the history", metadata: ["error": "\(error)"])
        lossSignal.signal()
    }
}
