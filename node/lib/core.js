'use strict'
// The core's types and functions (from the native module), taking headers in any of JS's shapes.

const { wrapModule } = require('./errors')
const native = wrapModule(require('../native.js'))

/** Header pairs from a fetch `Headers`, a `Map`, an array of pairs, or a plain object (Node's `req.headers`). */
function headerPairs(headers) {
  if (headers == null) return []
  const pairs = []
  const add = (name, value) => {
    if (value == null) return
    if (Array.isArray(value)) for (const v of value) pairs.push([String(name), String(v)])
    else pairs.push([String(name), String(value)])
  }
  if (typeof headers.forEach === 'function' && typeof headers.get === 'function' && !(headers instanceof Map)) {
    headers.forEach((value, name) => {
      add(name, value)
    })
  } else if (headers instanceof Map) {
    for (const [name, value] of headers) add(name, value)
  } else if (Array.isArray(headers)) {
    for (const pair of headers) add(pair[0], pair[1])
  } else if (typeof headers === 'object') {
    for (const [name, value] of Object.entries(headers)) add(name, value)
  }
  return pairs
}

const withHeaders = (fn) => (headers, ...rest) => fn(headerPairs(headers), ...rest)

const fromResponse = native.PaymentRequired.fromResponse
native.PaymentRequired.fromResponse = (headers, body) => fromResponse(headerPairs(headers), body ?? undefined)
const checkRequest = native.AccessPolicy.prototype.checkRequest
native.AccessPolicy.prototype.checkRequest = function (headers, resourceUrl, now) {
  return checkRequest.call(this, headerPairs(headers), resourceUrl, now)
}

module.exports = {
  ...native,
  readPayment: withHeaders(native.readPayment),
  readSettlement: withHeaders(native.readSettlement),
  carriesPayment: withHeaders(native.carriesPayment),
  /** The HTTP status for an error code or a `PaywireError`. */
  statusFor: (error) => native.statusFor(typeof error === 'string' ? error : error?.code),
  headerPairs,
}
