import Dispatch
import Foundation

/// The addresses a host name resolves to, for the rule that a service without API tokens binds loopback
/// only.
///
/// The rule is decided on addresses, never on the text of the name: `127.evil.example` is a name like any
/// other. Every address the name resolves to must be loopback (127.0.0.0/8, `::1`, or an IPv4-mapped
/// 127.x address), and the server then binds the numeric address that was checked, so a second lookup
/// cannot answer something else.
package struct BindAddress: Sendable, Hashable, CustomStringConvertible {
    /// The numeric form, as `getnameinfo` writes it (`127.0.0.1`, `::1`).
    package let numeric: String
    /// Whether only this machine can reach the address.
    package let isLoopback: Bool

    package var description: String { numeric }

    /// The addresses `host` resolves to, in the resolver's order; empty when it does not resolve.
    ///
    /// `getaddrinfo` can wait on DNS: it runs on a thread of Dispatch's, never on the cooperative pool.
    package static func resolve(_ host: String) async -> [BindAddress] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: resolveBlocking(host)) }
        }
    }

    private static func resolveBlocking(_ host: String) -> [BindAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [BindAddress] = []
        var entry = list
        while let info = entry {
            defer { entry = info.pointee.ai_next }
            guard let address = info.pointee.ai_addr else { continue }
            var name = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            guard
                getnameinfo(address, info.pointee.ai_addrlen, &name, socklen_t(name.count), nil, 0, NI_NUMERICHOST)
                    == 0
            else { continue }
            let numeric = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let candidate = BindAddress(numeric: numeric, isLoopback: isLoopback(address))
            if !addresses.contains(candidate) { addresses.append(candidate) }
        }
        return addresses
    }

    private static func isLoopback(_ address: UnsafePointer<sockaddr>) -> Bool {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                UInt32(bigEndian: $0.pointee.sin_addr.s_addr) >> 24 == 127
            }
        case AF_INET6:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                let bytes = withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) }
                let loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]
                let mappedPrefix: [UInt8] = Array(repeating: 0, count: 10) + [0xFF, 0xFF]
                return bytes == loopback || (Array(bytes.prefix(12)) == mappedPrefix && bytes[12] == 127)
            }
        default:
            return false
        }
    }
}
