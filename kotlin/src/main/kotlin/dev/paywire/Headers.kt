package dev.paywire

import dev.paywire.ffi.HttpHeader

// The core reads headers as a list of (name, value) pairs (java.net.http's are read in src/jvm).

/** The headers as the core reads them, one pair per value (names in any letter case). */
fun Map<String, List<String>>.toPaywire(): List<HttpHeader> =
    flatMap { (name, values) -> values.map { HttpHeader(name, it) } }
