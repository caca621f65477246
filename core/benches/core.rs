//! Speed of the hot paths: decode a bill, pay (decode → select → sign → encode), verify a payment offline,
//! check a batch-settlement voucher offline (what a server does per request on a known channel), issue and
//! verify a receipt; and the raw secp256k1 floors they are measured against.
//!
//! `cargo bench -p paywire-core --bench core` (libsecp256k1 backend, the default) and
//! `cargo bench -p paywire-core --bench core --no-default-features` (k256 only).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use paywire_core::batch;
use paywire_core::client::{Payer, Policy};
use paywire_core::credentials::{CredentialFormat, Issuer};
use paywire_core::crypto::recover_address;
use paywire_core::server::{PriceTag, PriceTagSpec, build_payment_required};
use paywire_core::verify::verify_payment;
use paywire_core::*;

const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
const NOW: u64 = 1_750_000_000;

/// Changes on every call, so no two payments (or digests) in a run are alike.
struct Counter(std::sync::atomic::AtomicU64);

impl Randomness for Counter {
    fn fill(&self, buf: &mut [u8]) -> Result<()> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_be_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = n[i % 8] ^ (i as u8);
        }
        Ok(())
    }
}

fn payer() -> Payer {
    Payer::new(
        Arc::new(LocalSigner::from_hex(KEY).unwrap()),
        Policy::default(),
        Arc::new(FixedClock(NOW)),
        Arc::new(Counter(Default::default())),
    )
}

fn bill_header() -> String {
    build_payment_required(
        2,
        ResourceInfo::new("https://api.example.com/premium-data"),
        &[PriceTag::new("$0.01", "eip155:84532", PAY_TO)],
    )
    .unwrap()
    .to_header()
}

fn benches(c: &mut Criterion) {
    let backend = if cfg!(feature = "libsecp256k1") { "libsecp256k1" } else { "k256" };
    let header = bill_header();
    let bill = PaymentRequired::from_header(&header).unwrap();
    let payer = payer();
    let signer = LocalSigner::from_hex(KEY).unwrap();

    c.bench_function("decode_bill", |b| b.iter(|| PaymentRequired::from_header(black_box(&header)).unwrap()));

    c.bench_function(&format!("pay/{backend}"), |b| {
        b.iter(|| {
            let bill = PaymentRequired::from_header(black_box(&header)).unwrap();
            payer.pay(&bill, None).unwrap().value
        })
    });

    let payments: Vec<String> = (0..256).map(|_| payer.pay(&bill, None).unwrap().value).collect();
    let mut i = 0;
    c.bench_function(&format!("verify/{backend}"), |b| {
        b.iter(|| {
            i = (i + 1) % payments.len();
            let payment = PaymentPayload::from_header(black_box(&payments[i])).unwrap();
            verify_payment(&payment, &bill.accepts[0], NOW).unwrap()
        })
    });

    // A voucher on a channel: decode the header, read the payload, check the channel is the offer's, check
    // the channel id and the voucher's signature (x402 batch-settlement, server side, known channel).
    let spec = PriceTagSpec {
        network: "eip155:84532".into(),
        pay_to: PAY_TO.into(),
        amount: Some(U256::from(1000u64)),
        asset: Some("0x036CbD53842c5426634e7929541eC2318f3dCF7e".into()),
        scheme: Some("batch-settlement".into()),
        extra: serde_json::json!({"receiverAuthorizer": PAY_TO}).as_object().cloned(),
        ..PriceTagSpec::default()
    };
    let offer =
        PriceTag::from_spec(spec).unwrap().to_requirements(2, &ResourceInfo::new("https://api.example.com/")).unwrap();
    let terms = batch::BatchOffer::resolve(&offer).unwrap();
    let channel = terms.channel(signer.address(), signer.address(), B256::ZERO);
    let id = channel.channel_id(84532);
    let vouchers: Vec<String> = (1..=256u128)
        .map(|n| {
            let voucher = batch::sign_voucher(&signer, id, n * 1000, 84532).unwrap();
            let payload = batch::BatchPayload::Voucher { channel: channel.clone(), voucher }.to_object();
            PaymentPayload::new_v2(&offer, None, payload, None).unwrap().to_header()
        })
        .collect();
    let mut v = 0;
    c.bench_function(&format!("verify_voucher/{backend}"), |b| {
        b.iter(|| {
            v = (v + 1) % vouchers.len();
            let payment = PaymentPayload::from_header(black_box(&vouchers[v])).unwrap();
            let batch::BatchPayload::Voucher { channel, voucher } =
                batch::BatchPayload::parse(payment.payload()).unwrap()
            else {
                unreachable!("a voucher payload")
            };
            terms.check_channel(&channel).unwrap();
            batch::check_voucher(&channel, &voucher, 84532).unwrap()
        })
    });

    let issuer = Issuer::local(LocalSigner::from_hex(KEY).unwrap(), CredentialFormat::Eip712);
    let trusted = [issuer.address()];
    let mut at = 0u64;
    c.bench_function(&format!("receipt_issue_verify/eip712/{backend}"), |b| {
        b.iter(|| {
            at += 1;
            let r =
                issuer.issue_receipt("https://api.example.com/premium-data", PAY_TO, "eip155:84532", None, at).unwrap();
            r.verify(&trusted).unwrap()
        })
    });
    let jws_issuer = Issuer::local(LocalSigner::from_hex(KEY).unwrap(), CredentialFormat::Jws);
    c.bench_function(&format!("receipt_issue_verify/jws/{backend}"), |b| {
        b.iter(|| {
            at += 1;
            let r = jws_issuer
                .issue_receipt("https://api.example.com/premium-data", PAY_TO, "eip155:84532", None, at)
                .unwrap();
            r.verify(&trusted).unwrap()
        })
    });

    // Floors: the signature work alone.
    let mut n = 0u64;
    c.bench_function(&format!("floor/sign_digest/{backend}"), |b| {
        b.iter(|| {
            n += 1;
            signer.sign_digest(&B256::from(U256::from(n))).unwrap()
        })
    });
    let sigs: Vec<(B256, Signature)> = (0..256u64)
        .map(|k| (B256::from(U256::from(k)), signer.sign_digest(&B256::from(U256::from(k))).unwrap()))
        .collect();
    let mut j = 0;
    c.bench_function(&format!("floor/recover_address/{backend}"), |b| {
        b.iter(|| {
            j = (j + 1) % sigs.len();
            recover_address(&sigs[j].0, &sigs[j].1).unwrap()
        })
    });
}

criterion_group!(core, benches);
criterion_main!(core);
