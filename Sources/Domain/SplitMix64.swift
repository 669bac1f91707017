/// SplitMix64: a small, seeded, reproducible random number generator, for the package's randomised checks
/// (the contract suite's random commands, property tests), where a failure must replay from its seed.
/// Not for ids or anything an attacker may guess: those come from the system's generator.
package struct SplitMix64: RandomNumberGenerator {
    package var state: UInt64

    /// A generator starting at `seed`.
    package init(seed: UInt64) {
        state = seed
    }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
