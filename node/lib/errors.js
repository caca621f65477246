'use strict'
// paywire's one error type, and the wrapping that turns the native layer's marked errors into it.

const MARK = '\u0001paywire:'

/**
 * paywire's error: `code` is stable and machine-readable (x402's reason string where x402 has one),
 * `message` says what was wrong and what to do, `category` groups codes, `payer` names the payer when known
 * and `refusals` lists why a payer refused each offer of a bill.
 */
class PaywireError extends Error {
  constructor(code, message, { category, payer = null, refusals = [], cause } = {}) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'PaywireError'
    this.code = code
    // The core decides every code's category; the glue never assigns one.
    this.category = category ?? categoryOf(code)
    this.payer = payer
    this.refusals = refusals
  }

  toString() {
    return `PaywireError [${this.code}]: ${this.message}`
  }
}

/** The core's category of a code (null for a code paywire does not know). */
function categoryOf(code) {
  try {
    return require('../native.js').errorCategory(code)
  } catch {
    return null
  }
}

/** A PaywireError from the fields the core gives (`{code, message, category, payer, refusals}`). */
function fromFields(d) {
  return new PaywireError(d.code, d.message, { category: d.category, payer: d.payer, refusals: d.refusals })
}

/** The PaywireError a native error carries, or the error itself when it is not paywire's. */
function fromNative(error) {
  if (error && typeof error.message === 'string' && error.message.startsWith(MARK)) {
    try {
      return fromFields(JSON.parse(error.message.slice(MARK.length)))
    } catch {
      return error
    }
  }
  // napi-rs refuses arguments of the wrong type before paywire sees them.
  if (error instanceof Error && (error.code === 'InvalidArg' || error.code === 'NumberExpected' ||
      error.code === 'StringExpected' || error.code === 'ObjectExpected' || error.code === 'ArrayExpected' ||
      error.code === 'BigintExpected' || error.code === 'FunctionExpected')) {
    return new PaywireError('invalid_argument', error.message, { cause: error })
  }
  return error
}

function guard(fn) {
  return function paywireGuarded(...args) {
    try {
      return fn.apply(this, args)
    } catch (e) {
      throw fromNative(e)
    }
  }
}

/**
 * Wraps every method, getter, static function and the constructor of a native class so they throw
 * PaywireError. napi-rs defines statics as read-only, so the export is a stand-in constructor that shares
 * the native prototype (`instanceof` holds for every instance, however it was made).
 */
function wrapClass(cls) {
  for (const name of Object.getOwnPropertyNames(cls.prototype)) {
    if (name === 'constructor') continue
    const d = Object.getOwnPropertyDescriptor(cls.prototype, name)
    if (!d?.configurable) continue
    if (typeof d.value === 'function') d.value = guard(d.value)
    if (typeof d.get === 'function') d.get = guard(d.get)
    Object.defineProperty(cls.prototype, name, d)
  }
  const Wrapped = function (...args) {
    if (!new.target) throw new TypeError(`Class constructor ${cls.name} cannot be invoked without 'new'`)
    try {
      return Reflect.construct(cls, args, cls)
    } catch (e) {
      throw fromNative(e)
    }
  }
  Object.defineProperty(Wrapped, 'name', { value: cls.name })
  Wrapped.prototype = cls.prototype
  for (const name of Object.getOwnPropertyNames(cls)) {
    if (['length', 'name', 'prototype', 'arguments', 'caller'].includes(name)) continue
    if (typeof cls[name] === 'function') Wrapped[name] = guard(cls[name].bind(cls))
  }
  return Wrapped
}

/** The native module with every export wrapped. */
function wrapModule(native) {
  const out = {}
  for (const [name, value] of Object.entries(native)) {
    if (name.startsWith('__')) continue
    if (typeof value === 'function' && /^[A-Z]/.test(name)) out[name] = wrapClass(value)
    else if (typeof value === 'function') out[name] = guard(value)
    else out[name] = value
  }
  return out
}

module.exports = { PaywireError, fromFields, fromNative, wrapModule }
