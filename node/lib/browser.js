'use strict'
// What the browser build exports: the paying side. The server side (the gate and its middleware) needs
// the Node binding for now.

const core = require('./core')
const { PaywireError } = require('./errors')
const { Payer, Policy, fromViemAccount } = require('./payer')
const { wrapFetch, settlement, payment } = require('./fetch')

module.exports = {
  VERSION: core.VERSION,
  LocalSigner: core.LocalSigner,
  PaymentRequired: core.PaymentRequired,
  PaymentRequirements: core.PaymentRequirements,
  PaymentPayload: core.PaymentPayload,
  SettleResponse: core.SettleResponse,
  PaymentHeader: core.PaymentHeader,
  PreparedPayment: core.PreparedPayment,
  PaidFetch: core.PaidFetch,
  decodeHeaderJson: core.decodeHeaderJson,
  purchaseKey: core.purchaseKey,
  readSettlement: core.readSettlement,
  statusFor: core.statusFor,
  PaywireError,
  Payer,
  Policy,
  fromViemAccount,
  wrapFetch,
  settlement,
  payment,
}
