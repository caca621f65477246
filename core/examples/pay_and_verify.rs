//! A server bills, an agent pays under a spend policy, the server checks the payment offline and builds the
//! body for its facilitator. Run: `cargo run -p paywire-core --example pay_and_verify`.

use std::sync::Arc;

use paywire_core::client::{Payer, Policy};
use paywire_core::money::Usd;
use paywire_core::server::{PriceTag, build_payment_required, check_payment, read_payment, status_for};
use paywire_core::*;

fn main() -> Result<()> {
    // Server: $0.01 in USDC on Base Sepolia, answered with HTTP 402 and this header.
    let tag = PriceTag::new("$0.01", "eip155:84532", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C");
    let bill = build_payment_required(2, ResourceInfo::new("https://api.example.com/weather"), &[tag])?;
    let challenge = bill.to_header();

    // Agent: reads the 402, pays at most $0.05 per call and $1 in all, signs with a local key.
    let received = PaymentRequired::from_response(&[("payment-required", challenge.as_str())], b"{}")?;
    let payer = Payer::new(
        Arc::new(LocalSigner::generate(&OsRandomness)?),
        Policy::default().with_max_per_payment(Some(Usd::parse("$0.05")?)).with_budget(Usd::parse("$1")?),
        Arc::new(SystemClock),
        Arc::new(OsRandomness),
    );
    let payment = payer.pay(&received, Some("GET https://api.example.com/weather"))?;
    println!("agent  {} pays {} units: {}: {}…", payer.address(), payment.amount, payment.name, &payment.value[..40]);

    // Server: reads the payment from the retried request and verifies it offline before any network call.
    let request = [(payment.name, payment.value.as_str())];
    let incoming = read_payment(&request)?
        .ok_or_else(|| Error::new(ErrorCode::InvalidPayload, "the retried request carries no payment"))?;
    match check_payment(&bill, &incoming, SystemClock.now()) {
        Ok(accepted) => {
            println!("server payment from {} is valid offline", accepted.verified.payer);
            println!("server POST /verify and /settle with {} bytes", accepted.facilitator_request().to_json().len());
        }
        Err(e) => println!("server refuses with HTTP {}: {e}", status_for(&e)),
    }
    Ok(())
}
