import Foundation
import Testing

/// A requirement with a default implementation is where a forwarding type goes wrong without a compiler error:
/// a wrapper that does not implement it gets the default, not the wrapped value's own (the served relay lost its
/// batch publish that way). This reads the sources: it finds every such requirement of the ports, and checks that
/// each forwarding type (one holding `let base: any …`) of a port implements them all.
@Suite("Forwarding types implement every defaulted requirement")
struct ForwardingCompletenessTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    /// `name(label: Type, …)` for each `func` declared in `text`: the argument labels and the parameter types, so
    /// that an overload (`apply(_ event:)` beside the requirement `apply(_ events: [ … ])`) is not taken for a
    /// default.
    static func signatures(_ text: Substring) -> Set<String> {
        var found: Set<String> = []
        let regex = /func\s+(\w+)\s*(?:<[^>]*>)?\s*\(([^)]*)\)/
        for match in text.matches(of: regex) {
            let parameters = match.output.2.split(separator: ",").compactMap { parameter -> String? in
                let parts = parameter.split(separator: ":", maxSplits: 1)
                let words = parts[0].split(separator: " ").filter { !$0.isEmpty }
                guard let first = words.first, parts.count == 2 else { return nil }
                let type = parts[1].split(separator: "=")[0].split(whereSeparator: \.isWhitespace).joined(separator: " ")
                return "\(first): \(type)"
            }
            found.insert("\(match.output.1)(\(parameters.joined(separator: ", ")))")
        }
        return found
    }

    /// The body of the first `{ … }` after `start` (braces counted).
    static func body(_ text: String, after start: String.Index) -> Substring? {
        guard let open = text[start...].firstIndex(of: "{") else { return nil }
        var depth = 0
        var index = open
        while index < text.endIndex {
            if text[index] == "{" { depth += 1 }
            if text[index] == "}" {
                depth -= 1
                if depth == 0 { return text[text.index(after: open)..<index] }
            }
            index = text.index(after: index)
        }
        return nil
    }

    static func swiftFiles(_ folder: URL) -> [String] {
        let paths = FileManager.default.enumerator(atPath: folder.path)?.compactMap { $0 as? String } ?? []
        return paths.filter { $0.hasSuffix(".swift") }.compactMap {
            try? String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8)
        }
    }

    /// Protocol name → requirements that an extension of the protocol implements.
    static func defaultedRequirements() -> [String: Set<String>] {
        let files = swiftFiles(sources.appendingPathComponent("Ports"))
        var requirements: [String: Set<String>] = [:]
        var defaults: [String: Set<String>] = [:]
        for text in files {
            for match in text.matches(of: /public protocol (\w+)/) {
                if let body = body(text, after: match.range.upperBound) {
                    requirements[String(match.output.1), default: []].formUnion(signatures(body))
                }
            }
            for match in text.matches(of: /\nextension (\w+) \{/) {
                if let body = body(text, after: match.range.lowerBound) {
                    defaults[String(match.output.1), default: []].formUnion(signatures(body))
                }
            }
        }
        var result: [String: Set<String>] = [:]
        for (name, implemented) in defaults {
            let defaulted = implemented.intersection(requirements[name] ?? [])
            if !defaulted.isEmpty { result[name] = defaulted }
        }
        return result
    }

    @Test("the ports' defaulted requirements are the known ones (a new one needs every forwarding type to implement it)")
    func knownDefaults() {
        let found = Self.defaultedRequirements()
        #expect(
            found == [
                "MessagePublisher": ["publish(_: [OutboxEvent], notAfter: ContinuousClock.Instant)"],
                "UserRepository": ["insert(_: [UserChange])"],
            ],
            "defaulted requirements found: \(found)")
    }

    @Test("every forwarding type implements each defaulted requirement of the ports it conforms to")
    func forwardersImplementDefaults() {
        let defaulted = Self.defaultedRequirements()
        var forwarders = 0
        for text in Self.swiftFiles(Self.sources) where text.contains("let base: any ") {
            for match in text.matches(of: /public (?:struct|final class|actor) (\w+)(?:<[^>]*>)?\s*:\s*([^{]+)\{/) {
                let conformances = match.output.2.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                guard let body = Self.body(text, after: match.range.lowerBound) else { continue }
                let implemented = Self.signatures(body)
                forwarders += 1
                for (port, requirements) in defaulted {
                    // A store conforms through the `UserStore` and `EventOutbox` typealiases too.
                    let conforms =
                        conformances.contains(port)
                        || (port == "UserRepository" && conformances.contains("UserStore"))
                    guard conforms else { continue }
                    for requirement in requirements {
                        #expect(
                            implemented.contains(requirement),
                            "\(match.output.1) forwards \(port) but not \(requirement): it would get the default")
                    }
                }
            }
        }
        #expect(forwarders >= 1, "AnyUserStore was not found: the scan reads nothing")
    }
}
