import UserDomain

/// A broken expectation of the contract suite: which check, what was expected, where.
public struct ContractViolation: Error, Sendable, CustomStringConvertible {
    /// The check that failed.
    public let check: String
    /// What was expected and what happened.
    public let message: String
    /// Where in the suite the expectation is written.
    public let location: String

    /// `check: message (location)`.
    public var description: String { "\(check): \(message) (\(location))" }
}

/// The expectations a check can state; each throws a ``ContractViolation`` when it does not hold.
struct Expectations: Sendable {
    let check: String

    func fail(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> ContractViolation {
        ContractViolation(check: check, message: message, location: "\(file):\(line)")
    }

    func that(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line)
        throws
    {
        if !condition { throw fail(message(), file: file, line: line) }
    }

    func equal<T: Equatable>(
        _ actual: T, _ expected: T, _ what: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line
    ) throws {
        if actual != expected {
            throw fail("\(what()): expected \(expected), got \(actual)", file: file, line: line)
        }
    }

    /// Expects no value; a failure shows the value found.
    func isNil<T>(_ value: T?, _ what: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line)
        throws
    {
        if let value { throw fail("\(what()): expected nil, got \(value)", file: file, line: line) }
    }

    func unwrap<T>(_ value: T?, _ what: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line)
        throws -> T
    {
        guard let value else { throw fail("\(what()): expected a value, got nil", file: file, line: line) }
        return value
    }

    /// Runs `body` and expects it to throw exactly `expected`.
    func throwsError<T>(
        _ expected: UserError, _ what: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line,
        _ body: () async throws -> T
    ) async throws {
        do {
            _ = try await body()
        } catch let error as UserError {
            if error != expected {
                throw fail(
                    "\(what()): expected \(Self.named(expected)), got \(Self.named(error))", file: file, line: line)
            }
            return
        }
        throw fail("\(what()): expected \(Self.named(expected)), but it succeeded", file: file, line: line)
    }

    /// An error as `UserError.emailTaken ("The e-mail address is already registered …")`: the case an adapter
    /// must throw, then the prose.
    static func named(_ error: UserError) -> String {
        let words = error.code.split(separator: "-")
        let name = words.enumerated().map { word in
            word.offset == 0 ? String(word.element) : word.element.prefix(1).uppercased() + word.element.dropFirst()
        }.joined()
        return "UserError.\(name) (\"\(error.description)\")"
    }
}
