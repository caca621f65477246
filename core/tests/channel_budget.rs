//! A batch-settlement deposit whose answer was lost, carried to another process by the channel export: that
//! process sends the same authorization again (it may still land), judged and counted against its own budget.

use std::sync::Arc;

use paywire_core::client::{Payer, Policy};
use paywire_core::money::Usd;
use paywire_core::server::{PriceTag, build_payment_required};
use paywire_core::*;

const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const NOW: u64 = 1_750_000_000;

fn bill() -> PaymentRequired {
    let mut tag = PriceTag::new("$0.001", "eip155:84532", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C");
    tag.batch = true;
    tag.extra.insert("receiverAuthorizer".into(), "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".into());
    build_payment_required(2, ResourceInfo::new("https://api.test/data"), &[tag]).unwrap()
}

fn payer(budget: Option<&str>, seed: u8) -> Payer {
    let policy = Policy { budget: budget.map(|b| Usd::parse(b).unwrap()), ..Policy::default() };
    Payer::new(
        Arc::new(LocalSigner::from_hex(KEY).unwrap()),
        policy,
        Arc::new(FixedClock(NOW)),
        Arc::new(FixedRandomness::new(vec![seed; 64])),
    )
}

fn deposit(header: &client::PaymentHeader) -> serde_json::Value {
    serde_json::Value::Object(header.payload.payload().clone())["deposit"].clone()
}

#[test]
fn an_imported_deposit_sent_again_counts_against_the_importing_payers_budget() {
    // The first process deposits a hundred requests' worth ($0.10); the answer never comes.
    let first = payer(None, 1);
    let sent = first.pay(&bill(), None).unwrap();
    assert!(deposit(&sent).is_object(), "the first payment deposits");
    assert_eq!(first.spent_usd(), Usd::parse("$0.1").unwrap());
    let exported = first.export_channels();

    // A process whose budget cannot cover that deposit refuses to send it again (and sends no other).
    let small = payer(Some("$0.05"), 2);
    small.import_channels(&exported).unwrap();
    let e = small.pay(&bill(), None).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BudgetExceeded, "{}", e.message());
    assert!(e.message().contains("sent by an earlier process"), "{}", e.message());
    assert_eq!(small.spent_usd(), Usd::parse("$0").unwrap());

    // One whose budget covers it sends the same authorization, and counts it once.
    let ample = payer(Some("$1"), 3);
    ample.import_channels(&exported).unwrap();
    let again = ample.pay(&bill(), None).unwrap();
    assert_eq!(deposit(&again), deposit(&sent), "the same deposit, not a second one");
    assert_eq!(ample.spent_usd(), Usd::parse("$0.1").unwrap());
    // Its answer is lost too: sent again once more, not counted twice.
    let third = ample.pay(&bill(), None).unwrap();
    assert_eq!(deposit(&third), deposit(&sent));
    assert_eq!(ample.spent_usd(), Usd::parse("$0.1").unwrap());

    // The process that sent it first counted it then: sending it again adds nothing.
    let resent = first.pay(&bill(), None).unwrap();
    assert_eq!(deposit(&resent), deposit(&sent));
    assert_eq!(first.spent_usd(), Usd::parse("$0.1").unwrap());
}
